"""The bridge's MQTT connection to the community broker: drains the outbox in seq order at QoS 1.

A reading leaves the outbox only when the broker has acknowledged it (PUBACK). paho keeps the
messages in flight across a reconnect and sends them again first, so the order holds; after a
bridge restart the outbox sends whatever was not acknowledged. A redelivered reading is the same
bytes under the same seq, which the oracle acknowledges again without storing it twice.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from backend.bridge.outbox import Outbox

__all__ = ["BrokerSettings", "ReadingsPublisher"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerSettings:
    url: str = "mqtt://127.0.0.1:1883"  # mqtts://host:8883 for TLS
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None  # the broker's CA, for mqtts:// with a private CA
    client_id: str = ""

    def address(self) -> tuple[str, int, bool]:
        url = urlparse(self.url)
        if url.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not url.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port or mqtts://host:port, got {self.url!r}")
        tls = url.scheme in ("mqtts", "ssl")
        return url.hostname, url.port or (8883 if tls else 1883), tls

    def client(self) -> mqtt.Client:
        """A paho v2 client with this login and, for mqtts://, TLS checked against ``ca_file`` (or the system CAs)."""
        _, _, tls = self.address()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if tls:
            client.tls_set(
                ca_certs=str(self.ca_file) if self.ca_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.reconnect_delay_set(1, 30)
        return client


class ReadingsPublisher:
    """Publish queued readings to ``topic`` in order; keep them queued until the broker acknowledged them."""

    def __init__(self, broker: BrokerSettings, topic: str, max_inflight: int = 20) -> None:
        host, port, _ = broker.address()
        self.topic = topic
        self.broker = broker
        self.max_inflight = max_inflight
        self.client = broker.client()
        self.client.max_inflight_messages_set(max_inflight)
        self._lock = threading.Lock()
        self._acked: set[int] = set()
        self._pending: dict[int, int] = {}  # seq -> paho mid
        self.connected = False
        self.last_error: str | None = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        self.connected = not reason.is_failure
        self.last_error = None if self.connected else f"broker refused the connection: {reason}"
        if self.connected:
            logger.info("connected to the broker at %s", self.broker.url)
        else:
            logger.warning("%s", self.last_error)

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self.connected = False
        if reason.is_failure:
            self.last_error = f"disconnected: {reason}"

    def _on_publish(self, client, userdata, mid, reason, properties) -> None:
        # Called by paho under its own message lock; a set add needs none of ours.
        self._acked.add(mid)

    def drain(self, outbox: Outbox) -> int:
        """Hand queued readings to paho (in order, while connected) and drop acknowledged ones; return how many."""
        with self._lock:
            for seq in sorted(self._pending):
                if self._pending[seq] in self._acked:
                    self._acked.discard(self._pending.pop(seq))
                    outbox.remove(seq)
            if not self.connected:
                return 0
            sent = 0
            for seq, payload in outbox.peek(self.max_inflight):
                if seq in self._pending:
                    continue
                info = self.client.publish(self.topic, payload, qos=1, retain=False)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    if info.rc == mqtt.MQTT_ERR_NO_CONN:
                        # paho keeps it and sends it after reconnecting: track it like any in-flight one.
                        self._pending[seq] = info.mid
                    break
                self._pending[seq] = info.mid
                sent += 1
            return sent

    def publish_status(self, topic: str, payload: bytes) -> bool:
        """Replace the bridge's retained status (QoS 1) when connected; False when it could not go out now."""
        if not self.connected:
            return False
        info = self.client.publish(topic, payload, qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
