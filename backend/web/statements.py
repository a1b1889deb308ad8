"""A household's monthly statements: the list of months with their totals, and each month's PDF or CSV.

Generated on demand with the statement generator (backend/statements) from the
indexer's database (`vatio statements --source db`), reading only this
household's events, so the files are the ones `vatio statements` writes and
`vatio audit --statements` re-derives. Private: the household (its wallet or
its read-only token) and the admin.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import BigInteger, cast, select
from sqlalchemy.orm import Session

from backend.db.models import ChainEvent
from backend.readmodel.args import arg_matches, arg_text
from backend.statements.compose import FLAT_HASH, MonthEvents, Statement, build_statements, month_bounds
from backend.statements.files import write_csv
from backend.statements.generate import default_language
from backend.statements.pdf import LANGUAGES, render_pdf
from backend.statements.sources import normalize
from backend.tariffs.bands import interval_start
from backend.tariffs.schema import Schedule, TariffError
from backend.web.access import require_private_access
from backend.web.context import db, now
from backend.web.errors import ApiError
from backend.web.settlements import interval_seconds
from backend.web.validation import parse_address

__all__ = ["add_tariff_versions", "bp", "household_events", "schedule_or_503", "statement_zone"]

bp = Blueprint("statements", __name__, url_prefix="/api/households")

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
ID_CHUNK = 500  # interval ids per IN (...) list


def _schedule(schedule_hash: bytes) -> Schedule:
    """The tariff file with this on-chain hash, from config/tariffs (as `vatio statements` finds it) or the
    schedules the admin uploaded (VATIO_TARIFFS_DIR)."""
    from backend.web.tariffs import tariff_file

    return tariff_file(schedule_hash)


def household_events(session: Session, seconds: int, household: str | None, window: range | None = None) -> MonthEvents:
    """One household's statement events from the indexer's chain_events (every household's when None): its
    settlements and fills (in `window` when given), the IntervalSettled transactions that closed those
    intervals, its registration, every tariff version."""
    events = MonthEvents(seconds)
    mine = () if household is None else (arg_matches("household", [household, household.lower()]),)
    interval_id = cast(arg_text("intervalId"), BigInteger)

    def rows(name: str, *where) -> Iterable:
        query = (
            select(ChainEvent.tx_hash, ChainEvent.args)
            .where(ChainEvent.event == name, *where)
            .order_by(ChainEvent.block_number, ChainEvent.log_index)
        )
        return session.execute(query).all()

    window_filter = () if window is None else (interval_id >= window.start, interval_id < window.stop)
    for name in ("HouseholdSettled", "Filled"):
        for tx_hash, args in rows(name, *mine, *window_filter):
            events.add(normalize(name, args, tx_hash))
    ids = sorted({entry.interval_id for entry in events.settled})
    for start in range(0, len(ids), ID_CHUNK):
        for tx_hash, args in rows("IntervalSettled", arg_matches("intervalId", ids[start : start + ID_CHUNK])):
            events.add(normalize("IntervalSettled", args, tx_hash))
    for tx_hash, args in rows("HouseholdRegistered", *mine):
        events.add(normalize("HouseholdRegistered", args, tx_hash))
    add_tariff_versions(session, events)
    return events


def add_tariff_versions(session: Session, events: MonthEvents) -> MonthEvents:
    """Every TariffVersionAdded event into `events`."""
    query = (
        select(ChainEvent.tx_hash, ChainEvent.args)
        .where(ChainEvent.event == "TariffVersionAdded")
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    for tx_hash, args in session.execute(query).all():
        events.add(normalize("TariffVersionAdded", args, tx_hash))
    return events


def statement_zone(events: MonthEvents):
    """The community's time zone (the newest registered schedule's), None while only flat tariffs exist; 503 when
    the schedule file of an on-chain hash is not on this server."""
    for version in sorted(events.versions, key=lambda v: -v.version):
        if version.schedule_hash != FLAT_HASH:
            return schedule_or_503(version.schedule_hash).zone
    return None


def schedule_or_503(schedule_hash: bytes) -> Schedule:
    try:
        return _schedule(schedule_hash)
    except TariffError as error:
        raise ApiError(503, "tariff_unavailable", str(error)) from error


def _statement(events: MonthEvents, month: str, zone, household: str) -> Statement | None:
    try:
        found = build_statements(events, month, schedule_or_503, zone, [household])
    except ValueError as error:
        raise ApiError(503, "statement_unavailable", str(error)) from error
    return found[0] if found else None


def _months(events: MonthEvents, zone) -> list[str]:
    """The local months in which the household has closed settlements, newest first."""
    seconds = events.interval_seconds
    ids = {entry.interval_id for entry in events.settled if entry.interval_id in events.closed}
    return sorted({f"{interval_start(i, seconds).astimezone(zone):%Y-%m}" for i in ids}, reverse=True)


def _parse_month(value: str) -> str:
    if not MONTH.fullmatch(value):
        raise ApiError(400, "invalid_month", f"the month must be YYYY-MM (01 to 12), got {value!r}")
    return value


def _language(zone) -> str:
    """The `lang` query parameter, else the best of Accept-Language, else the community's default."""
    lang = request.args.get("lang")
    if lang is not None:
        if lang not in LANGUAGES:
            raise ApiError(400, "invalid_parameter", f"lang must be one of {', '.join(LANGUAGES)}")
        return lang
    return request.accept_languages.best_match(LANGUAGES) or default_language(zone)


@bp.get("/<address>/statements")
def statement_list(address: str):
    """The months with a statement (closed settlements under a tariff schedule), newest first, with totals."""
    household = parse_address(address, "household")
    require_private_access(household)
    events = household_events(db(), interval_seconds(), household)
    zone = statement_zone(events)
    if zone is None:
        return jsonify({"items": [], "note": "no tariff schedule is registered on-chain: there is nothing to bill by"})
    items = []
    for month in _months(events, zone):
        statement = _statement(events, month, zone, household)
        if statement is None:
            continue  # settled only under a flat tariff
        base = f"/api/households/{household}/statements/{month}"
        items.append(
            {
                "month": month,
                "final": month_bounds(month, zone)[1].timestamp() <= now(),
                "intervals": len(statement.intervals),
                "totalEur": str(statement.bill.total),
                "withoutCommunityEur": str(statement.without.total),
                "savingEur": str(statement.saving),
                "pdf": f"{base}.pdf",
                "csv": f"{base}.csv",
            }
        )
    return jsonify({"items": items, "timeZone": str(zone)})


def _month_statement(address: str, month: str) -> tuple[Statement, MonthEvents, object]:
    household = parse_address(address, "household")
    month = _parse_month(month)
    require_private_access(household)
    seconds = interval_seconds()
    zone = statement_zone(add_tariff_versions(db(), MonthEvents(seconds)))  # the zone first, then the month in it
    if zone is None:
        raise ApiError(404, "no_statement", "no tariff schedule is registered on-chain: there is nothing to bill by")
    start, end = month_bounds(month, zone)
    window = range(int(start.timestamp()) // seconds, int(end.timestamp()) // seconds)
    events = household_events(db(), seconds, household, window)
    statement = _statement(events, month, zone, household)
    if statement is None:
        raise ApiError(
            404, "no_statement", f"{household} has no settled interval billed by a tariff schedule in {month}"
        )
    return statement, events, zone


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<address>/statements/<month>.pdf")
def statement_pdf(address: str, month: str):
    """The month's statement as a PDF, in `lang` or the request's Accept-Language (es or en)."""
    statement, events, zone = _month_statement(address, month)
    lang = _language(zone)
    names = ", ".join(sorted({schedule_or_503(v.schedule_hash).name for v in statement.versions}))
    with tempfile.TemporaryDirectory(prefix="vatio-statement-") as folder:
        path = render_pdf(statement, Path(folder) / "statement.pdf", lang, zone, events.interval_seconds, names)
        body = path.read_bytes()
    return _download(body, "application/pdf", f"vatio-{statement.month}-{statement.household}.pdf")


@bp.get("/<address>/statements/<month>.csv")
def statement_csv(address: str, month: str):
    """The month's statement as CSV: one line per band and component (the file `vatio audit --statements`
    checks)."""
    statement, _, _ = _month_statement(address, month)
    with tempfile.TemporaryDirectory(prefix="vatio-statement-") as folder:
        body = write_csv(statement, Path(folder)).read_bytes()
    return _download(body, "text/csv", f"vatio-{statement.month}-{statement.household}.csv")
