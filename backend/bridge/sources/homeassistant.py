"""Home Assistant energy sensors (``state_class: total_increasing``, kWh or Wh) through its REST or WebSocket API.

REST: ``GET <url>/api/states/<entity_id>`` with ``Authorization: Bearer <long-lived token>`` returns the
sensor's state (a string) and attributes; the bridge polls it every period.

WebSocket (``<url>/api/websocket``, as Home Assistant documents it): the server asks ``auth_required``,
the bridge answers ``{"type": "auth", "access_token": ...}`` and gets ``auth_ok`` (or ``auth_invalid``),
then sends ``get_states`` for the current values and ``subscribe_events`` for ``state_changed``; every
change of a configured sensor is a new sample at once, without polling. A lost connection is reported
(``source_unavailable``) and made again, with ``get_states`` first so nothing in between is missed.

The import sensor is required; an export sensor and a power sensor (W or kW) are optional. Units are
converted to whole Wh and pinned: a sensor whose unit or scale changes is refused (``unit_changed``)
until the bridge is restarted with the new unit accepted, because its history would otherwise mix two
scales.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem

__all__ = [
    "ENERGY_UNITS_WH",
    "HomeAssistantSensors",
    "SensorRefused",
    "homeassistant_events",
    "homeassistant_websocket_events",
    "sensor_wh",
    "websocket_url",
]

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
        raise SensorRefused(
            BridgeReason.NOT_TOTAL_INCREASING,
            f"{entity} has state_class {attributes.get('state_class')!r}, not total_increasing",
        )
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
        request = urllib.request.Request(
            f"{self.url.rstrip('/')}/api/states/{entity_id}",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return json.loads(response.read())

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(entity for entity in (self.import_entity, self.export_entity, self.power_entity) if entity)

    def poll(self) -> MeterSample | SourceProblem | None:
        """One look at the sensors: a sample when they changed since the last look, None when not."""
        try:
            states = {entity: self.fetch_state(entity) for entity in self.entities}
        except urllib.error.HTTPError as error:
            return SourceProblem(BridgeReason.SOURCE_UNAVAILABLE, f"Home Assistant answered {error.code}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            return SourceProblem(BridgeReason.SOURCE_UNAVAILABLE, f"Home Assistant unreachable: {error}")
        return self.sample(states)

    def sample(self, states: dict[str, dict]) -> MeterSample | SourceProblem | None:
        """The sample of the sensors' state objects (REST answers or WebSocket ``new_state``s); None if unchanged."""
        missing = [entity for entity in self.entities if not isinstance(states.get(entity), dict)]
        if missing:
            return SourceProblem(BridgeReason.SOURCE_UNAVAILABLE, f"Home Assistant has no state for {missing}")
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
        return MeterSample(
            consumed_wh=registers[self.import_entity],
            produced_wh=registers.get(self.export_entity, 0) if self.export_entity else 0,
            power_w=_power_w(states[self.power_entity]) if self.power_entity else 0,
            source="homeassistant",
            unit=self.pinned_units.get(self.import_entity),
        )


def homeassistant_events(
    sensors: HomeAssistantSensors, every_s: float = 10.0, stop=lambda: False
) -> Iterator[MeterSample | SourceProblem]:
    """Poll the sensors every ``every_s`` seconds and yield what changed."""
    while not stop():
        started = time.monotonic()
        event = sensors.poll()
        if event is not None:
            yield event
        while not stop() and time.monotonic() - started < every_s:
            time.sleep(min(0.2, every_s))


def websocket_url(url: str) -> str:
    """``ws(s)://host:port/api/websocket`` of a Home Assistant base URL (http or https)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https", "ws", "wss") or not parsed.netloc:
        raise ValueError(f"Home Assistant's URL must look like http://homeassistant.local:8123, got {url!r}")
    scheme = "wss" if parsed.scheme in ("https", "wss") else "ws"
    return f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/').removesuffix('/api/websocket')}/api/websocket"


class _Refused(Exception):
    """Home Assistant closed the door: a wrong token or an error answer."""


def _session(sensors: HomeAssistantSensors, stop) -> Iterator[MeterSample | SourceProblem]:
    """One WebSocket connection: authenticate, read all states, then follow ``state_changed`` events."""
    from websockets.sync.client import connect

    with connect(websocket_url(sensors.url), open_timeout=sensors.timeout_s, proxy=None) as socket:

        def receive() -> dict | None:
            try:
                return json.loads(socket.recv(timeout=0.5))
            except TimeoutError:
                return None

        hello = json.loads(socket.recv(timeout=sensors.timeout_s))
        if hello.get("type") != "auth_required":
            raise _Refused(f"expected auth_required, got {hello.get('type')!r}")
        socket.send(json.dumps({"type": "auth", "access_token": sensors.token}))
        answer = json.loads(socket.recv(timeout=sensors.timeout_s))
        if answer.get("type") != "auth_ok":
            raise _Refused(f"authentication refused ({answer.get('type')}: {answer.get('message', '')})")
        socket.send(json.dumps({"id": 1, "type": "get_states"}))
        socket.send(json.dumps({"id": 2, "type": "subscribe_events", "event_type": "state_changed"}))
        states: dict[str, dict] = {}
        wanted = set(sensors.entities)
        while not stop():
            message = receive()
            if message is None:
                continue
            if message.get("type") == "result":
                if not message.get("success"):
                    error = message.get("error") or {}
                    raise _Refused(f"request {message.get('id')} failed: {error.get('code')} {error.get('message')}")
                if message.get("id") != 1:
                    continue
                states.update(
                    {
                        state["entity_id"]: state
                        for state in message.get("result") or []
                        if isinstance(state, dict) and state.get("entity_id") in wanted
                    }
                )
            elif message.get("type") == "event" and message.get("id") == 2:
                data = (message.get("event") or {}).get("data") or {}
                if data.get("entity_id") not in wanted:
                    continue
                if isinstance(data.get("new_state"), dict):
                    states[data["entity_id"]] = data["new_state"]
                else:
                    states.pop(data["entity_id"], None)  # the entity was removed
            else:
                continue
            if any(entity not in states for entity in wanted):
                continue  # the first answer has not covered every sensor yet
            event = sensors.sample(states)
            if event is not None:
                yield event


def homeassistant_websocket_events(
    sensors: HomeAssistantSensors, stop=lambda: False, retry_s: float = 5.0
) -> Iterator[MeterSample | SourceProblem]:
    """Follow the sensors over Home Assistant's WebSocket API; reconnect (after ``retry_s``) when it drops."""
    from websockets.exceptions import WebSocketException

    while not stop():
        try:
            yield from _session(sensors, stop)
        except _Refused as refused:
            yield SourceProblem(BridgeReason.SOURCE_UNAVAILABLE, f"Home Assistant WebSocket: {refused}")
        except (OSError, WebSocketException, TimeoutError, ValueError) as error:
            yield SourceProblem(
                BridgeReason.SOURCE_UNAVAILABLE,
                f"Home Assistant WebSocket unreachable: {type(error).__name__}: {error}",
            )
        deadline = time.monotonic() + retry_s
        while not stop() and time.monotonic() < deadline:
            time.sleep(0.1)
