"""The source adapters against fixtures written from the public specifications."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from bridge_helpers import fixture_bytes, fixture_json, make_bridge
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser
from sml_builder import meter_frame

from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem
from backend.bridge.sources.dsmr import P1Decoder, telegram_clock
from backend.bridge.sources.homeassistant import HomeAssistantSensors
from backend.bridge.sources.shelly import ShellyTracker
from backend.bridge.sources.sml import SmlDecoder

# --- DSMR P1 ------------------------------------------------------------------------------------


def test_p1_sums_the_two_tariffs_of_import_and_export():
    events = P1Decoder().feed(fixture_bytes("dsmr5_two_tariffs.txt"))
    assert len(events) == 1
    sample = events[0]
    assert isinstance(sample, MeterSample)
    assert sample.consumed_wh == 4_321_123 + 3_210_456  # 1.8.1 + 1.8.2
    assert sample.produced_wh == 1_234_567 + 2_345_678  # 2.8.1 + 2.8.2
    assert sample.power_w == 452  # 1.7.0 - 2.7.0
    assert sample.meter_ts == datetime(2025, 6, 12, 12, 15, 30, tzinfo=UTC).timestamp()  # 14:15:30 CEST


def test_p1_fixture_crcs_are_what_dsmr_parser_computes():
    for name in ("dsmr5_two_tariffs.txt", "dsmr5_dst_change.txt"):
        for telegram in fixture_bytes(name).decode().split("\r\n/"):
            telegram = telegram if telegram.startswith("/") else "/" + telegram
            body, _, crc = telegram.partition("!")
            assert TelegramParser.crc16(body + "!") == int(crc.strip(), 16)


def test_p1_bad_crc_is_dropped_and_counted(tmp_path):
    events = P1Decoder().feed(fixture_bytes("dsmr5_bad_crc.txt") + fixture_bytes("dsmr5_two_tariffs.txt"))
    assert [type(event) for event in events] == [SourceProblem, MeterSample]
    assert events[0].reason is BridgeReason.BAD_CRC
    bridge = make_bridge(tmp_path)
    for event in events:
        bridge.on_event(event, received_ts=1749730530)
    assert bridge.state.counters == {"bad_crc": 1}
    signed = bridge.tick()
    assert signed is not None and signed.reading.consumed_wh == 7_531_579  # the good telegram, not the bad one


def test_p1_timestamp_across_the_autumn_dst_change_uses_the_summer_winter_flag():
    parser = TelegramParser(telegram_specifications.V5)
    raw = fixture_bytes("dsmr5_dst_change.txt").decode()
    first, second = ("/" + part if not part.startswith("/") else part for part in raw.split("\r\n/"))
    summer = telegram_clock(parser.parse(first + ("" if first.endswith("\r\n") else "\r\n")))
    winter = telegram_clock(parser.parse(second))
    # Both say 02:30 local time; S is CEST (UTC+2), W is CET (UTC+1): an hour apart.
    assert summer == (datetime(2025, 10, 26, 0, 30, tzinfo=UTC), True)
    assert winter == (datetime(2025, 10, 26, 1, 30, tzinfo=UTC), False)
    samples = P1Decoder().feed(raw.encode())
    assert [s.meter_ts for s in samples] == [summer[0].timestamp(), winter[0].timestamp()]
    assert samples[1].consumed_wh - samples[0].consumed_wh == 300


def test_p1_decoder_takes_a_stream_byte_by_byte():
    stream = fixture_bytes("dsmr5_two_tariffs.txt") * 3
    decoder = P1Decoder()
    events = [event for byte in stream for event in decoder.feed(bytes((byte,)))]
    assert len(events) == 3 and all(isinstance(event, MeterSample) for event in events)


# --- SML ----------------------------------------------------------------------------------------


def test_sml_fixture_is_what_the_builder_makes():
    assert fixture_bytes("sml_ehz_two_frames.bin") == (
        meter_frame(123456789, 45678901, -1234, 1) + meter_frame(123456889, 45678901, 360, 2)
    )


def test_sml_reads_obis_1_8_0_2_8_0_and_16_7_0_in_odd_chunks():
    stream = fixture_bytes("sml_ehz_two_frames.bin")
    decoder = SmlDecoder()
    events = []
    for start in range(0, len(stream), 7):
        events += decoder.feed(stream[start : start + 7])
    assert events == [
        MeterSample(consumed_wh=12_345_678, produced_wh=4_567_890, power_w=-1234, source="sml"),
        MeterSample(consumed_wh=12_345_688, produced_wh=4_567_890, power_w=360, source="sml"),
    ]


def test_sml_bad_crc_is_a_problem_not_a_sample():
    frame = bytearray(meter_frame(123456789, 45678901, -1234))
    frame[60] ^= 0x01
    events = SmlDecoder().feed(bytes(frame) + meter_frame(123456799, 45678901, 10))
    assert [getattr(event, "reason", None) for event in events] == [BridgeReason.BAD_CRC, None]
    assert events[1].consumed_wh == 12_345_679


# --- Shelly -------------------------------------------------------------------------------------


def test_shelly_totals_from_emdata_and_power_from_em():
    fixture = fixture_json("shelly_pro3em_notifications.json")
    tracker = ShellyTracker()
    events = [
        event
        for message in fixture["messages"]
        for event in tracker.on_message(message["topic"], json.dumps(message["payload"]).encode())
    ]
    assert events == [
        MeterSample(
            consumed_wh=4_335_124, produced_wh=4_322_000, power_w=-770, meter_ts=1749730560.02, source="shelly"
        ),
        MeterSample(consumed_wh=4_335_131, produced_wh=4_322_016, power_w=-770, meter_ts=None, source="shelly"),
    ]


def test_shelly_unreadable_message_is_reported():
    events = ShellyTracker().on_message("x/events/rpc", b"{not json")
    assert len(events) == 1 and events[0].reason is BridgeReason.UNREADABLE
    events = ShellyTracker().on_message(
        "x/events/rpc", json.dumps({"method": "NotifyStatus", "params": {"emdata:0": {"total_act": "12"}}}).encode()
    )
    assert events[0].reason is BridgeReason.UNREADABLE


# --- Home Assistant, through a local HTTP server that replays its REST answers -----------------------


@pytest.fixture
def home_assistant():
    """A local server answering GET /api/states/<entity> from the fixture, one answer per poll, token checked."""
    answers = {
        entity: list(states)
        for entity, states in fixture_json("homeassistant_states.json").items()
        if not entity.startswith("_")
    }
    served: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            entity = self.path.removeprefix("/api/states/")
            if self.headers.get("Authorization") != "Bearer test-token":
                self.send_response(401)
                self.end_headers()
                return
            if entity not in answers:
                self.send_response(404)
                self.end_headers()
                return
            states = answers[entity]
            body = json.dumps(states.pop(0) if len(states) > 1 else states[0]).encode()
            served.append(entity)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


def test_homeassistant_units_converted_and_a_unit_change_flagged(home_assistant, tmp_path):
    url, served = home_assistant
    sensors = HomeAssistantSensors(
        url=url,
        token="test-token",
        import_entity="sensor.grid_import",
        export_entity="sensor.grid_export",
        power_entity="sensor.grid_power",
    )
    first = sensors.poll()
    assert first == MeterSample(
        consumed_wh=7_531_579, produced_wh=3_580_245, power_w=452, source="homeassistant", unit="kWh"
    )  # kWh -> Wh, Wh kept, kW -> W
    second = sensors.poll()
    assert second.consumed_wh == 7_531_601
    third = sensors.poll()  # the import sensor now says Wh
    assert isinstance(third, SourceProblem) and third.reason is BridgeReason.UNIT_CHANGED
    assert "kWh to Wh" in third.detail
    assert served.count("sensor.grid_import") == 3
    bridge = make_bridge(tmp_path)
    bridge.on_event(third)
    assert bridge.state.counters == {"unit_changed": 1}
    assert bridge.tick() is None


def test_homeassistant_refuses_a_sensor_that_is_not_total_increasing(home_assistant):
    url, _ = home_assistant
    event = HomeAssistantSensors(url=url, token="test-token", import_entity="sensor.daily_energy").poll()
    assert isinstance(event, SourceProblem) and event.reason is BridgeReason.NOT_TOTAL_INCREASING


def test_homeassistant_wrong_token_is_reported(home_assistant):
    url, _ = home_assistant
    event = HomeAssistantSensors(url=url, token="wrong", import_entity="sensor.grid_import").poll()
    assert isinstance(event, SourceProblem) and event.reason is BridgeReason.SOURCE_UNAVAILABLE
    assert "401" in event.detail


def test_homeassistant_unchanged_sensor_gives_no_new_sample(home_assistant):
    url, _ = home_assistant
    sensors = HomeAssistantSensors(url=url, token="test-token", import_entity="sensor.grid_export")
    assert isinstance(sensors.poll(), MeterSample)
    assert sensors.poll() is None  # same last_updated: nothing new to sign
