"""The readings archive's writer: one JSON document per settled interval, built from what closing committed.

``docs/archive.md`` is the public description (a stable interface: outside
tools read it) and ``backend.protocol.archive`` the document's schema. The
document holds, per household leaf, the signed readings the entry was
computed from, its start and end registers, and its Merkle proof, so that
anyone can recompute every leaf and the root from the meters' signatures
alone and compare the root with ``IntervalSettled.readingsRoot``. The one
verifier of archives is the auditor's (``backend.audit``).

Building reads only what closing committed (``closing.load_closed_interval``)
and the readings it listed; it never recomputes the energy.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session

from backend.db.models import Interval, IntervalEntry, OutboxStatus, Reading, SettlementOutbox
from backend.oracle.closing import ClosedInterval, load_closed_interval
from backend.protocol.archive import ArchivedInterval, ArchivedLeaf, archive_json, archive_path
from backend.protocol.readings import MeterDomain, MeterReading, SignedReading, readings_hash, to_checksum

__all__ = [
    "ArchiveContext",
    "ArchiveError",
    "ArchiveNotReady",
    "archive_path",
    "build_archive",
    "publish_settled",
    "write_archive",
]


class ArchiveError(RuntimeError):
    """An archive that cannot be built or written as specified."""


class ArchiveNotReady(ArchiveError):
    """The interval is not settled yet (or not even closed)."""


@dataclass(frozen=True)
class ArchiveContext:
    """Which community an archive belongs to: its chain, contracts and interval length."""

    chain_id: int
    registry: str  # CommunityRegistry: also the meters' EIP-712 verifyingContract
    market: str  # EnergyMarket
    interval_seconds: int

    @property
    def domain(self) -> MeterDomain:
        return MeterDomain(self.chain_id, self.registry)

    @classmethod
    def from_deployment(cls, deployment: Any, interval_seconds: int | None = None) -> ArchiveContext:
        """Take the addresses from a ``backend.chain.deploy.Deployment`` (interval length: its settings,
        unless the caller read ``CommunityRegistry.intervalSeconds()`` itself)."""
        seconds = interval_seconds if interval_seconds is not None else deployment.settings["intervalSeconds"]
        return cls(
            deployment.chain_id,
            to_checksum(deployment.address("CommunityRegistry")),
            to_checksum(deployment.address("EnergyMarket")),
            int(seconds),
        )


def _settlement_txs(session: Session, interval: Interval) -> list[str]:
    """Confirmed settlement transactions in the order they apply: chunks (or the one settleInterval), then close."""
    rows = session.scalars(
        select(SettlementOutbox.tx_hash)
        .where(SettlementOutbox.interval_id == interval.interval_id, SettlementOutbox.status == OutboxStatus.CONFIRMED)
        .order_by(case((SettlementOutbox.kind == "close_interval", 1), else_=0), SettlementOutbox.chunk_index)
    ).all()
    if not rows and interval.settled_tx is not None:
        return [interval.settled_tx]
    return list(rows)


def _listed_readings(session: Session, interval_id: int) -> dict[str, list[Reading]]:
    """Every entry's listed readings (its meter's seq range), by meter, in one statement."""
    rows = session.scalars(
        select(Reading)
        .join(
            IntervalEntry,
            and_(
                IntervalEntry.interval_id == interval_id,
                Reading.meter == IntervalEntry.meter,
                Reading.seq >= IntervalEntry.first_seq,
                Reading.seq <= IntervalEntry.last_seq,
            ),
        )
        .order_by(Reading.meter, Reading.seq)
    ).all()
    by_meter: dict[str, list[Reading]] = {}
    for row in rows:
        by_meter.setdefault(row.meter, []).append(row)
    return by_meter


def _signed(row: Reading) -> SignedReading:
    return SignedReading(
        MeterReading(row.meter, row.seq, row.ts, row.produced_wh, row.consumed_wh, row.power_w), bytes(row.signature)
    )


def build_archive(session: Session, interval_id: int, context: ArchiveContext, *, require_settled: bool = True) -> dict:
    """Return the archive document of one interval, from what closing and settlement committed.

    With require_settled (the default) the interval must be 'settled'.
    Without it a closed or settling interval is accepted too: clearingPrice is
    then null until known and settlementTxs lists the transactions confirmed
    so far (a preview; only settled intervals are published). Raises
    ArchiveError when the stored readings no longer hash to an entry's
    readings_hash, which an archive must never hide.
    """
    interval = session.scalar(select(Interval).where(Interval.interval_id == interval_id))
    if interval is None or interval.status == "open":
        raise ArchiveNotReady(f"interval {interval_id} is not closed")
    if require_settled and interval.status != "settled":
        raise ArchiveNotReady(f"interval {interval_id} is {interval.status}, not settled")
    closed: ClosedInterval = load_closed_interval(session, interval_id, context.interval_seconds)
    readings = _listed_readings(session, interval_id)
    tree = closed.tree()
    if tree.root != closed.readings_root:
        raise ArchiveError(f"interval {interval_id}: the stored leaves do not give the stored root")
    domain = context.domain
    leaves = []
    for entry in closed.entries:
        listed = [_signed(row) for row in readings.get(entry.meter, [])]
        if readings_hash(listed, domain) != entry.readings_hash:
            raise ArchiveError(
                f"interval {interval_id}: the stored readings of meter {entry.meter} "
                f"(seq {entry.first_seq}..{entry.last_seq}) no longer hash to its entry"
            )
        leaves.append(
            ArchivedLeaf(
                household=entry.household,
                meter=entry.meter,
                produced_wh=entry.produced_wh,
                consumed_wh=entry.consumed_wh,
                start_registers=entry.start,
                end_registers=entry.end,
                previous_interval=entry.previous_interval,
                readings_hash=bytes(entry.readings_hash),
                leaf=bytes(entry.leaf_hash),
                proof=tuple(tree.proof(entry.leaf_hash)),
                readings=tuple(listed),
            )
        )
    return archive_json(
        ArchivedInterval(
            chain_id=context.chain_id,
            registry=to_checksum(context.registry),
            market=to_checksum(context.market),
            interval_id=interval_id,
            interval_seconds=context.interval_seconds,
            start=closed.start_ts,
            end=closed.end_ts,
            readings_root=closed.readings_root,
            clearing_price=interval.clearing_price,
            settlement_txs=tuple(_settlement_txs(session, interval)),
            leaves=tuple(leaves),
        )
    )


def write_archive(document: dict, archive_dir: str | Path) -> Path:
    """Write the document atomically (a temporary file, fsync, rename): readers see all of it or nothing."""
    path = archive_path(archive_dir, document["chainId"], document["intervalId"])
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def publish_settled(
    session: Session,
    context: ArchiveContext,
    archive_dir: str | Path,
    *,
    after: int | None = None,
) -> list[Path]:
    """Write the archive of every settled interval (with id > after) that has no file yet; return the new files."""
    query = select(Interval.interval_id).where(Interval.status == "settled").order_by(Interval.interval_id)
    if after is not None:
        query = query.where(Interval.interval_id > after)
    written = []
    for interval_id in session.scalars(query).all():
        if not archive_path(archive_dir, context.chain_id, interval_id).exists():
            written.append(write_archive(build_archive(session, interval_id, context), archive_dir))
    return written
