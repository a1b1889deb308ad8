"""Shelly Gen2/Gen3 energy meters (EM, 3EM, Pro 3EM, Pro EM) over the household's own MQTT broker.

The device publishes its RPC notifications on ``<prefix>/events/rpc`` (``NotifyStatus`` carries only
the components that changed, ``NotifyFullStatus`` all of them) and, with "generic status update"
on, each component's full status on ``<prefix>/status/<component>``. The energy totals (Wh) are in
``emdata:<id>`` (``total_act``, ``total_act_ret``) for three-phase meters and in ``em1data:<id>``
(``total_act_energy``, ``total_act_ret_energy``) for single-phase ones; the power (W, negative while
exporting) in ``em:<id>.total_act_power`` or ``em1:<id>.act_power``.
"""

from __future__ import annotations

import json
import math
import queue
from collections.abc import Iterator
from urllib.parse import urlparse

from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem

__all__ = ["ShellyTracker", "shelly_events"]


class ShellyTracker:
    """Merge a Shelly's notifications; yield a sample each time its energy totals arrive."""

    def __init__(self, component_id: int = 0) -> None:
        self.component_id = component_id
        self._power_w = 0

    def on_message(self, topic: str, payload: bytes) -> list[MeterSample | SourceProblem]:
        try:
            message = json.loads(payload)
        except ValueError as error:
            return [SourceProblem(BridgeReason.UNREADABLE, f"Shelly message on {topic} is not JSON: {error}")]
        if not isinstance(message, dict):
            return [SourceProblem(BridgeReason.UNREADABLE, f"Shelly message on {topic} is not an object")]
        if topic.endswith("/events/rpc"):
            if message.get("method") not in ("NotifyStatus", "NotifyFullStatus"):
                return []  # NotifyEvent and the like carry no registers
            params = message.get("params")
            if not isinstance(params, dict):
                return [SourceProblem(BridgeReason.UNREADABLE, "Shelly notification without params")]
            return self._on_components(params, params.get("ts"))
        component = topic.rsplit("/", 1)[-1]
        if "/status/" in topic and ":" in component:
            return self._on_components({component: message}, None)
        return []

    def _on_components(self, components: dict, meter_ts) -> list[MeterSample | SourceProblem]:
        index = self.component_id
        for power_component, power_field in ((f"em:{index}", "total_act_power"), (f"em1:{index}", "act_power")):
            status = components.get(power_component)
            if isinstance(status, dict) and _is_number(status.get(power_field)):
                self._power_w = round(status[power_field])
        for energy_component, consumed_field, produced_field in (
            (f"emdata:{index}", "total_act", "total_act_ret"),
            (f"em1data:{index}", "total_act_energy", "total_act_ret_energy"),
        ):
            status = components.get(energy_component)
            if not isinstance(status, dict):
                continue
            consumed, produced = status.get(consumed_field), status.get(produced_field)
            if not (_is_number(consumed) and _is_number(produced)) or consumed < 0 or produced < 0:
                return [
                    SourceProblem(
                        BridgeReason.UNREADABLE, f"{energy_component} without {consumed_field}/{produced_field} in Wh"
                    )
                ]
            # Floored: a register is never ahead of the meter.
            return [
                MeterSample(
                    consumed_wh=math.floor(consumed),
                    produced_wh=math.floor(produced),
                    power_w=self._power_w,
                    meter_ts=float(meter_ts) if _is_number(meter_ts) else None,
                    source="shelly",
                )
            ]
        return []


def _is_number(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def shelly_events(
    broker_url: str,
    prefix: str,
    component_id: int = 0,
    username: str | None = None,
    password: str | None = None,
    stop=lambda: False,
) -> Iterator[MeterSample | SourceProblem]:
    """Subscribe to a Shelly's notifications on the household's broker and yield its events."""
    import paho.mqtt.client as mqtt

    url = urlparse(broker_url)
    if url.scheme not in ("mqtt", "tcp") or not url.hostname:
        raise ValueError(f"Shelly broker URL must look like mqtt://host:port, got {broker_url!r}")
    tracker = ShellyTracker(component_id)
    inbox: queue.Queue = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if username:
        client.username_pw_set(username, password)

    def on_connect(client, userdata, flags, reason, properties):
        client.subscribe([(f"{prefix}/events/rpc", 0), (f"{prefix}/status/+", 0)])

    client.on_connect = on_connect
    client.on_message = lambda client, userdata, message: inbox.put((message.topic, message.payload))
    client.connect(url.hostname, url.port or 1883, keepalive=30)
    client.loop_start()
    try:
        while not stop():
            try:
                topic, payload = inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            yield from tracker.on_message(topic, payload)
    finally:
        client.disconnect()
        client.loop_stop()
