"""The Home Assistant source over its WebSocket API: a local WebSocket server replays a recorded session."""

from __future__ import annotations

import json
import threading

import pytest
from bridge_helpers import fixture_json
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem
from backend.bridge.sources.homeassistant import HomeAssistantSensors, homeassistant_websocket_events, websocket_url

SESSION = fixture_json("homeassistant_websocket.json")
TOKEN = "test-token"


class RecordedHomeAssistant:
    """Answers as Home Assistant does: auth_required, auth_ok/auth_invalid, get_states, subscribe_events."""

    def __init__(self, close_after_events: bool = False) -> None:
        self.received: list[dict] = []
        self.connections = 0
        self.close_after_events = close_after_events

        def handler(connection) -> None:
            self.connections += 1
            connection.send(json.dumps(SESSION["auth_required"]))
            auth = json.loads(connection.recv())
            self.received.append(auth)
            if auth != {"type": "auth", "access_token": TOKEN}:
                connection.send(json.dumps(SESSION["auth_invalid"]))
                return
            connection.send(json.dumps(SESSION["auth_ok"]))
            subscription = None
            for _ in range(2):
                command = json.loads(connection.recv())
                self.received.append(command)
                if command["type"] == "get_states":
                    connection.send(
                        json.dumps(
                            {"id": command["id"], "type": "result", "success": True, "result": SESSION["get_states"]}
                        )
                    )
                elif command == {"id": command["id"], "type": "subscribe_events", "event_type": "state_changed"}:
                    subscription = command["id"]
                    connection.send(json.dumps({"id": subscription, "type": "result", "success": True, "result": None}))
            assert subscription is not None
            for event in SESSION["events"]:
                connection.send(json.dumps({"id": subscription, "type": "event", "event": event}))
            if self.close_after_events:
                return
            try:
                for _ in connection:
                    pass
            except ConnectionClosed:
                pass

        self.server = serve(handler, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def home_assistant():
    server = RecordedHomeAssistant()
    yield server
    server.close()


def sensors(url: str, token: str = TOKEN) -> HomeAssistantSensors:
    return HomeAssistantSensors(
        url=url,
        token=token,
        import_entity="sensor.grid_import",
        export_entity="sensor.grid_export",
        power_entity="sensor.grid_power",
        timeout_s=5,
    )


def take(events, count: int) -> list:
    taken = []
    for event in events:
        taken.append(event)
        if len(taken) == count:
            break
    return taken


def test_websocket_url_follows_the_base_url():
    assert websocket_url("http://homeassistant.local:8123") == "ws://homeassistant.local:8123/api/websocket"
    assert websocket_url("https://ha.example.org/") == "wss://ha.example.org/api/websocket"
    with pytest.raises(ValueError):
        websocket_url("homeassistant.local:8123")


def test_states_then_every_change_of_a_configured_sensor_and_a_unit_change_refused(home_assistant):
    stop = threading.Event()
    events = take(homeassistant_websocket_events(sensors(home_assistant.url), stop.is_set), 4)
    stop.set()
    assert events == [
        MeterSample(consumed_wh=7_531_579, produced_wh=3_580_245, power_w=452, source="homeassistant", unit="kWh"),
        MeterSample(consumed_wh=7_531_601, produced_wh=3_580_245, power_w=452, source="homeassistant", unit="kWh"),
        MeterSample(consumed_wh=7_531_601, produced_wh=3_580_245, power_w=-1250, source="homeassistant", unit="kWh"),
        SourceProblem(BridgeReason.UNIT_CHANGED, "sensor.grid_import changed its unit from kWh to Wh"),
    ]  # the sun's elevation changed too, and was not a sample
    assert home_assistant.received[0] == {"type": "auth", "access_token": TOKEN}
    assert {k: v for k, v in home_assistant.received[1].items() if k != "id"} == {"type": "get_states"}
    assert home_assistant.received[2]["event_type"] == "state_changed"


def test_a_wrong_token_is_reported_and_nothing_is_read(home_assistant):
    stop = threading.Event()
    events = homeassistant_websocket_events(sensors(home_assistant.url, token="wrong"), stop.is_set, retry_s=0.1)
    first, second = take(events, 2)
    stop.set()
    for problem in (first, second):
        assert isinstance(problem, SourceProblem) and problem.reason is BridgeReason.SOURCE_UNAVAILABLE
        assert "auth_invalid" in problem.detail
    assert home_assistant.connections == 2  # it tries again, and never got past auth


def test_a_dropped_connection_is_reported_and_made_again():
    server = RecordedHomeAssistant(close_after_events=True)
    stop = threading.Event()
    try:
        events = take(homeassistant_websocket_events(sensors(server.url), stop.is_set, retry_s=0.1), 6)
    finally:
        stop.set()
        server.close()
    assert [type(event).__name__ for event in events] == [
        "MeterSample",
        "MeterSample",
        "MeterSample",
        "SourceProblem",
        "SourceProblem",
        "MeterSample",
    ]
    assert events[3].reason is BridgeReason.UNIT_CHANGED
    assert events[4].reason is BridgeReason.SOURCE_UNAVAILABLE and "unreachable" in events[4].detail
    # Reconnected: get_states again gives the current values (the replay's first ones) at once.
    assert events[5].consumed_wh == 7_531_579 and events[5].power_w == 452
    assert server.connections == 2
