"""`vatio oracle`: the MQTT side of ingestion.

paho-mqtt v2, MQTT 5, a persistent session (clean_start=False, a session
expiry) and manual acknowledgement: a message is acked only after the batch
holding it was committed (backend.oracle.ingest). Messages are handled in
batches of up to `batch_size` or `batch_wait_s`, one transaction each. With
`share_group`, several oracle processes split the meters through an MQTT 5
shared subscription.

With a `statuses` store, the same connection and login also subscribe to the
bridges' retained statuses (``vatio/<community>/meters/+/status``, never
shared: a broker sends retained messages to plain subscriptions only). A
batch's statuses are routed by topic to that store, in their own transaction,
and never reach the readings ingester; they are acked after their commit too.

One thread does everything: it reads from the socket, processes a batch, acks
it, and reads again (paho's loop_read/loop_write/loop_misc). Measured here, a
separate network thread handing messages over a queue spent about a third of
the process's CPU on the handover and on fighting the worker for the GIL; the
single thread reads a batch's packets back to back instead. The broker keeps
sending meanwhile, up to the Receive Maximum this client announces (at least
two batches, so the next batch is already in the socket buffer when one is
committed; the repo's Mosquitto otherwise allows only 100 unacked messages,
which caps a batch at 100).

The client is paho's with a leaner receive path (`_ReadingsClient`). Measured
here, paho's own receive path cost about 40 us of CPU per readings message
(of about 145 us in all, 35 of them the signature recovery), most of it an
MQTT 5 Properties object built and cleared for every PUBLISH; the lean path
costs about 6 us.
"""

from __future__ import annotations

import logging
import select
import struct
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlparse

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.oracle.ingest import Ingester, Message
from backend.protocol.topics import is_status_topic, readings_subscription, status_subscription

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
KEEPALIVE_S = 30
IDLE_WAIT_S = 0.2  # how long the loop sleeps in select() when nothing is pending
RECONNECT_DELAY_S = (1.0, 30.0)  # first and largest wait between reconnection attempts
MAX_RECEIVE_MAXIMUM = 65_535  # the largest value MQTT 5 can express
RECV_CHUNK_BYTES = 64 * 1024  # what one recv() asks the socket for
# _ReadingsClient overrides private methods of this paho minor (pyproject pins it): another
# release may change them, so the oracle refuses to start on one instead of misreading packets.
PAHO_MINOR = (2, 2)
if tuple(int(part) for part in paho.mqtt.__version__.split(".")[:2]) != PAHO_MINOR:
    raise ImportError(
        f"backend.oracle.service needs paho-mqtt {PAHO_MINOR[0]}.{PAHO_MINOR[1]}.x "
        f"(its receive path overrides paho's private methods); found {paho.mqtt.__version__}"
    )
# A PUBACK: type, remaining length 2, packet id (MQTT 5 omits a success reason code and empty properties).
_PUBACK = struct.Struct("!BBH")


class _ReadingsClient(mqtt.Client):
    """A paho v2 client that reads the oracle's stream of QoS 1 readings cheaply.

    Three costs of paho's receive path go, and only these:
      * paho reads each packet with three or four recv() calls (type byte,
        each length byte, body); here one recv() takes what the socket holds
        and paho's reads are served from that buffer;
      * paho builds an MQTT 5 Properties object per PUBLISH, which costs more
        than the rest of the decoding; a QoS 1 PUBLISH that carries no
        properties is decoded here and handed to ``on_reading(mid, topic,
        payload)`` without a Properties or MQTTMessage object;
      * paho writes one PUBACK per ack() call; `ack_all` writes a batch's in one.
    Every other packet, and a PUBLISH with properties, another QoS or a topic
    that is not UTF-8, goes through paho's own code and ``on_message``.

    Only ``loop_read``/``loop_write``/``loop_misc`` may drive it (no
    loop_start): `buffered` tells the caller that bytes wait here while
    select() sees none on the socket.

    It overrides two private methods of paho 2.2 (PAHO_MINOR) (``_sock_recv``,
    ``_handle_publish``) and queues through a third (``_packet_queue``);
    tests/backend/oracle/test_service.py feeds it hand-made packets of every
    shape, so a paho release that changes them fails there, not in production.
    """

    def __init__(self, *args, on_reading: Callable[[int, str, bytes], None], **kwargs):
        super().__init__(*args, **kwargs)
        self.on_reading = on_reading
        self._recv_buffer = b""
        self._recv_pos = 0
        self._recv_socket = None  # the socket the buffered bytes came from

    def buffered(self) -> bool:
        """True while received bytes wait to be decoded."""
        return self._recv_pos < len(self._recv_buffer) and self._recv_socket is self._sock

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._recv_socket is not self._sock or self._recv_pos >= len(self._recv_buffer):
            # Empty, or left from a lost connection: ask the socket. paho's errors and its b"" at EOF pass through.
            self._recv_buffer, self._recv_pos = b"", 0
            chunk = super()._sock_recv(max(bufsize, RECV_CHUNK_BYTES))
            self._recv_socket = self._sock
            if len(chunk) <= bufsize:
                return chunk
            self._recv_buffer = chunk
        start = self._recv_pos
        self._recv_pos = min(start + bufsize, len(self._recv_buffer))
        return self._recv_buffer[start : self._recv_pos]

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        command, packet = self._in_packet["command"], self._in_packet["packet"]
        # MQTT 5 (a properties field follows the packet id), QoS 1, acked by the caller:
        if self._protocol == mqtt.MQTTv5 and command & 0x06 == 0x02 and self._manual_ack and len(packet) >= 2:
            topic_end = 2 + (packet[0] << 8 | packet[1])
            # After the topic: the packet id, then the properties' length; 0 is none.
            if len(packet) > topic_end + 2 and packet[topic_end + 2] == 0:
                try:
                    topic = packet[2:topic_end].decode("utf-8")
                except UnicodeDecodeError:
                    return super()._handle_publish()
                self.on_reading(packet[topic_end] << 8 | packet[topic_end + 1], topic, bytes(packet[topic_end + 3 :]))
                return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._handle_publish()

    def ack_all(self, mids: Iterable[int]) -> mqtt.MQTTErrorCode:
        """Acknowledge QoS 1 messages: their PUBACKs (success, no properties) leave in one write."""
        acks = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
        if not acks:
            return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._packet_queue(mqtt.PUBACK, acks, 0, 0)


class OracleService:
    def __init__(
        self,
        ingester: Ingester,
        broker_url: str,
        client_id: str,
        share_group: str | None = None,
        batch_size: int = 500,
        batch_wait_s: float = 0.02,
        on_committed=None,
        receive_maximum: int | None = None,
        username: str | None = None,
        password: str | None = None,
        statuses=None,
        on_statuses=None,
    ):
        url = urlparse(broker_url)
        if url.scheme not in ("mqtt", "tcp") or not url.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port, got {broker_url!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.ingester = ingester
        self.host, self.port = url.hostname, url.port or 1883
        self.subscription = readings_subscription(ingester.community, share_group)
        # a BridgeStatusStore (backend.oracle.bridge_status), or None: no status subscription
        self.statuses = statuses
        self.status_subscription = status_subscription(ingester.community) if statuses is not None else None
        # called with the stored status rows after their commit (the live push)
        self.on_statuses = on_statuses
        self.batch_size, self.batch_wait_s = batch_size, batch_wait_s
        self.receive_maximum = min(receive_maximum or 2 * batch_size, MAX_RECEIVE_MAXIMUM)
        # called with (messages, outcomes) after each commit, before the acks (live pushes, metrics)
        self.on_committed = on_committed
        self.stored = self.rejected = self.duplicates = 0
        self.statuses_stored = 0
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        # (mid, qos, connection number, message) received and not yet processed; only the loop thread touches it
        self._received: list[tuple[int, int, int, Message]] = []
        self._connection = 0  # counts CONNACKs: an ack only means something on the connection that got the message
        self._thread: threading.Thread | None = None
        self._first_received_at: float | None = None  # when the oldest unprocessed message was read
        self._reconnect_delay = RECONNECT_DELAY_S[0]
        self.client = _ReadingsClient(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
            on_reading=self._on_reading,
        )
        # A broker with an ACL (config/mosquitto.acl) knows the oracle as a user; the URL may carry it too.
        username, password = username or url.username, password if password is not None else url.password
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._connection += 1
        # Subscribing again on every (re)connect is harmless with a kept session.
        if self.status_subscription is None:
            client.subscribe(self.subscription, qos=1)
        else:
            client.subscribe([(self.subscription, 1), (self.status_subscription, 1)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            topics = ", ".join(filter(None, (self.subscription, self.status_subscription)))
            log.error(
                "the broker refused the subscription to %s (%s): does its ACL let this user read it?",
                topics,
                ", ".join(refused),
            )
        self.subscribed.set()

    def _on_message(self, client, userdata, message):
        """A message paho decoded itself (one with properties, or not QoS 1)."""
        self._received.append(
            (message.mid, message.qos, self._connection, Message(message.topic, message.payload, time.time()))
        )

    def _on_reading(self, mid: int, topic: str, payload: bytes) -> None:
        """A QoS 1 message without properties, decoded by _ReadingsClient."""
        self._received.append((mid, 1, self._connection, Message(topic, payload, time.time())))

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
        if self.client.buffered():
            timeout = 0.0  # read bytes wait in the client, where select() cannot see them
        want_write = [sock] if self.client.want_write() else []
        try:
            readable, writable, _ = select.select([sock], want_write, [], timeout)
        except (OSError, ValueError):
            readable, writable = [sock], []  # a closed socket: loop_read reports the loss
        if readable or self.client.buffered():
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
            log.warning(
                "broker at %s:%d unreachable (%s); next attempt in %.0f s",
                self.host,
                self.port,
                error,
                self._reconnect_delay,
            )
        return False

    def _handle_batch(self) -> None:
        batch = self._received[: self.batch_size]
        del self._received[: self.batch_size]
        messages, statuses = [], []
        for _, _, _, message in batch:
            (statuses if self.statuses is not None and is_status_topic(message.topic) else messages).append(message)
        outcomes = self._process_until_committed(self.ingester.process, messages) if messages else []
        status_outcomes = self._process_until_committed(self.statuses.process, statuses) if statuses else []
        if outcomes is None or status_outcomes is None:
            return  # stopping: unacked messages come back with the session
        if self.on_committed is not None and messages:
            self.on_committed(messages, outcomes)
        stored_statuses = [outcome.row for outcome in status_outcomes if outcome.row is not None]
        self.statuses_stored += len(stored_statuses)
        if self.on_statuses is not None and stored_statuses:
            self.on_statuses(stored_statuses)
        # Only on the connection that delivered them; QoS 1 acks leave in one write.
        self.client.ack_all([mid for mid, qos, connection, _ in batch if connection == self._connection and qos == 1])
        for mid, qos, connection, _ in batch:
            if connection == self._connection and qos != 1:
                self.client.ack(mid, qos)
        for outcome in outcomes:
            self.stored += outcome.status == "stored"
            self.rejected += outcome.status == "rejected"
            self.duplicates += outcome.status == "duplicate"

    def _process_until_committed(self, process, messages: list[Message]):
        """Retries `process(messages)` until it commits (the database may be restarting).
        Nothing is acked meanwhile; if the process dies, the broker redelivers.
        The connection is kept alive (pings, and reads up to the receive maximum)."""
        while not self._stop.is_set():
            try:
                return process(messages)
            except Exception:
                log.exception("batch of %d not committed; retrying", len(messages))
                retry_at = time.monotonic() + 1.0
                while not self._stop.is_set() and time.monotonic() < retry_at:
                    if self.client.socket() is None:
                        self._stop.wait(retry_at - time.monotonic())
                    else:
                        self._service_network(min(retry_at - time.monotonic(), IDLE_WAIT_S))
        return None
