"""A paho-mqtt v2 publisher for meters: QoS 1, a bounded in-flight window; one login, or one per meter."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import paho.mqtt.client as mqtt


class MeterPublisher:
    """Publishes at QoS 1 and, on close, waits until the broker acked everything.

    When the connection drops, paho's loop_start thread reconnects by itself
    and then sends every message the broker has not acknowledged, including
    those handed over while it was down (paho answers MQTT_ERR_NO_CONN for
    them but keeps them), so a broker restart loses no reading."""

    def __init__(
        self,
        broker_url: str = "mqtt://127.0.0.1:1883",
        client_id: str = "",
        max_inflight: int = 50,
        username: str | None = None,
        password: str | None = None,
    ):
        url = urlparse(broker_url)
        if url.scheme not in ("mqtt", "tcp") or not url.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port, got {broker_url!r}")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        username, password = username or url.username, password if password is not None else url.password
        if username:
            self.client.username_pw_set(username, password)
        # A small window is faster than a big one for one paho publisher (DESIGN.md).
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self._refused: str | None = None

        def on_connect(client, userdata, flags, reason, props) -> None:
            if reason.is_failure:
                self._refused = str(reason)
            self._connected.set()

        self.client.on_connect = on_connect
        # PUBACKs by mid: MQTTMessageInfo.wait_for_publish() raises for a message first handed over
        # while disconnected, even after it was delivered. (Set without a lock: paho calls this
        # holding its own message lock, which publish() takes too.)
        self._acked: set[int] = set()
        self.client.on_publish = lambda client, userdata, mid, reason, props: self._acked.add(mid)
        self.client.connect(url.hostname, url.port or 1883, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10) or self._refused:
            self.client.loop_stop()
            host = f"{url.hostname}:{url.port or 1883}"  # never the URL's password
            raise ConnectionError(
                f"the MQTT broker at {host} refused {username or 'an anonymous client'}: {self._refused}"
                if self._refused
                else f"no MQTT broker answered at {host}"
            )
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
                raise TimeoutError(
                    f"the broker acknowledged {len(self._pending) - unacked} of "
                    f"{len(self._pending)} readings within {timeout_s:.0f} s"
                )
            time.sleep(0.05)
        self._acked.difference_update(self._pending)  # paho reuses mids after 65,535
        self._pending.clear()

    def close(self) -> None:
        self._drain()
        self.client.disconnect()
        self.client.loop_stop()


class PerMeterPublishers:
    """One MeterPublisher per meter, each logging in as its meter: the username is the address in the topic
    (EIP-55 checksummed), the password that of ``<credentials_dir>/<address>.password``, as
    `vatio meter credentials` and `vatio demo` write them. The broker's ACL then lets each meter
    publish to its own topic only (config/mosquitto.acl)."""

    def __init__(self, broker_url: str, credentials_dir: Path, max_inflight: int = 20):
        self.broker_url = broker_url
        self.credentials_dir = Path(credentials_dir)
        self.max_inflight = max_inflight
        self.publishers: dict[str, MeterPublisher] = {}

    def _publisher(self, topic: str) -> MeterPublisher:
        meter = topic.split("/")[3] if topic.count("/") == 4 else ""
        publisher = self.publishers.get(meter)
        if publisher is None:
            password_file = self.credentials_dir / f"{meter}.password"
            if not meter or not password_file.is_file():
                raise ConnectionError(
                    f"no broker password for meter {meter!r} in {self.credentials_dir} "
                    "(`vatio meter credentials ADDRESS` makes one)"
                )
            password = password_file.read_text().splitlines()[0]
            publisher = MeterPublisher(
                self.broker_url,
                client_id=f"vatio-meter-{meter.lower()}",
                max_inflight=self.max_inflight,
                username=meter,
                password=password,
            )
            self.publishers[meter] = publisher
        return publisher

    def publish(self, topic: str, payload: bytes) -> None:
        self._publisher(topic).publish(topic, payload)

    def close(self) -> None:
        for publisher in self.publishers.values():
            publisher.close()
