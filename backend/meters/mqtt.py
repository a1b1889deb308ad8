"""A paho-mqtt v2 publisher for meters: QoS 1, a bounded in-flight window."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt


class MeterPublisher:
    """Publishes at QoS 1 and, on close, waits until the broker acked everything.

    When the connection drops, paho's loop_start thread reconnects by itself
    and then sends every message the broker has not acknowledged, including
    those handed over while it was down (paho answers MQTT_ERR_NO_CONN for
    them but keeps them), so a broker restart loses no reading."""

    def __init__(self, broker_url: str = "mqtt://127.0.0.1:1883", client_id: str = "", max_inflight: int = 50):
        url = urlparse(broker_url)
        if url.scheme not in ("mqtt", "tcp") or not url.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port, got {broker_url!r}")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        # A small window is faster than a big one for one paho publisher (DESIGN.md).
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self.client.on_connect = lambda client, userdata, flags, reason, props: self._connected.set()
        # PUBACKs by mid: MQTTMessageInfo.wait_for_publish() raises for a message first handed over
        # while disconnected, even after it was delivered. (Set without a lock: paho calls this
        # holding its own message lock, which publish() takes too.)
        self._acked: set[int] = set()
        self.client.on_publish = lambda client, userdata, mid, reason, props: self._acked.add(mid)
        self.client.connect(url.hostname, url.port or 1883, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            self.client.loop_stop()
            raise ConnectionError(f"no MQTT broker answered at {broker_url}")
        self._pending: list[int] = []

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=False)
        # NO_CONN: queued, and sent once paho has reconnected.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise ConnectionError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self._pending.append(info.mid)
        if len(self._pending) > 10_000:
            self._drain()

    def _drain(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while any(mid not in self._acked for mid in self._pending):
            if time.monotonic() > deadline:
                unacked = sum(mid not in self._acked for mid in self._pending)
                raise TimeoutError(f"the broker acknowledged {len(self._pending) - unacked} of "
                                   f"{len(self._pending)} readings within {timeout_s:.0f} s")
            time.sleep(0.05)
        self._acked.difference_update(self._pending)  # paho reuses mids after 65,535
        self._pending.clear()

    def close(self) -> None:
        self._drain()
        self.client.disconnect()
        self.client.loop_stop()
