"""The settlement events the indexer stored in chain_events, as the settlements API reads them.

Reading their arguments (`arg_int`, `arg_matches`) is the read model's
(backend/readmodel/args.py); they are imported here for the web's modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import ChainEvent
from backend.readmodel.args import arg_int, arg_matches

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


def household_settled(session: Session, household: str, interval_ids: Sequence[int]) -> dict[int, ChainEvent]:
    """Return the HouseholdSettled event of one household per interval, found through the settlement txs."""
    anchors = events_of_intervals(session, ("IntervalSettled", "ChunkSettled"), interval_ids)
    tx_hashes = sorted({event.tx_hash for event in anchors})
    if not tx_hashes:
        return {}
    query = select(ChainEvent).where(
        ChainEvent.tx_hash.in_(tx_hashes),
        ChainEvent.event == "HouseholdSettled",
        arg_matches("household", [household, household.lower()]),
    )
    return {arg_int(event.args, "intervalId"): event for event in session.scalars(query)}
