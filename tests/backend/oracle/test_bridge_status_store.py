"""Storing bridge statuses: the latest per registered meter, never an older one, nothing from a stranger."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from backend.db.models import MeterStatus, Rejection
from backend.oracle.bridge_status import DROPPED, STALE, STORED, BridgeStatusStore
from backend.oracle.ingest import Message
from backend.oracle.verifier import MeterInfo
from backend.protocol.bridge_status import STATUS_SCHEMA
from backend.protocol.topics import readings_topic, status_topic

COMMUNITY = "statusville"
METER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
HOUSEHOLD = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
RETIRED = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
STRANGER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
REGISTRY = {METER: MeterInfo(METER, HOUSEHOLD, 10_000, True), RETIRED: MeterInfo(RETIRED, HOUSEHOLD, 10_000, False)}


def status(meter: str = METER, ts: int = 1_764_051_010, **changes) -> bytes:
    document = {
        "schema": STATUS_SCHEMA,
        "meter": meter,
        "source": "p1",
        "ts": ts,
        "lastReading": {"seq": 42, "ts": ts - 10},
        "queueDepth": 0,
        "queueBytes": 0,
        "counters": {"bad_crc": 3},
        "halted": None,
        "brokerError": None,
        **changes,
    }
    return json.dumps(document).encode()


def message(payload: bytes, meter: str = METER, received_at: float = 1_764_051_011.6) -> Message:
    return Message(status_topic(COMMUNITY, meter), payload, received_at)


def stored(sessions) -> dict[str, MeterStatus]:
    with sessions() as session:
        return {row.meter: row for row in session.scalars(select(MeterStatus))}


def test_a_status_is_stored_then_replaced_by_a_newer_one_and_never_by_an_older(sessions):
    store = BridgeStatusStore(sessions, COMMUNITY, REGISTRY.get)
    [first] = store.process([message(status())])
    assert first.status == STORED and first.row.household == HOUSEHOLD and first.row.received_at == 1_764_051_011
    row = stored(sessions)[METER]
    assert (row.household, row.source, row.status_ts, row.last_reading_seq, row.last_reading_ts) == (
        HOUSEHOLD,
        "p1",
        1_764_051_010,
        42,
        1_764_051_000,
    )
    assert row.counters == {"bad_crc": 3} and row.halted is None

    newer, older = store.process(
        [
            message(
                status(
                    ts=1_764_051_070,
                    counters={"bad_crc": 4, "gap": 1},
                    halted="register_backwards: 1.8.0 went from 9 to 8",
                    queueDepth=5,
                    queueBytes=900,
                    brokerError="disconnected",
                )
            ),
            message(status(ts=1_764_051_020, counters={})),
        ]
    )
    assert newer.status == STORED and older.status == STALE and older.row is None
    row = stored(sessions)[METER]
    assert row.status_ts == 1_764_051_070 and row.counters == {"bad_crc": 4, "gap": 1}
    assert row.halted.startswith("register_backwards") and row.queue_depth == 5 and row.broker_error == "disconnected"
    assert store.process([message(status(ts=1_764_051_070, counters={"gap": 2}))])[0].status == STORED  # as new
    assert stored(sessions)[METER].counters == {"gap": 2}
    assert len(stored(sessions)) == 1


def test_statuses_of_strangers_or_of_another_meter_or_broken_ones_are_dropped_by_reason(sessions):
    store = BridgeStatusStore(sessions, COMMUNITY, REGISTRY.get)
    outcomes = store.process(
        [
            message(status(STRANGER), meter=STRANGER),  # not registered
            message(status(RETIRED), meter=RETIRED),  # replaced by a new meter
            message(status(STRANGER), meter=METER),  # the topic's meter is not the payload's
            message(b"{not json", meter=METER),
            message(status(schema="something/else")),
            Message(readings_topic(COMMUNITY, METER), status(), 1.0),  # not a status topic
            Message(f"vatio/elsewhere/meters/{METER}/status", status(), 1.0),  # another community's
        ]
    )
    assert [(o.status, o.reason) for o in outcomes] == [
        (DROPPED, "unknown_meter"),
        (DROPPED, "inactive_meter"),
        (DROPPED, "wrong_topic"),
        (DROPPED, "bad_json"),
        (DROPPED, "bad_schema"),
        (DROPPED, "wrong_topic"),
        (DROPPED, "wrong_topic"),
    ]
    assert stored(sessions) == {}
    assert store.counts == {"unknown_meter": 1, "inactive_meter": 1, "wrong_topic": 3, "bad_json": 1, "bad_schema": 1}
    with sessions() as session:  # statuses never become reading rejections
        assert session.scalar(select(func.count()).select_from(Rejection)) == 0
