"""Migration 0002 on SQLite and PostgreSQL: entries written under 0001 survive it (and its downgrade),
and the new columns' constraints refuse a broken chain of entries."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import to_checksum_address
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from backend.db.migrate import current_revision, downgrade, head_revision, upgrade
from backend.db.models import Interval, IntervalEntry, Meter
from backend.db.session import make_engine

METER = to_checksum_address("0x" + "a1" * 20)
OTHER_METER = to_checksum_address("0x" + "b2" * 20)
HOUSE = to_checksum_address("0x" + "c3" * 20)
OTHER_HOUSE = to_checksum_address("0x" + "d4" * 20)
HASH = bytes(range(32))
K = 1_960_000


def _old_schema_rows(engine: Engine) -> None:
    """Rows as revision 0001 could hold them: an entry without the 0002 columns."""
    with engine.begin() as connection:
        for address, household in ((METER, HOUSE), (OTHER_METER, OTHER_HOUSE)):
            connection.execute(
                text(
                    "INSERT INTO meters (address, household, capacity_w, active, registered_block)"
                    " VALUES (:a, :h, 1000, true, 1)"
                ),
                {"a": address, "h": household},
            )
        connection.execute(
            text("INSERT INTO intervals (interval_id, status, closed_at) VALUES (:k, 'closed', 1)"), {"k": K}
        )
        connection.execute(
            text(
                "INSERT INTO interval_entries (interval_id, household, meter, produced_wh, consumed_wh,"
                " readings_hash, leaf, first_seq, last_seq) VALUES (:k, :h, :m, 5, 6, :x, :x, 1, 2)"
            ),
            {"k": K, "h": HOUSE, "m": METER, "x": HASH},
        )


def _entry(**values: Any) -> dict[str, Any]:
    return {
        "interval_id": K + 1,
        "household": HOUSE,
        "meter": METER,
        "produced_wh": 1,
        "consumed_wh": 2,
        "readings_hash": HASH,
        "leaf": HASH,
        "first_seq": 2,
        "last_seq": 3,
        "end_produced_wh": 10,
        "end_consumed_wh": 20,
        "previous_interval": K,
        **values,
    }


def test_entries_survive_the_upgrade_and_the_downgrade(empty_database_url: str):
    upgrade(empty_database_url, "0001")
    engine = make_engine(empty_database_url)
    try:
        _old_schema_rows(engine)
        upgrade(empty_database_url)  # through 0002, to head
        assert current_revision(empty_database_url) == head_revision()
        with engine.connect() as connection:
            row = connection.execute(select(IntervalEntry)).one()
            assert (row.produced_wh, row.end_produced_wh, row.previous_interval) == (5, None, None)
        downgrade(empty_database_url, "0001")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT produced_wh, last_seq FROM interval_entries")).one() == (5, 2)
        upgrade(empty_database_url)
    finally:
        engine.dispose()


BROKEN_CHAINS = {
    "previous interval not earlier": (
        _entry(previous_interval=K + 1),
        "ck_interval_entries_previous_interval_earlier",
        None,
    ),
    "previous entry missing": (
        _entry(previous_interval=K - 1),
        "fk_interval_entries_meter_previous_interval_interval_entries",
        "FOREIGN KEY constraint failed",
    ),
    "previous entry of another meter": (
        _entry(household=OTHER_HOUSE, meter=OTHER_METER),
        "fk_interval_entries_meter_previous_interval_interval_entries",
        "FOREIGN KEY constraint failed",
    ),
    "end registers half written": (_entry(end_consumed_wh=None), "ck_interval_entries_end_registers_complete", None),
    "end below the energy": (_entry(end_produced_wh=0), "ck_interval_entries_end_covers_energy", None),
    "negative end register": (_entry(end_consumed_wh=-1), "ck_interval_entries_end_consumed_wh_non_negative", None),
}


@pytest.mark.parametrize("case", BROKEN_CHAINS, ids=list(BROKEN_CHAINS))
def test_a_broken_chain_of_entries_is_refused(db_session, db_kind: str, case: str):
    values, constraint, sqlite_words = BROKEN_CHAINS[case]
    for address, household in ((METER, HOUSE), (OTHER_METER, OTHER_HOUSE)):
        db_session.add(Meter(address=address, household=household, capacity_w=1_000, registered_block=1))
    db_session.add_all([Interval(interval_id=k, status="closed", closed_at=1) for k in (K, K + 1)])
    db_session.flush()
    db_session.execute(insert(IntervalEntry).values(**_entry(interval_id=K, previous_interval=None)))
    db_session.commit()
    with pytest.raises(IntegrityError) as refused, db_session.begin_nested():
        db_session.execute(insert(IntervalEntry).values(**values))
    expected = constraint if db_kind == "postgresql" else sqlite_words or f"CHECK constraint failed: {constraint}"
    assert expected in str(refused.value.orig)
    db_session.execute(insert(IntervalEntry).values(**_entry()))  # the honest successor is accepted
    db_session.commit()
