"""Storage on SQLite and PostgreSQL: migrations, constraints, idempotent inserts, round-trips."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from eth_utils import to_checksum_address
from sqlalchemy import Engine, func, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from backend.db.migrate import current_revision, downgrade, head_revision, upgrade
from backend.db.models import (
    MAX_PAYLOAD_BYTES,
    MAX_STORED_INT,
    Base,
    ChainEvent,
    IndexerCursor,
    Interval,
    IntervalEntry,
    Meter,
    Reading,
    Rejection,
    SettlementOutbox,
    rejection_counts,
)
from backend.db.session import make_engine
from backend.db.store import insert_reading_once, insert_readings, record_rejection

METER_A = to_checksum_address("0x" + "a1" * 20)
METER_B = to_checksum_address("0x" + "b2" * 20)
HOUSE_A = to_checksum_address("0x" + "c3" * 20)
HOUSE_B = to_checksum_address("0x" + "d4" * 20)
TX_HASH = "0x" + "ab" * 32
BLOCK_HASH = "0x" + "cd" * 32
SIGNATURE = bytes(range(65))  # every byte value that trips text handling: 0x00, 0x0a, 0x27 ...
DIGEST = bytes(range(255, 223, -1))  # 32 bytes, high bit set
NOW = 1_790_000_000


def _schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, Base.metadata)


def _check_constraint_names(engine: Engine) -> dict[str, set[str]]:
    inspector = inspect(engine)
    return {
        table: {c["name"] for c in inspector.get_check_constraints(table)}
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def _model_check_constraint_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for table in Base.metadata.sorted_tables:
        names[table.name] = {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint" and c.name}
    return names


def _add_meter(session: Session, address: str = METER_A, household: str = HOUSE_A, **fields: Any) -> Meter:
    meter = Meter(address=address, household=household, capacity_w=10_000, registered_block=1, **fields)
    session.add(meter)
    session.flush()
    return meter


def _reading(seq: int, meter: str = METER_A, household: str = HOUSE_A, **fields: Any) -> dict[str, Any]:
    values = dict(
        meter=meter,
        household=household,
        seq=seq,
        ts=NOW + 10 * seq,
        produced_wh=100 * seq,
        consumed_wh=50 * seq,
        power_w=1_500,
        signature=SIGNATURE,
        digest=DIGEST,
        received_at=NOW + 10 * seq + 1,
    )
    values.update(fields)
    return values


# --- migrations ---


def test_upgrade_from_empty_matches_the_models(empty_database_url: str):
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)
    upgrade(empty_database_url)  # already at head: a no-op
    assert current_revision(empty_database_url) == head_revision()

    engine = make_engine(empty_database_url)
    try:
        assert _schema_diff(engine) == []
        # Alembic does not compare CHECK constraints: compare their names ourselves.
        assert _check_constraint_names(engine) == _model_check_constraint_names()
        partial = [i for i in inspect(engine).get_indexes("meters") if i["name"] == "uq_meters_household_active"]
        assert partial and partial[0]["unique"]

        # The comparison is not vacuous: drift in the database shows up.
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_readings_household_ts")
        assert any(d[0] == "add_index" and d[1].name == "ix_readings_household_ts" for d in _schema_diff(engine))
    finally:
        engine.dispose()


def test_downgrade_to_base_drops_every_table_and_upgrades_again(empty_database_url: str):
    upgrade(empty_database_url)
    downgrade(empty_database_url, "base")
    assert current_revision(empty_database_url) is None
    engine = make_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(empty_database_url)
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


# --- readings: idempotent on (meter, seq) ---


def test_duplicate_meter_seq_is_refused(db_session: Session):
    _add_meter(db_session)
    db_session.add(Reading(**_reading(1)))
    db_session.flush()
    db_session.add(Reading(**_reading(1, ts=NOW + 999)))
    with pytest.raises(IntegrityError):
        db_session.flush()


def test_insert_reading_once_skips_a_redelivery_and_keeps_the_transaction(db_session: Session):
    _add_meter(db_session)
    record_rejection(db_session, received_at=NOW, topic="t", reason="bad_json", payload=b"{")

    assert insert_reading_once(db_session, **_reading(1)) is True
    assert insert_reading_once(db_session, **_reading(1)) is False  # QoS 1 redelivery
    assert insert_reading_once(db_session, **_reading(2)) is True
    db_session.commit()

    assert db_session.scalars(select(Reading.seq).order_by(Reading.seq)).all() == [1, 2]
    assert db_session.scalar(select(func.count()).select_from(Rejection)) == 1


def test_insert_reading_once_raises_other_integrity_errors(db_session: Session):
    _add_meter(db_session)
    assert insert_reading_once(db_session, **_reading(1)) is True
    with pytest.raises(IntegrityError):
        insert_reading_once(db_session, **_reading(2, signature=b"\x01" * 64))
    # The savepoint rolled back only the bad row.
    db_session.commit()
    assert db_session.scalars(select(Reading.seq)).all() == [1]


def test_insert_readings_counts_only_new_rows(db_session: Session):
    _add_meter(db_session)
    _add_meter(db_session, METER_B, HOUSE_B)
    assert insert_readings(db_session, [_reading(1), _reading(2), _reading(1, METER_B, HOUSE_B)]) == 3
    assert insert_readings(db_session, [_reading(2), _reading(3)]) == 1
    assert insert_readings(db_session, []) == 0
    db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(Reading)) == 4


# --- constraints ---

Case = Callable[[Session], None]


def _insert(model: type[Base], **values: Any) -> Case:
    # Core, not the ORM, so that the database and not a Python validator refuses the row.
    return lambda session: session.execute(insert(model).values(**values))


def _interval(**values: Any) -> dict[str, Any]:
    return {"interval_id": 1_988_888, "status": "open", **values}


def _outbox(**values: Any) -> dict[str, Any]:
    return {
        "interval_id": 1_988_888,
        "chunk_index": 0,
        "kind": "settle_interval",
        "payload": {},
        "updated_at": NOW,
        **values,
    }


def _raw_reading(**values: Any) -> dict[str, Any]:
    return _reading(1, **values)


def _chain_event_twice(session: Session) -> None:
    event = dict(
        block_number=1, block_hash=BLOCK_HASH, tx_hash=TX_HASH, log_index=0, contract=METER_B, event="Minted", args={}
    )
    session.execute(insert(ChainEvent).values(**event))
    session.execute(insert(ChainEvent).values(**event))


# case -> (write, the constraint that must refuse it, SQLite's words when it names no constraint)
BAD_ROWS: dict[str, tuple[Case, str, str | None]] = {
    "interval status unknown": (
        _insert(Interval, **_interval(status="paid", closed_at=NOW)),
        "ck_intervals_status_known",
        None,
    ),
    "closed interval without closed_at": (
        _insert(Interval, **_interval(status="closed")),
        "ck_intervals_closed_at_iff_not_open",
        None,
    ),
    "settled interval without tx": (
        _insert(Interval, **_interval(status="settled", closed_at=NOW, readings_root=DIGEST, clearing_price=1)),
        "ck_intervals_settled_has_tx_and_block",
        None,
    ),
    "settling interval without root": (
        _insert(Interval, **_interval(status="settling", closed_at=NOW, clearing_price=1)),
        "ck_intervals_settling_has_root_and_price",
        None,
    ),
    "interval root of 31 bytes": (
        _insert(Interval, **_interval(readings_root=b"\x00" * 31)),
        "ck_intervals_readings_root_32_bytes",
        None,
    ),
    "outbox status unknown": (
        _insert(SettlementOutbox, **_outbox(status="lost")),
        "ck_settlement_outbox_status_known",
        None,
    ),
    "outbox kind unknown": (
        _insert(SettlementOutbox, **_outbox(kind="settle_everything")),
        "ck_settlement_outbox_kind_known",
        None,
    ),
    "outbox sent without a tx hash": (
        _insert(SettlementOutbox, **_outbox(status="sent", nonce=3)),
        "ck_settlement_outbox_sent_has_nonce_and_tx",
        None,
    ),
    "outbox failed without an error": (
        _insert(SettlementOutbox, **_outbox(status="failed")),
        "ck_settlement_outbox_failed_has_error",
        None,
    ),
    "outbox tx hash in upper case": (
        _insert(SettlementOutbox, **_outbox(status="sent", nonce=3, tx_hash="0x" + "AB" * 32)),
        "ck_settlement_outbox_tx_hash_hash",
        None,
    ),
    "outbox transaction planned twice": (
        lambda session: [_insert(SettlementOutbox, **_outbox())(session) for _ in range(2)],
        "uq_settlement_outbox_interval_id_chunk_index_kind",
        "UNIQUE constraint failed: settlement_outbox.interval_id, settlement_outbox.chunk_index",
    ),
    "signature of 64 bytes": (
        _insert(Reading, **_raw_reading(signature=SIGNATURE[:64])),
        "ck_readings_signature_65_bytes",
        None,
    ),
    "digest of 33 bytes": (
        _insert(Reading, **_raw_reading(digest=DIGEST + b"\x00")),
        "ck_readings_digest_32_bytes",
        None,
    ),
    "negative produced Wh": (
        _insert(Reading, **_raw_reading(produced_wh=-1)),
        "ck_readings_produced_wh_non_negative",
        None,
    ),
    "power over uint32": (_insert(Reading, **_raw_reading(power_w=2**32)), "ck_readings_power_w_uint32", None),
    "reading of another household's meter": (
        _insert(Reading, **_raw_reading(household=HOUSE_B)),
        "fk_readings_meter_household_meters",
        "FOREIGN KEY constraint failed",
    ),
    "reading of an unknown meter": (
        _insert(Reading, **_raw_reading(meter=METER_B, household=HOUSE_B)),
        "fk_readings_meter_household_meters",
        "FOREIGN KEY constraint failed",
    ),
    "reading delivered twice": (
        lambda session: [_insert(Reading, **_raw_reading())(session) for _ in range(2)],
        "uq_readings_meter_seq",
        "UNIQUE constraint failed: readings.meter, readings.seq",
    ),
    "second active meter of a household": (
        _insert(Meter, address=METER_B, household=HOUSE_A, capacity_w=1, registered_block=2),
        "uq_meters_household_active",
        "UNIQUE constraint failed: meters.household",
    ),
    "meter address too short": (
        _insert(Meter, address=METER_B[:41], household=HOUSE_B, capacity_w=1, registered_block=2),
        "ck_meters_address_address",
        None,
    ),
    "half-written verifier state": (
        _insert(Meter, address=METER_B, household=HOUSE_B, capacity_w=1, registered_block=2, last_seq=5),
        "ck_meters_last_reading_complete",
        None,
    ),
    "rejection payload over 2 KiB": (
        _insert(Rejection, received_at=NOW, topic="t", reason="too_large", payload=b"x" * 2049, payload_size=2049),
        "ck_rejections_payload_truncated",
        None,
    ),
    "entry with last_seq but no first_seq": (
        _insert(
            IntervalEntry,
            interval_id=1_988_888,
            household=HOUSE_A,
            meter=METER_A,
            produced_wh=0,
            consumed_wh=0,
            readings_hash=DIGEST,
            leaf=DIGEST,
            last_seq=4,
        ),
        "ck_interval_entries_seq_range",
        None,
    ),
    "entry for another household's meter": (
        _insert(
            IntervalEntry,
            interval_id=1_988_888,
            household=HOUSE_B,
            meter=METER_A,
            produced_wh=0,
            consumed_wh=0,
            readings_hash=DIGEST,
            leaf=DIGEST,
        ),
        "fk_interval_entries_meter_household_meters",
        "FOREIGN KEY constraint failed",
    ),
    "chain event indexed twice": (
        _chain_event_twice,
        "uq_chain_events_tx_hash_log_index",
        "UNIQUE constraint failed: chain_events.tx_hash, chain_events.log_index",
    ),
}


@pytest.mark.parametrize("case", BAD_ROWS, ids=list(BAD_ROWS))
def test_constraints_refuse_a_corrupt_row(db_session: Session, db_kind: str, case: str):
    write, constraint, sqlite_words = BAD_ROWS[case]
    _add_meter(db_session)
    db_session.add(Interval(interval_id=1_988_888))
    db_session.commit()

    with pytest.raises(IntegrityError) as refused, db_session.begin_nested():
        write(db_session)
    expected = constraint if db_kind == "postgresql" else sqlite_words or f"CHECK constraint failed: {constraint}"
    assert expected in str(refused.value.orig)
    # The session is still usable after the refused row.
    db_session.add(Reading(**_reading(7)))
    db_session.commit()
    assert db_session.scalar(select(func.count()).select_from(Reading)) == 1


def test_a_replaced_meter_frees_the_household_for_its_successor(db_session: Session):
    old = _add_meter(db_session)
    old.active = False
    db_session.add(Meter(address=METER_B, household=HOUSE_A, capacity_w=10_000, registered_block=9))
    db_session.commit()
    assert db_session.scalars(select(Meter.address).where(Meter.active)).all() == [METER_B]


def test_models_checksum_addresses_and_lowercase_hashes(db_session: Session):
    meter = _add_meter(db_session, METER_A.lower(), HOUSE_A.lower())
    assert (meter.address, meter.household) == (METER_A, HOUSE_A)
    cursor = IndexerCursor(name="registry", last_block=5, last_block_hash=BLOCK_HASH.upper().replace("0X", "0x"))
    assert cursor.last_block_hash == BLOCK_HASH
    with pytest.raises(ValueError):
        Meter(address="0x1234")


# --- round-trips ---


def test_binary_and_largest_integers_round_trip(db_session: Session):
    _add_meter(db_session)
    big = MAX_STORED_INT
    db_session.add(
        Reading(**_reading(big, ts=big, produced_wh=big, consumed_wh=big, power_w=2**32 - 1, received_at=big))
    )
    db_session.add(Interval(interval_id=big, status="closed", closed_at=big, readings_root=SIGNATURE[:32]))
    db_session.add(
        IntervalEntry(
            interval_id=big,
            household=HOUSE_A,
            meter=METER_A,
            produced_wh=big,
            consumed_wh=0,
            readings_hash=DIGEST,
            leaf=b"\x00" * 32,
            first_seq=big,
            last_seq=big,
        )
    )
    db_session.add(
        SettlementOutbox(
            interval_id=big, chunk_index=0, kind="settle_interval", payload={"price": str(2**200), "fills": [[1, 2]]}
        )
    )
    db_session.commit()
    db_session.expunge_all()

    reading = db_session.scalars(select(Reading)).one()
    assert (reading.seq, reading.ts, reading.produced_wh, reading.consumed_wh) == (big, big, big, big)
    assert reading.power_w == 2**32 - 1
    assert isinstance(reading.signature, bytes) and reading.signature == SIGNATURE
    assert reading.digest == DIGEST
    assert db_session.get(Interval, big).readings_root == SIGNATURE[:32]
    entry = db_session.scalars(select(IntervalEntry)).one()
    assert (entry.produced_wh, entry.leaf, entry.readings_hash) == (big, b"\x00" * 32, DIGEST)
    outbox = db_session.scalars(select(SettlementOutbox)).one()
    assert outbox.payload == {"price": str(2**200), "fills": [[1, 2]]}
    assert outbox.status == "pending" and outbox.attempts == 0


def test_an_integer_past_int64_is_refused_not_mangled(db_session: Session):
    _add_meter(db_session)
    with pytest.raises((DBAPIError, StatementError, OverflowError)), db_session.begin_nested():
        db_session.add(Reading(**_reading(1, produced_wh=MAX_STORED_INT + 1)))
        db_session.flush()
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Reading)) == 0


def test_the_database_stamps_created_at_and_updated_at(db_session: Session):
    before = int(time.time())
    db_session.add(Interval(interval_id=5))
    db_session.add(SettlementOutbox(interval_id=5, chunk_index=0, kind="close_interval", payload={}))
    db_session.commit()
    after = int(time.time()) + 1
    interval = db_session.get(Interval, 5)
    db_session.refresh(interval)
    assert before - 1 <= interval.created_at <= after
    db_session.execute(update(SettlementOutbox).values(attempts=1))
    outbox = db_session.scalars(select(SettlementOutbox)).one()
    db_session.refresh(outbox)
    assert before - 1 <= outbox.updated_at <= after


# --- rejections ---


def test_rejections_are_truncated_and_counted_per_reason(db_session: Session):
    huge = bytes([0xFF, 0x00]) * 5_000  # not UTF-8, with NULs
    record_rejection(db_session, received_at=NOW, topic="vatio/c/meters/x/readings", reason="too_large", payload=huge)
    record_rejection(
        db_session,
        received_at=NOW + 1,
        topic="t\x00",
        reason="bad_json",
        payload='{"a": \udcff',
        meter="not-an-address",
        detail="bad\x00detail",
    )
    record_rejection(
        db_session, received_at=NOW + 2, topic="t", reason="bad_json", payload=b"[]", meter=METER_A.lower()
    )
    record_rejection(db_session, received_at=NOW + 3, topic="t", reason="unknown_meter", payload=b"{}", meter=METER_B)
    db_session.commit()
    db_session.expunge_all()

    assert rejection_counts(db_session) == {"bad_json": 2, "too_large": 1, "unknown_meter": 1}
    assert rejection_counts(db_session, since=NOW + 2) == {"bad_json": 1, "unknown_meter": 1}
    too_large = db_session.scalars(select(Rejection).where(Rejection.reason == "too_large")).one()
    assert too_large.payload == huge[:MAX_PAYLOAD_BYTES] and too_large.payload_size == len(huge)
    meters = db_session.scalars(select(Rejection.meter).order_by(Rejection.received_at)).all()
    assert meters == [None, None, METER_A, METER_B]


def test_rejection_counts_of_an_empty_table(db_session: Session):
    assert rejection_counts(db_session) == {}
