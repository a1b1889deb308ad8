"""Reading the contract events the indexer stored in chain_events.

The indexer stores each log's decoded arguments under their ABI names;
integers may be JSON numbers or decimal strings (uint256), bytes32 values
0x hex. `arg_int` reads either. Arguments are matched in SQL as text
(the JSON value as a string), which is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from backend.db.models import ChainEvent

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


def arg_int(args: dict[str, Any], name: str, default: int | None = None) -> int | None:
    """Return an integer argument stored as a JSON number or a decimal (or 0x hex) string."""
    value = args.get(name, default)
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith("0x") else int(value)
    raise ValueError(f"event argument {name} is not an integer: {value!r}")


def arg_text(name: str) -> ColumnElement[str]:
    """The JSON argument as SQL text, for comparisons that work on both databases.

    Renders ``args ->> 'name'`` on PostgreSQL and ``CAST(JSON_EXTRACT(args,
    '$."name"') AS VARCHAR)`` on SQLite: the expressions migration 0004
    indexes for Filled events (orderId, household), so keep them as they are.
    """
    return ChainEvent.args[name].as_string()


def arg_matches(name: str, values: Iterable[Any]) -> ColumnElement[bool]:
    """SQL: the argument equals one of values (compared as text)."""
    return arg_text(name).in_([str(v) for v in values])


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
    query = (select(ChainEvent)
             .where(ChainEvent.event.in_(names), arg_matches("intervalId", ids))
             .order_by(ChainEvent.block_number, ChainEvent.log_index))
    return list(session.scalars(query))


def settlement_events(session: Session, interval_id: int) -> list[ChainEvent]:
    """Return every settlement event of one interval: the settlement transactions' logs, in chain order."""
    anchors = events_of_intervals(session, ("IntervalSettled", "ChunkSettled"), [interval_id])
    tx_hashes = sorted({event.tx_hash for event in anchors})
    if not tx_hashes:
        return []
    query = (select(ChainEvent)
             .where(ChainEvent.tx_hash.in_(tx_hashes), ChainEvent.event.in_(SETTLEMENT_EVENTS),
                    arg_matches("intervalId", [interval_id]))
             .order_by(ChainEvent.block_number, ChainEvent.log_index))
    return list(session.scalars(query))


def household_settled(session: Session, household: str, interval_ids: Sequence[int]) -> dict[int, ChainEvent]:
    """Return the HouseholdSettled event of one household per interval, found through the settlement txs."""
    anchors = events_of_intervals(session, ("IntervalSettled", "ChunkSettled"), interval_ids)
    tx_hashes = sorted({event.tx_hash for event in anchors})
    if not tx_hashes:
        return {}
    query = (select(ChainEvent)
             .where(ChainEvent.tx_hash.in_(tx_hashes), ChainEvent.event == "HouseholdSettled",
                    arg_matches("household", [household, household.lower()])))
    return {arg_int(event.args, "intervalId"): event for event in session.scalars(query)}
