"""Ingestion on real databases (SQLite and PostgreSQL): valid readings are
committed once, every bad one is recorded with its reason, nothing is lost."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from sqlalchemy import func, select

from backend.db.models import Meter, Reading, rejection_counts
from backend.db.store import insert_readings
from backend.meters.simulator import payload, topic
from backend.oracle import ingest as ingest_module
from backend.oracle.ingest import DUPLICATE, REJECTED, STORED, Ingester, Message
from backend.oracle.verifier import MeterInfo
from backend.protocol.readings import MeterDomain, MeterReading, reading_digest, sign_reading

DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
COMMUNITY = "ingest-test"
METER, OTHER, STRANGER = (Account.create() for _ in range(3))
REGISTRY = {
    METER.address: MeterInfo(METER.address, Account.create().address, 10_000, True),
    OTHER.address: MeterInfo(OTHER.address, Account.create().address, 10_000, True),
}
NOW = 1_700_000_000


def ingester(sessions) -> Ingester:
    return Ingester(sessions, DOMAIN, COMMUNITY, REGISTRY.get, clock=lambda: NOW)


def message(key, seq, ts, produced, consumed, power=500, meter=None, topic_meter=None, body=None):
    reading = MeterReading(meter or key.address, seq, ts, produced, consumed, power)
    raw = body if body is not None else payload(sign_reading(reading, DOMAIN, key.key))
    return Message(topic(COMMUNITY, topic_meter or key.address), raw, NOW)


def good(seq):
    return message(METER, seq, NOW - 1_000 + seq * 10, 1_000 + seq, 2_000 + seq)


def test_bad_corpus_interleaved_with_valid_readings(sessions):
    forged = json.loads(good(3).payload)
    forged["producedWh"] += 5  # the signature no longer matches: recovers to some other key
    corpus = [
        (good(1), STORED, None),
        (Message(topic(COMMUNITY, METER.address), b"{not json", NOW), REJECTED, "bad_json"),
        (good(2), STORED, None),
        (Message(topic(COMMUNITY, METER.address), b'{"meter": 5}', NOW), REJECTED, "bad_schema"),
        (Message(topic(COMMUNITY, METER.address), b"x" * 5_000, NOW), REJECTED, "too_large"),
        (Message(topic(COMMUNITY, METER.address), json.dumps(forged).encode(), NOW), REJECTED, "wrong_signer"),
        (
            message(OTHER, 1, NOW - 500, 10, 10, meter=METER.address, topic_meter=METER.address),
            REJECTED,
            "wrong_signer",
        ),  # signed by another registered meter
        (message(STRANGER, 1, NOW - 500, 10, 10), REJECTED, "unknown_meter"),
        (message(OTHER, 1, NOW - 500, 10, 10, topic_meter=METER.address), REJECTED, "wrong_topic"),
        (good(3), STORED, None),
        (good(3), DUPLICATE, None),  # QoS 1 redelivery
        (message(METER, 3, NOW - 100, 9_999, 9_999), REJECTED, "replayed_seq"),
        (message(METER, 4, NOW - 690, 1_002, 2_010), REJECTED, "register_backwards"),
        (message(METER, 4, NOW + 3_600, 1_010, 2_010), REJECTED, "future_timestamp"),
        (message(METER, 4, NOW - 689, 9_000, 2_010), REJECTED, "impossible_power"),
        (good(4), STORED, None),
        (Message("vatio/other-community/meters/x/readings", good(5).payload, NOW), REJECTED, "wrong_topic"),
    ]
    outcomes = ingester(sessions).process([m for m, _, _ in corpus])
    assert [(o.status, o.reason) for o in outcomes] == [(s, r) for _, s, r in corpus]
    with sessions() as session:
        seqs = session.scalars(select(Reading.seq).where(Reading.meter == METER.address).order_by(Reading.seq)).all()
        assert seqs == [1, 2, 3, 4]
        counts = rejection_counts(session)
        assert sum(counts.values()) == sum(1 for _, s, _ in corpus if s == REJECTED)
        assert counts["wrong_signer"] == 2


def test_restarted_ingester_continues_from_the_committed_state(sessions):
    ingester(sessions).process([good(1), good(2)])
    fresh = ingester(sessions)  # a new process: state comes from the database
    outcomes = fresh.process([good(2), message(METER, 2, NOW - 100, 5_000, 5_000), good(3)])
    assert [(o.status, o.reason) for o in outcomes] == [(DUPLICATE, None), (REJECTED, "replayed_seq"), (STORED, None)]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Reading)) == 3
        meter = session.get(Meter, METER.address)
        assert (meter.last_seq, meter.last_produced_wh) == (3, 1_003)


def test_a_failed_batch_commits_nothing(sessions):
    broken = ingester(sessions)
    broken.lookup_meter = lambda meter: (_ for _ in ()).throw(RuntimeError("registry node down"))
    with pytest.raises(RuntimeError):
        broken.process([good(1), good(2)])
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Reading)) == 0
    assert [o.status for o in ingester(sessions).process([good(1), good(2)])] == [STORED, STORED]


def test_values_beyond_the_database_range_are_rejected_not_crashing(sessions):
    outcomes = ingester(sessions).process([message(METER, 1, NOW - 10, 2**63, 5), good(2)])
    assert [(o.status, o.reason) for o in outcomes] == [(REJECTED, "bad_schema"), (STORED, None)]


def test_a_replaced_meter_takes_over_its_household(sessions):
    ingester(sessions).process([good(1)])
    household = REGISTRY[METER.address].household
    replacement = Account.create()
    registry = {replacement.address: MeterInfo(replacement.address, household, 10_000, True)}
    new = Ingester(sessions, DOMAIN, COMMUNITY, registry.get, clock=lambda: NOW)
    outcomes = new.process([message(replacement, 1, NOW - 10, 50, 60)])
    assert outcomes[0].status == STORED
    with sessions() as session:
        assert not session.get(Meter, METER.address).active
        assert session.get(Meter, replacement.address).active


def test_two_oracles_on_one_database_check_against_the_latest_committed_state(sessions):
    first, second = ingester(sessions), ingester(sessions)
    assert first.process([good(1)])[0].status == STORED
    assert second.process([good(2)])[0].status == STORED
    # `first` has not seen seq 2 itself: it must neither store it twice nor
    # accept a reading whose registers run back behind it.
    outcomes = first.process([good(2), message(METER, 3, NOW - 1_000 + 30, 1_001, 2_001)])
    assert [(o.status, o.reason) for o in outcomes] == [(DUPLICATE, None), (REJECTED, "register_backwards")]
    with sessions() as session:
        assert session.get(Meter, METER.address).last_seq == 2


def test_a_reading_stored_behind_the_meters_back_is_still_recognised(sessions):
    # A row the meter's last_seq does not cover (written by another tool, or a
    # writer that raced this one): the insert notices, and the batch is checked again seq by seq.
    ingester(sessions).process([good(1)])
    stored = json.loads(good(2).payload)
    with sessions() as session:
        insert_readings(
            session,
            [
                dict(
                    meter=METER.address,
                    household=REGISTRY[METER.address].household,
                    seq=2,
                    ts=stored["ts"],
                    produced_wh=stored["producedWh"],
                    consumed_wh=stored["consumedWh"],
                    power_w=stored["powerW"],
                    signature=bytes.fromhex(stored["signature"][2:]),
                    digest=reading_digest(
                        MeterReading(
                            METER.address, 2, stored["ts"], stored["producedWh"], stored["consumedWh"], stored["powerW"]
                        ),
                        DOMAIN,
                    ),
                    received_at=NOW,
                )
            ],
        )
        session.commit()
    outcomes = ingester(sessions).process([good(2), message(METER, 2, NOW - 500, 5_000, 5_000), good(3)])
    assert [(o.status, o.reason) for o in outcomes] == [(DUPLICATE, None), (REJECTED, "replayed_seq"), (STORED, None)]
    with sessions() as session:
        assert session.scalars(select(Reading.seq).order_by(Reading.seq)).all() == [1, 2, 3]


def test_two_new_meters_of_one_household_in_one_batch_leave_the_last_one_active(sessions):
    household = Account.create().address
    old, new = Account.create(), Account.create()
    registry = {key.address: MeterInfo(key.address, household, 10_000, True) for key in (old, new)}
    outcomes = Ingester(sessions, DOMAIN, COMMUNITY, registry.get, clock=lambda: NOW).process(
        [message(old, 1, NOW - 20, 5, 5), message(new, 1, NOW - 10, 7, 7)]
    )
    assert [o.status for o in outcomes] == [STORED, STORED]
    with sessions() as session:
        assert not session.get(Meter, old.address).active
        assert session.get(Meter, new.address).active


def test_in_lists_longer_than_one_statement_are_read_in_chunks(sessions, monkeypatch):
    monkeypatch.setattr(ingest_module, "_PAIRS_PER_QUERY", 1)  # every meter and every (meter, seq) its own query
    batch = [good(1), good(2), message(OTHER, 1, NOW - 500, 10, 10), message(OTHER, 2, NOW - 490, 11, 11)]
    assert [o.status for o in ingester(sessions).process(batch)] == [STORED] * 4
    assert [o.status for o in ingester(sessions).process(batch)] == [DUPLICATE] * 4
    with sessions() as session:
        assert session.get(Meter, METER.address).last_seq == session.get(Meter, OTHER.address).last_seq == 2


def test_remembered_topics_stay_bounded_and_a_foreign_topic_is_never_remembered(sessions, monkeypatch):
    monkeypatch.setattr(ingest_module, "_TOPICS_REMEMBERED", 1)  # every new topic evicts the others
    checker = ingester(sessions)
    foreign = Message(topic(COMMUNITY, METER.address).replace("/readings", "/other"), good(2).payload, NOW)
    batches = [
        [good(1), message(OTHER, 1, NOW - 500, 10, 10)],
        [foreign, good(2), message(OTHER, 2, NOW - 490, 11, 11)],
        [foreign],
    ]
    assert [[(o.status, o.reason) for o in checker.process(batch)] for batch in batches] == [
        [(STORED, None), (STORED, None)],
        [(REJECTED, "wrong_topic"), (STORED, None), (STORED, None)],
        [(REJECTED, "wrong_topic")],
    ]
    assert len(checker._topic_meters) == 1
