"""`vatio bridge ha-publish`: Vatio's prices, advice, balances and savings as Home Assistant entities.

Every ``every_s`` seconds it reads the household's outlook (``vatio_feed``: the community's public web
API and the chain) and publishes, on the household's own broker, the retained discovery configs
(``homeassistant/sensor/<node>/<object>/config``) and the entities' states (``discovery``). The configs
go out again whenever Home Assistant announces itself online on ``homeassistant/status``, as its MQTT
integration documents for a restarted Home Assistant. A read that fails publishes nothing new: the
retained states stay as they were, and the failure is logged and retried next period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from backend.bridge.discovery import (
    DISCOVERY_PREFIX,
    DiscoveryMessage,
    HouseholdOutlook,
    check_node_id,
    discovery_messages,
)
from backend.bridge.publisher import BrokerSettings
from backend.bridge.vatio_feed import FeedError

__all__ = ["HomeAssistantPublisher"]

logger = logging.getLogger(__name__)

HA_STATUS_TOPIC = f"{DISCOVERY_PREFIX}/status"


class HomeAssistantPublisher:
    """A paho client on the household's broker that publishes one household's Vatio entities."""

    def __init__(
        self, broker: BrokerSettings, node_id: str, read: Callable[[int], HouseholdOutlook], every_s: float = 60.0
    ) -> None:
        if every_s <= 0:
            raise ValueError("the publishing period must be positive")
        host, port, _ = broker.address()
        self.node_id = check_node_id(node_id)
        self.read = read
        self.every_s = every_s
        self.broker = broker
        self.connected = threading.Event()
        self.last_error: str | None = None
        self.published = 0  # periods published
        self._resend_configs = threading.Event()
        self._last: list[DiscoveryMessage] | None = None
        self.client = broker.client()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            logger.warning("%s", self.last_error)
            return
        client.subscribe(HA_STATUS_TOPIC, qos=1)
        self.last_error = None
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self.connected.clear()

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == HA_STATUS_TOPIC and message.payload == b"online":
            self._resend_configs.set()  # a restarted Home Assistant forgets non-retained discovery

    def publish_once(self, now: int | None = None) -> list[DiscoveryMessage]:
        """Read the outlook and publish configs and states; return what was published (FeedError when unread)."""
        messages = discovery_messages(self.node_id, self.read(int(time.time()) if now is None else now))
        infos = [self.client.publish(m.topic, m.payload, qos=1, retain=m.retain) for m in messages]
        for info in infos:
            info.wait_for_publish(timeout=10)
        self._last = messages
        self.published += 1
        return messages

    def _resend(self) -> None:
        for message in self._last or []:
            if message.topic.endswith("/config"):
                self.client.publish(message.topic, message.payload, qos=1, retain=True)

    def run(self, stop: threading.Event) -> None:
        """Publish every ``every_s`` seconds until ``stop`` is set."""
        next_at = time.monotonic()
        while not stop.is_set():
            if self._resend_configs.is_set():
                self._resend_configs.clear()
                self._resend()
            if time.monotonic() >= next_at and self.connected.is_set():
                next_at = time.monotonic() + self.every_s
                try:
                    self.publish_once()
                except FeedError as error:
                    self.last_error = str(error)
                    logger.warning("Vatio not read, states left as they were: %s", error)
            stop.wait(0.2)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
