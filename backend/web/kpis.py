"""The KPIs of docs/kpis.md for a household and for the community, per local day or month.

Computed from the same events and tariff files as the monthly statements (backend/statements), so a
month's household KPIs are the statement's `kpi` rows: self-sufficiency, self-consumption, community
purchases and sales, grid import and export, the peak 15-minute import, CO2 avoided, and the bill with
the community against the same household's bill without it. Intervals settled under the flat version 0
have no schedule and are not counted (the statements do not bill them either).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

from flask import Blueprint, current_app, jsonify, request

from backend.statements.compose import MonthEvents, Statement, build_statements, month_bounds
from backend.tariffs.bands import interval_start
from backend.tariffs.billing import IntervalEnergy
from backend.tariffs.kpis import Kpis, community_kpis, household_kpis
from backend.tariffs.schema import Schedule
from backend.web.access import require_private_access
from backend.web.context import db, now
from backend.web.errors import ApiError
from backend.web.settlements import interval_seconds
from backend.web.statements import add_tariff_versions, household_events, schedule_or_503, statement_zone
from backend.web.validation import parse_address

__all__ = ["bp", "kpis_json"]

bp = Blueprint("kpis", __name__, url_prefix="/api")

DAY = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
COMMUNITY_CACHE_S = 60  # the community's month reads every member's events: computed at most once a minute
NO_SCHEDULE = "no tariff schedule is registered on-chain: KPIs are computed over intervals billed by one"


def kpis_json(kpis: Kpis | None) -> dict | None:
    """Energy in integer Wh as everywhere in the API; shares 0..1 (null without a denominator); kW, kg and
    EUR as decimal strings (exact)."""
    if kpis is None:
        return None

    def wh(kwh: Decimal) -> int:
        return int(kwh * 1000)

    def share(value) -> float | None:
        return None if value is None else round(float(value), 6)

    return {
        "selfSufficiency": share(kpis.self_sufficiency),
        "selfConsumption": share(kpis.self_consumption),
        "consumedWh": wh(kpis.consumed_kwh),
        "producedWh": wh(kpis.produced_kwh),
        "boughtWh": wh(kpis.bought_kwh),
        "soldWh": wh(kpis.sold_kwh),
        "gridImportWh": wh(kpis.grid_import_kwh),
        "gridExportWh": wh(kpis.grid_export_kwh),
        "peakImportKw": str(kpis.peak_import_kw),
        "co2AvoidedKg": str(kpis.co2_avoided_kg),
        "billWithEur": None if kpis.bill_with is None else str(kpis.bill_with),
        "billWithoutEur": None if kpis.bill_without is None else str(kpis.bill_without),
        "savingEur": None if kpis.saving is None else str(kpis.saving),
    }


def _period(zone) -> tuple[str, str, dt.date | None]:
    """(period, month YYYY-MM, the day or None) from `period` (month|day) and `date`; default: now's."""
    period = request.args.get("period", "month")
    if period not in ("month", "day"):
        raise ApiError(400, "invalid_parameter", f"period must be month or day, got {period!r}")
    today = dt.datetime.fromtimestamp(now(), dt.UTC).astimezone(zone).date()
    value = request.args.get("date")
    if period == "month":
        value = value or f"{today:%Y-%m}"
        if not MONTH.fullmatch(value):
            raise ApiError(400, "invalid_parameter", f"date must be YYYY-MM for a month, got {value!r}")
        return period, value, None
    value = value or today.isoformat()
    try:
        if not DAY.fullmatch(value):
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"date must be YYYY-MM-DD for a day, got {value!r}") from None
    return period, f"{day:%Y-%m}", day


def _schedule_of(events: MonthEvents) -> Callable[[int], Schedule]:
    return lambda interval_id: schedule_or_503(events.version_of(interval_id).schedule_hash)


def _on_day(entries: Sequence[IntervalEnergy], day: dt.date, zone, seconds: int) -> list[IntervalEnergy]:
    return [e for e in entries if interval_start(e.interval_id, seconds).astimezone(zone).date() == day]


def _statements(household: str | None, month: str, zone, seconds: int) -> tuple[list[Statement], MonthEvents]:
    start, end = month_bounds(month, zone)
    window = range(int(start.timestamp()) // seconds, int(end.timestamp()) // seconds)
    events = household_events(db(), seconds, household, window)
    try:
        found = build_statements(events, month, schedule_or_503, zone, None if household is None else [household])
    except ValueError as error:
        raise ApiError(503, "statement_unavailable", str(error)) from error
    return found, events


def _zone_or_none(seconds: int):
    return statement_zone(add_tariff_versions(db(), MonthEvents(seconds)))


def _answer(period: str, month: str, day: dt.date | None, zone, count: int, kpis: Kpis | None, **extra) -> dict:
    end = month_bounds(month, zone)[1] if day is None else dt.datetime.combine(day + dt.timedelta(1), dt.time(0), zone)
    return {
        "period": period,
        "date": month if day is None else day.isoformat(),
        "timeZone": str(zone),
        "final": end.timestamp() <= now(),
        "intervals": count,
        "kpis": kpis_json(kpis),
        **extra,
    }


@bp.get("/households/<address>/kpis")
def household_kpi(address: str):
    """One household's KPIs for a local month (default: this month so far) or day."""
    household = parse_address(address, "household")
    require_private_access(household)
    seconds = interval_seconds()
    zone = _zone_or_none(seconds)
    if zone is None:
        return jsonify({"kpis": None, "note": NO_SCHEDULE})
    period, month, day = _period(zone)
    found, events = _statements(household, month, zone, seconds)
    if not found:
        return jsonify(_answer(period, month, day, zone, 0, None))
    statement = found[0]
    if day is None:
        return jsonify(_answer(period, month, day, zone, len(statement.intervals), statement.kpis))
    entries = _on_day(statement.intervals, day, zone, seconds)
    kpis = household_kpis(entries, _schedule_of(events), seconds, statement.contracted_kw) if entries else None
    return jsonify(_answer(period, month, day, zone, len(entries), kpis))


_cache_lock = threading.Lock()


def _cache() -> dict[tuple, tuple[float, dict]]:
    """This app's community KPI answers by period (per app: tests run several apps on other databases)."""
    return current_app.extensions.setdefault("vatio.community_kpis", {})


def _community(period: str, month: str, day: dt.date | None, zone, seconds: int) -> dict:
    found, events = _statements(None, month, zone, seconds)
    schedule_of = _schedule_of(events)
    per_household: dict[str, list[IntervalEnergy]] = {}
    bill_with = bill_without = Decimal(0)
    for statement in found:
        entries = list(statement.intervals) if day is None else _on_day(statement.intervals, day, zone, seconds)
        if not entries:
            continue
        per_household[statement.household] = entries
        own = statement.kpis if day is None else household_kpis(entries, schedule_of, seconds, statement.contracted_kw)
        bill_with += own.bill_with or 0
        bill_without += own.bill_without or 0
    kpis = None
    if per_household:
        energy = community_kpis(per_household, schedule_of, seconds)
        kpis = Kpis(**{**energy.__dict__, "bill_with": bill_with, "bill_without": bill_without})
    count = len({e.interval_id for entries in per_household.values() for e in entries})
    return _answer(period, month, day, zone, count, kpis, households=len(per_household))


@bp.get("/community/kpis")
def community_kpi():
    """The community's KPIs for a local month (default: this month so far) or day: its members' quantities and
    bills summed, the peak their coincident one; cached COMMUNITY_CACHE_S per period."""
    seconds = interval_seconds()
    zone = _zone_or_none(seconds)
    if zone is None:
        return jsonify({"kpis": None, "note": NO_SCHEDULE})
    period, month, day = _period(zone)
    key = (period, month, day, str(zone))
    cache = _cache()
    with _cache_lock:
        cached = cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < COMMUNITY_CACHE_S:
            return jsonify(cached[1])
    answer = _community(period, month, day, zone, seconds)
    with _cache_lock:
        if len(cache) > 64:
            cache.clear()
        cache[key] = (time.monotonic(), answer)
    return jsonify(answer)
