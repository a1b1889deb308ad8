"""Settled intervals for auditors: the on-chain root and events, the readings archive, one household's proof.

The archive documents are written by the oracle to
<archive_dir>/<chainId>/<intervalId>.json (docs/settlement.md) and served
here byte for byte, so what the browser verifies is exactly what was
published.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, jsonify, request, send_file
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import INTERVAL_STATUSES, Interval, IntervalEntry
from backend.protocol.archive import archive_path
from backend.protocol.merkle import verify
from backend.web.context import config, db
from backend.web.errors import ApiError
from backend.web.events import arg_int, event_json, events_of_intervals, settlement_events
from backend.web.validation import parse_address, parse_interval_id, parse_page

__all__ = ["bp", "household_counts", "interval_json", "interval_seconds"]

bp = Blueprint("settlements", __name__, url_prefix="/api/intervals")


def interval_seconds() -> int:
    deployment = config().deployment
    return int(deployment.settings.get("intervalSeconds", 900)) if deployment else 900


def household_counts(session: Session, interval_ids: list[int]) -> dict[int, int]:
    """Return how many households have an entry (a leaf) in each interval; intervals without any are left out."""
    if not interval_ids:
        return {}
    return dict(
        session.execute(
            select(IntervalEntry.interval_id, func.count())
            .where(IntervalEntry.interval_id.in_(interval_ids))
            .group_by(IntervalEntry.interval_id)
        ).all()
    )


def interval_json(row: Interval, households: int) -> dict:
    """One interval as the API shows it; `households` counts its entries (household_counts)."""
    seconds = interval_seconds()
    return {
        "intervalId": row.interval_id,
        "start": row.interval_id * seconds,
        "end": (row.interval_id + 1) * seconds,
        "status": row.status,
        "readingsRoot": None if row.readings_root is None else "0x" + row.readings_root.hex(),
        "clearingPrice": row.clearing_price,
        "closedAt": row.closed_at,
        "settledTx": row.settled_tx,
        "settledBlock": row.settled_block,
        "households": households,
    }


@bp.get("")
def list_intervals():
    """List intervals, newest first (keyset pagination on the interval id)."""
    settings = config()
    page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
    status = request.args.get("status")
    if status is not None and status not in INTERVAL_STATUSES:
        raise ApiError(400, "invalid_parameter", f"status must be one of {', '.join(INTERVAL_STATUSES)}")
    query = select(Interval).order_by(Interval.interval_id.desc()).limit(page.limit + 1)
    if page.cursor is not None:
        query = query.where(Interval.interval_id < page.cursor)
    if status is not None:
        query = query.where(Interval.status == status)
    rows = list(db().scalars(query))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    counts = household_counts(db(), [r.interval_id for r in rows])
    return jsonify(
        {
            "items": [interval_json(r, counts.get(r.interval_id, 0)) for r in rows],
            "nextCursor": rows[-1].interval_id if more else None,
        }
    )


@bp.get("/<interval_id>")
def interval_detail(interval_id: str):
    """Return one interval: the oracle's record, its totals, and its settlement events from the chain."""
    interval = parse_interval_id(interval_id)
    session = db()
    row = session.get(Interval, interval)
    events = settlement_events(session, interval)
    if row is None and not events:
        raise ApiError(404, "unknown_interval", f"interval {interval} is not known")
    totals = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(IntervalEntry.produced_wh), 0),
            func.coalesce(func.sum(IntervalEntry.consumed_wh), 0),
        ).where(IntervalEntry.interval_id == interval)
    ).one()
    settled = next((e for e in reversed(events) if e.event == "IntervalSettled"), None)
    seconds = interval_seconds()
    body = (
        interval_json(row, totals[0])
        if row is not None
        else {
            "intervalId": interval,
            "start": interval * seconds,
            "end": (interval + 1) * seconds,
            "status": None,
            "households": totals[0],
        }
    )
    body["producedWh"], body["consumedWh"] = int(totals[1]), int(totals[2])
    body["onChain"] = (
        None
        if settled is None
        else {
            "readingsRoot": settled.args.get("readingsRoot"),
            "clearingPrice": arg_int(settled.args, "clearingPrice"),
            "surplusWh": arg_int(settled.args, "surplusWh"),
            "coveredWh": arg_int(settled.args, "coveredWh"),
            "tradedWh": arg_int(settled.args, "tradedWh"),
            "gridImportWh": arg_int(settled.args, "gridImportWh"),
            "chunks": arg_int(settled.args, "chunks"),
            "txHash": settled.tx_hash,
            "blockNumber": settled.block_number,
        }
    )
    body["events"] = [event_json(e) for e in events]
    body["archiveAvailable"] = _archive_path(interval).is_file()
    return jsonify(body)


@bp.get("/<interval_id>/archive")
def interval_archive(interval_id: str):
    """Serve the readings archive document of a settled interval, exactly as published."""
    path = _archive_path(parse_interval_id(interval_id))
    if not path.is_file():
        raise ApiError(404, "unknown_interval", "no readings archive for this interval (not settled yet?)")
    return send_file(path, mimetype="application/json", max_age=60)


@bp.get("/<interval_id>/proof/<address>")
def household_proof(interval_id: str, address: str):
    """Return one household's leaf and Merkle proof from the archive, checked against its root."""
    interval = parse_interval_id(interval_id)
    household = parse_address(address, "household")
    document = _load_archive(interval)
    leaf = next(
        (
            item
            for item in document.get("leaves", [])
            if isinstance(item, dict) and str(item.get("household", "")).lower() == household.lower()
        ),
        None,
    )
    if leaf is None:
        raise ApiError(404, "unknown_household", f"{household} has no leaf in interval {interval}")
    root = document.get("readingsRoot")
    try:
        verified = verify([_bytes32(p) for p in leaf["proof"]], _bytes32(root), _bytes32(leaf["leaf"]))
    except (KeyError, TypeError, ValueError):
        verified = False
    on_chain = events_of_intervals(db(), ("IntervalSettled",), [interval])
    chain_root = on_chain[-1].args.get("readingsRoot") if on_chain else None
    return jsonify(
        {
            "intervalId": interval,
            "household": household,
            "meter": leaf.get("meter"),
            "producedWh": leaf.get("producedWh"),
            "consumedWh": leaf.get("consumedWh"),
            "readingsHash": leaf.get("readingsHash"),
            "leaf": leaf.get("leaf"),
            "proof": leaf.get("proof"),
            "readingsRoot": root,
            "verified": verified,
            "onChainRoot": chain_root,
            "matchesChain": None if chain_root is None else str(chain_root).lower() == str(root).lower(),
        }
    )


def _archive_path(interval: int) -> Path:
    settings = config()
    if settings.chain_id is None:
        raise ApiError(503, "chain_unavailable", "this server has no chain deployment configured")
    return archive_path(settings.archive_dir, settings.chain_id, interval)


def _load_archive(interval: int) -> dict:
    path = _archive_path(interval)
    if not path.is_file():
        raise ApiError(404, "unknown_interval", "no readings archive for this interval (not settled yet?)")
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ApiError(500, "archive_unreadable", f"the archive of interval {interval} is not valid JSON") from exc
    if not isinstance(document, dict):
        raise ApiError(500, "archive_unreadable", f"the archive of interval {interval} is not a JSON object")
    return document


def _bytes32(value: str) -> bytes:
    raw = bytes.fromhex(value[2:] if value.startswith("0x") else value)
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return raw
