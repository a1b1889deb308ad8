"""The settlement events the indexer stored in chain_events, as the settlements API reads them.

Reading their arguments (`arg_int`, `arg_matches`) is the read model's
(backend/readmodel/args.py); they are imported here for the web's modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, String, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from backend.db.models import ChainEvent
from backend.readmodel.args import arg_int, arg_matches, arg_text

__all__ = [
    "SETTLEMENT_EVENTS",
    "arg_int",
    "arg_matches",
    "event_json",
    "events_of_intervals",
    "household_settled",
    "settlement_events",
]

SETTLEMENT_EVENTS = ("IntervalSettled", "ChunkSettled", "HouseholdSettled", "Filled")


def event_json(event: ChainEvent) -> dict[str, Any]:
    return {
        "event": event.event,
        "blockNumber": event.block_number,
        "txHash": event.tx_hash,
        "logIndex": event.log_index,
        "contract": event.contract,
        "args": event.args,
    }


def events_of_intervals(session: Session, names: Sequence[str], interval_ids: Iterable[int]) -> list[ChainEvent]:
    """Return the events named `names` whose intervalId is one of interval_ids, in chain order."""
    ids = list(interval_ids)
    if not ids:
        return []
    query = (
        select(ChainEvent)
        .where(ChainEvent.event.in_(names), arg_matches("intervalId", ids))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    return list(session.scalars(query))


def settlement_events(session: Session, interval_id: int) -> list[ChainEvent]:
    """Return every settlement event of one interval: the settlement transactions' logs, in chain order."""
    anchors = events_of_intervals(session, ("IntervalSettled", "ChunkSettled"), [interval_id])
    tx_hashes = sorted({event.tx_hash for event in anchors})
    if not tx_hashes:
        return []
    query = (
        select(ChainEvent)
        .where(
            ChainEvent.tx_hash.in_(tx_hashes),
            ChainEvent.event.in_(SETTLEMENT_EVENTS),
            arg_matches("intervalId", [interval_id]),
        )
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    return list(session.scalars(query))


def household_settled(session: Session, household: str, interval_ids: Sequence[int]) -> dict[int, Row]:
    """Return the HouseholdSettled event of one household per interval, found through the settlement txs.

    Each is a row with the event's `tx_hash` and `args`: only the columns a household's history shows (whole
    ChainEvent objects for a page of 100 intervals and its settlement transactions cost several ms of CPU).
    """
    ids = [str(i) for i in interval_ids]
    if not ids:
        return {}
    connection = session.connection()
    anchors, events = _household_settled_statements(connection.dialect.name)
    tx_hashes = sorted({tx_hash for (tx_hash,) in connection.execute(anchors, {"interval_ids": ids}).all()})
    if not tx_hashes:
        return {}
    rows = connection.execute(events, {"tx_hashes": tx_hashes, "households": [household, household.lower()]}).all()
    return {arg_int(row.args, "intervalId"): row for row in rows}


@cache
def _household_settled_statements(dialect: str) -> tuple[Select, Select]:
    """household_settled's two queries, built once (migration 0008's indexes serve them).

    On PostgreSQL the page's interval ids and transaction hashes travel as one array each (`= ANY`): one
    SQL text whatever their number, so neither SQLAlchemy nor psycopg renders and parses a statement with
    a hundred placeholders on every request. SQLite has no arrays: an IN list there.
    """

    def one_of(column, name: str):
        if dialect == "postgresql":
            return column == any_(bindparam(name, type_=postgresql.ARRAY(String)))
        return column.in_(bindparam(name, expanding=True))

    anchors = select(ChainEvent.tx_hash).where(
        ChainEvent.event.in_(("IntervalSettled", "ChunkSettled")), one_of(arg_text("intervalId"), "interval_ids")
    )
    events = select(ChainEvent.tx_hash, ChainEvent.args).where(
        one_of(ChainEvent.tx_hash, "tx_hashes"),
        ChainEvent.event == "HouseholdSettled",
        arg_text("household").in_(bindparam("households", expanding=True)),
    )
    return anchors, events
