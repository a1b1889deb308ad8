"""Home Assistant energy sensors (``state_class: total_increasing``, kWh or Wh) through its REST API.

``GET <url>/api/states/<entity_id>`` with ``Authorization: Bearer <long-lived token>`` returns the
sensor's state (a string) and attributes. The import sensor is required; an export sensor and a
power sensor (W or kW) are optional. Units are converted to whole Wh and pinned: a sensor whose unit
or scale changes is refused (``unit_changed``) until the bridge is restarted with the new unit
accepted, because its history would otherwise mix two scales.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem

__all__ = ["ENERGY_UNITS_WH", "HomeAssistantSensors", "SensorRefused", "homeassistant_events", "sensor_wh"]

ENERGY_UNITS_WH = {"Wh": Decimal(1), "kWh": Decimal(1000)}
POWER_UNITS_W = {"W": Decimal(1), "kW": Decimal(1000)}


class SensorRefused(Exception):
    """A sensor state the bridge will not turn into a register: a reason and a detail."""

    def __init__(self, reason: BridgeReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


def sensor_wh(state: dict, pinned_unit: str | None) -> tuple[int, str]:
    """(whole Wh, unit) of an energy sensor's state object; SensorRefused when it is not a usable register."""
    entity = state.get("entity_id", "?")
    attributes = state.get("attributes") or {}
    value = state.get("state")
    if value in ("unavailable", "unknown", None):
        raise SensorRefused(BridgeReason.SOURCE_UNAVAILABLE, f"{entity} is {value}")
    if attributes.get("state_class") != "total_increasing":
        raise SensorRefused(BridgeReason.NOT_TOTAL_INCREASING,
                            f"{entity} has state_class {attributes.get('state_class')!r}, not total_increasing")
    unit = attributes.get("unit_of_measurement")
    if pinned_unit is not None and unit != pinned_unit:
        raise SensorRefused(BridgeReason.UNIT_CHANGED, f"{entity} changed its unit from {pinned_unit} to {unit}")
    if unit not in ENERGY_UNITS_WH:
        raise SensorRefused(BridgeReason.UNREADABLE, f"{entity} is in {unit!r}: only kWh or Wh are registers")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SensorRefused(BridgeReason.UNREADABLE, f"{entity} state {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise SensorRefused(BridgeReason.UNREADABLE, f"{entity} state {value!r} is not a register value")
    return math.floor(number * ENERGY_UNITS_WH[unit]), unit


def _power_w(state: dict) -> int:
    unit = (state.get("attributes") or {}).get("unit_of_measurement")
    try:
        number = Decimal(state.get("state"))
    except (InvalidOperation, TypeError):
        return 0
    if unit not in POWER_UNITS_W or not number.is_finite():
        return 0
    return int(number * POWER_UNITS_W[unit])


@dataclass
class HomeAssistantSensors:
    """The sensors a bridge reads and the units pinned for them (kept in the bridge's state file)."""

    url: str
    token: str
    import_entity: str
    export_entity: str | None = None
    power_entity: str | None = None
    pinned_units: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    _last_updated: tuple | None = None

    def fetch_state(self, entity_id: str) -> dict:
        request = urllib.request.Request(f"{self.url.rstrip('/')}/api/states/{entity_id}",
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return json.loads(response.read())

    def poll(self) -> MeterSample | SourceProblem | None:
        """One look at the sensors: a sample when they changed since the last look, None when not."""
        try:
            states = {entity: self.fetch_state(entity)
                      for entity in (self.import_entity, self.export_entity, self.power_entity) if entity}
        except urllib.error.HTTPError as error:
            return SourceProblem(BridgeReason.SOURCE_UNAVAILABLE, f"Home Assistant answered {error.code}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            return SourceProblem(BridgeReason.SOURCE_UNAVAILABLE, f"Home Assistant unreachable: {error}")
        registers = {}
        try:
            for entity in (self.import_entity, self.export_entity):
                if entity:
                    registers[entity], unit = sensor_wh(states[entity], self.pinned_units.get(entity))
                    self.pinned_units.setdefault(entity, unit)
        except SensorRefused as refused:
            return SourceProblem(refused.reason, refused.detail)
        updated = tuple(states[entity].get("last_updated") for entity in sorted(states))
        if updated == self._last_updated:
            return None
        self._last_updated = updated
        return MeterSample(consumed_wh=registers[self.import_entity],
                           produced_wh=registers.get(self.export_entity, 0) if self.export_entity else 0,
                           power_w=_power_w(states[self.power_entity]) if self.power_entity else 0,
                           source="homeassistant", unit=self.pinned_units.get(self.import_entity))


def homeassistant_events(sensors: HomeAssistantSensors, every_s: float = 10.0,
                         stop=lambda: False) -> Iterator[MeterSample | SourceProblem]:
    """Poll the sensors every ``every_s`` seconds and yield what changed."""
    while not stop():
        started = time.monotonic()
        event = sensors.poll()
        if event is not None:
            yield event
        while not stop() and time.monotonic() - started < every_s:
            time.sleep(min(0.2, every_s))
