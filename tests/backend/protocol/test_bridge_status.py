"""A bridge's status message: what `vatio bridge` sends parses, and anything broken or hostile is refused by name."""

from __future__ import annotations

import json

import pytest

from backend.bridge.status import status_payload
from backend.protocol.bridge_status import (
    MAX_STATUS_BYTES,
    STATUS_SCHEMA,
    BridgeStatus,
    RejectedStatus,
    StatusReason,
    encode_bridge_status,
    parse_bridge_status,
)
from backend.protocol.topics import is_status_topic, readings_topic, status_meter, status_subscription, status_topic

METER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
OTHER = "0x1111111111111111111111111111111111111111"


def snapshot(**changes) -> dict:
    """A bridge's state-folder snapshot, as backend.bridge.runner writes it."""
    base = {
        "meter": METER,
        "source": "p1",
        "community": "demo",
        "updated_at": 1_764_051_010.7,
        "last_reading": {"seq": 4211, "ts": 1_764_051_000, "consumedWh": 1, "producedWh": 2, "powerW": 3},
        "queue_depth": 2,
        "queue_bytes": 640,
        "counters": {"gap": 1, "bad_crc": 3},
        "halted": None,
        "broker": {"url": "mqtt://127.0.0.1:1883", "connected": True, "last_error": None},
    }
    return {**base, **changes}


def message(**changes) -> bytes:
    document = {**status_payload(snapshot()), **changes}
    return json.dumps(document).encode()


def test_what_the_bridge_sends_parses_to_the_same_values():
    status = parse_bridge_status(json.dumps(status_payload(snapshot())).encode(), topic_meter=METER.lower())
    assert status == BridgeStatus(
        meter=METER,
        source="p1",
        ts=1_764_051_010,
        last_reading_seq=4211,
        last_reading_ts=1_764_051_000,
        queue_depth=2,
        queue_bytes=640,
        counters=(("bad_crc", 3), ("gap", 1)),
        halted=None,
        broker_error=None,
    )
    assert parse_bridge_status(encode_bridge_status(status)) == status


def test_a_halted_bridge_before_its_first_reading_with_a_broker_error():
    payload = status_payload(
        snapshot(
            last_reading=None,
            halted="register_backwards: 1.8.0 went from 9 to 8",
            broker={"last_error": "disconnected: keepalive"},
        )
    )
    status = parse_bridge_status(json.dumps(payload).encode())
    assert status.last_reading_seq is None and status.last_reading_ts is None
    assert status.halted.startswith("register_backwards") and status.broker_error == "disconnected: keepalive"


def test_unknown_fields_are_ignored_and_a_new_source_passes_by_name():
    status = parse_bridge_status(message(firmware="2.1", source="modbus"))
    assert status.source == "modbus"


def test_the_status_topic_sits_beside_the_readings_topic():
    assert status_topic("demo", METER) == readings_topic("demo", METER).removesuffix("readings") + "status"
    assert status_subscription("demo") == "vatio/demo/meters/+/status"
    assert is_status_topic(status_topic("demo", METER)) and not is_status_topic(readings_topic("demo", METER))
    assert status_meter(status_topic("demo", METER.lower()), "demo") == METER
    assert status_meter(status_topic("elsewhere", METER), "demo") is None
    assert status_meter(status_topic("demo", "0x12"), "demo") is None
    assert status_meter(readings_topic("demo", METER), "demo") is None
    with pytest.raises(ValueError):
        status_subscription("two/levels")


BAD = {
    "too large": (b"{" + b" " * MAX_STATUS_BYTES + b"}", StatusReason.TOO_LARGE, "bytes"),
    "not UTF-8": (b'{"schema": "\xff"}', StatusReason.BAD_JSON, "UTF-8"),
    "not JSON": (b"{schema", StatusReason.BAD_JSON, "not JSON"),
    "NaN": (message().replace(b'"queueDepth": 2', b'"queueDepth": NaN'), StatusReason.BAD_JSON, "NaN"),
    "deeply nested": (b"[" * 2000 + b"]" * 2000, StatusReason.BAD_JSON, "nested"),
    "a repeated key": (message()[:-1] + b', "meter": "' + OTHER.encode() + b'"}', StatusReason.BAD_JSON, "repeats"),
    "an array": (b"[]", StatusReason.BAD_SCHEMA, "object"),
    "another schema": (message(schema="vatio-bridge-status/2"), StatusReason.BAD_SCHEMA, "schema"),
    "no schema": (json.dumps({"meter": METER}).encode(), StatusReason.BAD_SCHEMA, "schema"),
    "a bad meter": (message(meter="0x12"), StatusReason.BAD_SCHEMA, "meter"),
    "another meter than the topic's": (message(meter=OTHER), StatusReason.WRONG_TOPIC, "topic names"),
    "a negative queue": (message(queueDepth=-1), StatusReason.BAD_SCHEMA, "queueDepth"),
    "a boolean ts": (message(ts=True), StatusReason.BAD_SCHEMA, "ts"),
    "a float ts": (message(ts=1.5), StatusReason.BAD_SCHEMA, "ts"),
    "a huge ts": (message(ts=2**64), StatusReason.BAD_SCHEMA, "ts"),
    "a string count": (message(counters={"gap": "1"}), StatusReason.BAD_SCHEMA, "gap"),
    "markup as a reason": (message(counters={"<img src=x>": 1}), StatusReason.BAD_SCHEMA, "reason"),
    "too many reasons": (message(counters={f"r{i}": 1 for i in range(40)}), StatusReason.BAD_SCHEMA, "more than"),
    "counters as a list": (message(counters=[1]), StatusReason.BAD_SCHEMA, "counters"),
    "a bad source": (message(source="P1 <b>"), StatusReason.BAD_SCHEMA, "source"),
    "a long halt": (message(halted="x" * 501), StatusReason.BAD_SCHEMA, "longer"),
    "a control character": (message(brokerError="a\x1b[2Jb"), StatusReason.BAD_SCHEMA, "control"),
    "lastReading as a number": (message(lastReading=5), StatusReason.BAD_SCHEMA, "lastReading"),
    "lastReading without seq": (message(lastReading={"ts": 5}), StatusReason.BAD_SCHEMA, "seq"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_broken_or_hostile_status_is_refused_with_its_reason(case):
    payload, reason, words = BAD[case]
    with pytest.raises(RejectedStatus) as refused:
        parse_bridge_status(payload, topic_meter=METER)
    assert refused.value.reason == reason
    assert words in refused.value.detail


def test_the_schema_constant_is_the_one_the_bridge_sends():
    assert status_payload(snapshot())["schema"] == STATUS_SCHEMA
