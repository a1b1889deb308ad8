"""`vatio oracle`: the MQTT side of ingestion.

paho-mqtt v2, MQTT 5, a persistent session (clean_start=False, a session
expiry) and manual acknowledgement: a message is acked only after the batch
holding it was committed (backend.oracle.ingest). Messages are handled in
batches of up to `batch_size` or `batch_wait_s`, one transaction each. With
`share_group`, several oracle processes split the meters through an MQTT 5
shared subscription.

One thread does everything: it reads from the socket, processes a batch, acks
it, and reads again (paho's loop_read/loop_write/loop_misc). Measured here, a
separate network thread handing messages over a queue spent about a third of
the process's CPU on the handover and on fighting the worker for the GIL; the
single thread reads a batch's packets back to back instead. The broker keeps
sending meanwhile, up to the Receive Maximum this client announces (at least
two batches, so the next batch is already in the socket buffer when one is
committed; the repo's Mosquitto otherwise allows only 100 unacked messages,
which caps a batch at 100).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.oracle.ingest import Ingester, Message
from backend.oracle.parser import readings_subscription

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
KEEPALIVE_S = 30
IDLE_WAIT_S = 0.2  # how long the loop sleeps in select() when nothing is pending
RECONNECT_DELAY_S = (1.0, 30.0)  # first and largest wait between reconnection attempts
MAX_RECEIVE_MAXIMUM = 65_535  # the largest value MQTT 5 can express


class OracleService:
    def __init__(self, ingester: Ingester, broker_url: str, client_id: str, share_group: str | None = None,
                 batch_size: int = 500, batch_wait_s: float = 0.02, on_committed=None,
                 receive_maximum: int | None = None):
        url = urlparse(broker_url)
        if url.scheme not in ("mqtt", "tcp") or not url.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port, got {broker_url!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.ingester = ingester
        self.host, self.port = url.hostname, url.port or 1883
        self.subscription = readings_subscription(ingester.community, share_group)
        self.batch_size, self.batch_wait_s = batch_size, batch_wait_s
        self.receive_maximum = min(receive_maximum or 2 * batch_size, MAX_RECEIVE_MAXIMUM)
        # called with (messages, outcomes) after each commit, before the acks (live pushes, metrics)
        self.on_committed = on_committed
        self.stored = self.rejected = self.duplicates = 0
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        # (mid, qos, connection number, message) received and not yet processed; only the loop thread touches it
        self._received: list[tuple[int, int, int, Message]] = []
        self._connection = 0  # counts CONNACKs: an ack only means something on the connection that got the message
        self._thread: threading.Thread | None = None
        self._first_received_at: float | None = None  # when the oldest unprocessed message was read
        self._reconnect_delay = RECONNECT_DELAY_S[0]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self.subscribed.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._connection += 1
        # Subscribing again on every (re)connect is harmless with a kept session.
        client.subscribe(self.subscription, qos=1)

    def _on_message(self, client, userdata, message):
        self._received.append((message.mid, message.qos, self._connection,
                               Message(message.topic, message.payload, time.time())))

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = self.receive_maximum
        self.client.connect(self.host, self.port, keepalive=KEEPALIVE_S, clean_start=False, properties=properties)
        self._thread = threading.Thread(target=self._run, name="oracle-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # --- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._connected_or_reconnect():
                    continue
                batch_due = self._batch_due_at()
                now = time.monotonic()
                if batch_due is not None and (len(self._received) >= self.batch_size or now >= batch_due):
                    self._handle_batch()
                    continue
                timeout = IDLE_WAIT_S if batch_due is None else max(batch_due - now, 0.0)
                self._service_network(timeout)
        except Exception:
            log.exception("the ingest loop stopped")  # e.g. an on_committed hook failed
            raise
        finally:
            # Unacked messages come back with the session.
            self.client.disconnect()

    def _batch_due_at(self) -> float | None:
        if not self._received:
            self._first_received_at = None
            return None
        if self._first_received_at is None:
            self._first_received_at = time.monotonic()
        return self._first_received_at + self.batch_wait_s

    def _service_network(self, timeout: float) -> None:
        """Waits up to `timeout` for the socket, then reads what arrived (up to a batch) and writes what is queued."""
        sock = self.client.socket()
        if sock is None:
            return
        want_write = [sock] if self.client.want_write() else []
        try:
            readable, writable, _ = select.select([sock], want_write, [], timeout)
        except (OSError, ValueError):
            readable, writable = [sock], []  # a closed socket: loop_read reports the loss
        if readable:
            self._read_burst()
        if writable and self.client.socket() is not None:
            self.client.loop_write()
        if self.client.socket() is not None:
            self.client.loop_misc()  # keepalive pings

    def _read_burst(self) -> None:
        """Reads packets back to back while they keep coming, up to a full batch: one select() per burst."""
        while len(self._received) < self.batch_size:
            before = len(self._received)
            rc = self.client.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS or len(self._received) == before:
                return  # nothing more buffered, a packet other than PUBLISH, or the connection is gone

    def _connected_or_reconnect(self) -> bool:
        """True while paho holds a socket (connected, or CONNECT sent); otherwise one reconnection attempt."""
        if self.client.socket() is not None:
            return True
        self._received.clear()  # never acked: the broker sends them again on the new connection
        if self._stop.wait(self._reconnect_delay):
            return False
        try:
            self.client.reconnect()
            self._reconnect_delay = RECONNECT_DELAY_S[0]
            log.info("reconnected to the broker at %s:%d", self.host, self.port)
        except OSError as error:
            self._reconnect_delay = min(self._reconnect_delay * 2, RECONNECT_DELAY_S[1])
            log.warning("broker at %s:%d unreachable (%s); next attempt in %.0f s", self.host, self.port, error,
                        self._reconnect_delay)
        return False

    def _handle_batch(self) -> None:
        batch = self._received[:self.batch_size]
        del self._received[:self.batch_size]
        messages = [message for _, _, _, message in batch]
        outcomes = self._process_until_committed(messages)
        if outcomes is None:
            return  # stopping: unacked messages come back with the session
        if self.on_committed is not None:
            self.on_committed(messages, outcomes)
        for (mid, qos, connection, _), outcome in zip(batch, outcomes):
            if connection == self._connection:
                self.client.ack(mid, qos)
            self.stored += outcome.status == "stored"
            self.rejected += outcome.status == "rejected"
            self.duplicates += outcome.status == "duplicate"

    def _process_until_committed(self, messages: list[Message]):
        """Retries a batch until it commits (the database may be restarting).
        Nothing is acked meanwhile; if the process dies, the broker redelivers.
        The connection is kept alive (pings, and reads up to the receive maximum)."""
        while not self._stop.is_set():
            try:
                return self.ingester.process(messages)
            except Exception:
                log.exception("batch of %d not committed; retrying", len(messages))
                retry_at = time.monotonic() + 1.0
                while not self._stop.is_set() and time.monotonic() < retry_at:
                    if self.client.socket() is None:
                        self._stop.wait(retry_at - time.monotonic())
                    else:
                        self._service_network(min(retry_at - time.monotonic(), IDLE_WAIT_S))
        return None
