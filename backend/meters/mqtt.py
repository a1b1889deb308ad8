"""A paho-mqtt v2 publisher for meters: QoS 1, a bounded in-flight window."""

from __future__ import annotations

import threading
from urllib.parse import urlparse

import paho.mqtt.client as mqtt


class MeterPublisher:
    """Publishes at QoS 1 and, on close, waits until the broker acked everything."""

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
        self.client.connect(url.hostname, url.port or 1883, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            self.client.loop_stop()
            raise ConnectionError(f"no MQTT broker answered at {broker_url}")
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=False)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self._pending.append(info)
        if len(self._pending) > 10_000:
            self._drain()

    def _drain(self) -> None:
        for info in self._pending:
            info.wait_for_publish(timeout=30)
        self._pending.clear()

    def close(self) -> None:
        self._drain()
        self.client.disconnect()
        self.client.loop_stop()
