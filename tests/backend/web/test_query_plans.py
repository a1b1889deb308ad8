"""The hot queries at scale: fills found through migration 0004's indexes, a household's settlement events through
migration 0008's, registers by one index walk per meter."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import Session
from web_helpers import add_meter, add_reading

from backend.db.models import ChainEvent
from backend.readmodel.args import arg_text
from backend.readmodel.market import fills_of_orders
from backend.web.events import household_settled
from backend.web.series import registers_at, registers_at_times


@pytest.fixture(autouse=True)
def _empty_tables_afterwards(make_app):
    """make_app empties every table when the test ends, app or not."""


def _plan(connection, statement) -> str:
    compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in connection.execute(text(f"EXPLAIN {compiled}")))


def test_fills_by_order_and_by_household_use_their_indexes(migrated_engine):
    by_household = select(ChainEvent.args).where(
        ChainEvent.event == "Filled", arg_text("household").in_(["0x" + "ab" * 20])
    )
    with migrated_engine.connect() as connection:
        indexes = set(
            connection.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'chain_events'"
                    if connection.dialect.name == "postgresql"
                    else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'chain_events'"
                )
            ).scalars()
        )
        assert {"ix_chain_events_filled_order_id", "ix_chain_events_filled_household"} <= indexes
        if connection.dialect.name != "postgresql":
            return  # SQLite's planner picks on statistics it rarely has; the index is there for it
        # Many auto fills and a few resting-order fills, as after some days; rolled back at the end.
        connection.execute(
            insert(ChainEvent),
            [
                {
                    "block_number": k,
                    "block_hash": f"0x{k:064x}",
                    "tx_hash": f"0x{k:064x}",
                    "log_index": 0,
                    "contract": "0x" + "11" * 20,
                    "event": "Filled",
                    "args": {
                        "intervalId": str(k),
                        "orderId": str(k if k % 100 == 0 else 0),
                        "household": f"0x{k % 400:040x}",
                        "side": "1",
                        "amountWh": "5",
                        "value": "1",
                    },
                }
                for k in range(1, 4001)
            ],
        )
        connection.execute(text("ANALYZE chain_events"))
        order_plan = _plan(connection, fills_of_orders([300, 500]))
        household_plan = _plan(connection, by_household)
        connection.rollback()
    assert "ix_chain_events_filled_order_id" in order_plan, order_plan
    assert "ix_chain_events_filled_household" in household_plan, household_plan


def _settlement_rows(intervals: int, households: int) -> list[dict]:
    """Per interval one settlement transaction: IntervalSettled, and a HouseholdSettled and a Filled per household."""
    rows = []
    for k in range(1, intervals + 1):
        tx = f"0x{k:064x}"
        base = {"block_number": k, "block_hash": tx, "tx_hash": tx, "contract": "0x" + "11" * 20}
        for h in range(households):
            household = f"0x{h:040x}"
            rows.append(
                {
                    **base,
                    "log_index": 2 * h,
                    "event": "HouseholdSettled",
                    "args": {"intervalId": str(k), "household": household, "creditedWh": str(h)},
                }
            )
            rows.append(
                {
                    **base,
                    "log_index": 2 * h + 1,
                    "event": "Filled",
                    "args": {"intervalId": str(k), "orderId": "0", "household": household, "amountWh": "1"},
                }
            )
        rows.append({**base, "log_index": 2 * households, "event": "IntervalSettled", "args": {"intervalId": str(k)}})
    return rows


def test_a_households_settlement_events_use_their_indexes(migrated_engine):
    """household_settled's two queries (the intervals' settlement transactions, then the household's events in
    them) are index lookups, not scans of every settlement event and of whole transactions."""
    with migrated_engine.connect() as connection:
        indexes = set(
            connection.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'chain_events'"
                    if connection.dialect.name == "postgresql"
                    else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'chain_events'"
                )
            ).scalars()
        )
        assert {"ix_chain_events_settled_interval_id", "ix_chain_events_household_settled_tx"} <= indexes
        if connection.dialect.name != "postgresql":
            return  # SQLite's planner picks on statistics it rarely has; the indexes are there for it
        connection.execute(insert(ChainEvent), _settlement_rows(intervals=200, households=40))
        connection.execute(text("ANALYZE chain_events"))
        household = f"0x{7:040x}"
        statements: list[tuple[str, object]] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append((statement, parameters))

        session = Session(bind=connection)
        event.listen(connection, "before_cursor_execute", record)
        try:
            settled = household_settled(session, household, [150, 151, 152])
        finally:
            event.remove(connection, "before_cursor_execute", record)
        assert {k: e.args["creditedWh"] for k, e in settled.items()} == {150: "7", 151: "7", 152: "7"}
        plans = [
            "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))
            for statement, parameters in statements
        ]
        connection.rollback()
    anchors, events = plans
    assert "ix_chain_events_settled_interval_id" in anchors, anchors
    assert "ix_chain_events_household_settled_tx" in events, events


def test_registers_at_several_times_in_one_query(sessions, community):
    alice, bob = community.alice.address, community.bob.address
    t0 = int(time.time()) - 3600
    with sessions() as session:
        add_meter(session, alice, community.meters[alice].address)
        add_meter(session, bob, community.meters[bob].address)
        for seq in range(10):
            add_reading(session, alice, community.meters[alice].address, seq, t0 + 60 * seq, seq, 2 * seq)
        add_reading(session, bob, community.meters[bob].address, 0, t0 + 300, 0, 7)
        session.commit()
        times = [t0 - 1, t0, t0 + 299, t0 + 300, t0 + 10_000]
        together = registers_at_times(session, times)
        assert together == [registers_at(session, t) for t in times]
        assert together[0] == {} and together[1][community.meters[alice].address].consumed_wh == 0
        assert set(together[2]) == {community.meters[alice].address}
        assert together[3][community.meters[bob].address].consumed_wh == 7
        assert together[4][community.meters[alice].address].ts == t0 + 540
        before = registers_at_times(session, [t0 + 300], strictly_before=True, household=alice)[0]
        assert set(before) == {community.meters[alice].address}
        assert before[community.meters[alice].address].ts == t0 + 240
        assert registers_at_times(session, []) == []
