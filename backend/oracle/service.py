"""`vatio oracle`: the MQTT side of ingestion.

paho-mqtt v2, MQTT 5, a persistent session (clean_start=False, a session
expiry) and manual acknowledgement: a message is acked only after the batch
holding it was committed (backend.oracle.ingest). Messages are handled in
batches of up to `batch_size` or `batch_wait_s`, one transaction each. With
`share_group`, several oracle processes split the meters through an MQTT 5
shared subscription.
"""

from __future__ import annotations

import logging
import queue
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


class OracleService:
    def __init__(self, ingester: Ingester, broker_url: str, client_id: str, share_group: str | None = None,
                 batch_size: int = 500, batch_wait_s: float = 0.02, on_committed=None):
        url = urlparse(broker_url)
        if url.scheme not in ("mqtt", "tcp") or not url.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port, got {broker_url!r}")
        self.ingester = ingester
        self.host, self.port = url.hostname, url.port or 1883
        self.subscription = readings_subscription(ingester.community, share_group)
        self.batch_size, self.batch_wait_s = batch_size, batch_wait_s
        # called with (messages, outcomes) after each commit, before the acks (live pushes, metrics)
        self.on_committed = on_committed
        self.inbox: queue.Queue[tuple[int, int, Message]] = queue.Queue()
        self.stored = self.rejected = self.duplicates = 0
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5, manual_ack=True)
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self.subscribed.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        # Subscribing again on every (re)connect is harmless with a kept session.
        client.subscribe(self.subscription, qos=1)

    def _on_message(self, client, userdata, message):
        self.inbox.put((message.mid, message.qos, Message(message.topic, message.payload, time.time())))

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()
        self._worker = threading.Thread(target=self._work, name="oracle-ingest", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                first = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.batch_wait_s
            while len(batch) < self.batch_size:
                try:
                    batch.append(self.inbox.get(timeout=max(deadline - time.monotonic(), 0)))
                except queue.Empty:
                    break
            outcomes = self._process_until_committed([message for _, _, message in batch])
            if outcomes is None:
                return  # stopping: unacked messages come back with the session
            if self.on_committed is not None:
                self.on_committed([message for _, _, message in batch], outcomes)
            for (mid, qos, _), outcome in zip(batch, outcomes):
                self.client.ack(mid, qos)
                self.stored += outcome.status == "stored"
                self.rejected += outcome.status == "rejected"
                self.duplicates += outcome.status == "duplicate"

    def _process_until_committed(self, messages: list[Message]):
        """Retries a batch until it commits (the database may be restarting).
        Nothing is acked meanwhile; if the process dies, the broker redelivers."""
        while not self._stop.is_set():
            try:
                return self.ingester.process(messages)
            except Exception:
                log.exception("batch of %d not committed; retrying", len(messages))
                self._stop.wait(1.0)
        return None

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()
