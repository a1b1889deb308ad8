"""The community dashboard's numbers, the households list, and one household's private detail.

"Now" follows the data, as interval closing does: it is the later of the
meters' last readings, capped at the wall clock, so a replay of the past
shows its own present.
"""

from __future__ import annotations

from functools import lru_cache

from eth_utils import to_checksum_address
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from backend.db.models import ChainEvent, Interval, IntervalEntry, Meter
from backend.readmodel.market import all_orders, household_fills, open_orders
from backend.readmodel.payloads import interval_settled_payload
from backend.web.access import require_private_access
from backend.web.cache import TtlCache
from backend.web.chain import ChainUnavailable
from backend.web.context import config, db, now, web_state
from backend.web.errors import ApiError
from backend.web.events import arg_int, household_settled
from backend.web.forecasts import forecast_totals
from backend.web.market import current_interval
from backend.web.meter_status import meter_status_json
from backend.web.series import Registers, registers_at, registers_at_times
from backend.web.settlements import household_counts, interval_json, interval_seconds
from backend.web.validation import parse_address, parse_page

__all__ = ["bp", "community_summary"]

bp = Blueprint("community", __name__, url_prefix="/api")

# A cached summary older than its lifetime is still served for this long while a fresh one is computed.
SUMMARY_STALE_S = 30.0


def _rate_w(latest: Registers, earlier: Registers | None) -> tuple[int, int] | None:
    """Average production and consumption power (W) between two readings of one meter, if both exist."""
    if earlier is None or latest.ts <= earlier.ts:
        return None
    seconds = latest.ts - earlier.ts
    return (
        (latest.produced_wh - earlier.produced_wh) * 3600 // seconds,
        (latest.consumed_wh - earlier.consumed_wh) * 3600 // seconds,
    )


REGISTRY_EVENTS = ("HouseholdRegistered", "MeterReplaced", "HouseholdActiveSet")


@lru_cache(maxsize=65_536)
def _checksum(address: str) -> str:
    """EIP-55 spelling, remembered: a keccak per address made up most of the summary's CPU at 1,000 households."""
    return to_checksum_address(address)


# Every meter, a household's active and newest first (plain rows: ORM objects for 1,000 meters cost ~10 ms).
_METERS_BY_HOUSEHOLD = select(Meter.household, Meter.address, Meter.capacity_w, Meter.active).order_by(
    Meter.household, Meter.active.desc(), Meter.created_at.desc()
)


def registered_households(session: Session) -> dict[str, dict]:
    """Every household the registry has registered, by EIP-55 address, and whether its meter has reported.

    The registry's events (as the indexer stored them) say who is registered,
    from the block of registration; the oracle's `meters` table gets a row only
    on a meter's first accepted reading, so a household only in the events has
    `hasReading: false` ("no reading yet"). A household the oracle knows but
    the indexer has not reached yet is listed from the oracle's table.
    """
    households: dict[str, dict] = {}
    query = (
        select(ChainEvent.event, ChainEvent.args)
        .where(ChainEvent.event.in_(REGISTRY_EVENTS))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
    )
    for name, args in session.execute(query):
        try:
            household = _checksum(str(args.get("household")))
        except ValueError:
            continue
        if name == "HouseholdRegistered":
            households[household] = {
                "address": household,
                "meter": _checksum(str(args.get("meter"))),
                "capacityW": int(args.get("capacityW") or 0),
                "active": True,
                "formerMeters": [],
                "hasReading": False,
            }
        elif household in households and name == "MeterReplaced":
            record = households[household]
            record["formerMeters"].insert(0, record["meter"])
            record["meter"] = _checksum(str(args.get("newMeter")))
        elif household in households:
            active = args.get("active")
            record_active = active if isinstance(active, bool) else str(active).lower() in ("true", "1")
            households[household]["active"] = record_active
    meters = session.connection().execute(_METERS_BY_HOUSEHOLD)
    for meter_household, meter_address, capacity_w, meter_active in meters:
        household = _checksum(meter_household)
        record = households.get(household)
        if record is None:
            households[household] = {
                "address": household,
                "meter": _checksum(meter_address),
                "capacityW": capacity_w,
                "active": meter_active,
                "formerMeters": [],
                "hasReading": True,
            }
        else:
            record["hasReading"] = True
    return households


def last_settled(session: Session) -> dict | None:
    """The last interval the chain settled: the newest IntervalSettled event, the same one /api/market/clearing
    lists first, with the interval's household count; null until one is settled.

    Its clearing price is the chain's (0 when nothing traded: `tradedWh` says so), never a planned one.
    """
    event = session.scalars(
        select(ChainEvent).where(ChainEvent.event == "IntervalSettled").order_by(ChainEvent.id.desc()).limit(1)
    ).first()
    if event is None:
        return None
    settled = interval_settled_payload(event)
    interval_id = settled["intervalId"]
    households = household_counts(session, [interval_id]).get(interval_id, 0)
    row = session.get(Interval, interval_id)
    seconds = interval_seconds()
    body = (
        interval_json(row, households)
        if row is not None
        else {
            "intervalId": interval_id,
            "start": interval_id * seconds,
            "end": (interval_id + 1) * seconds,
            "status": "settled",
            "readingsRoot": settled["readingsRoot"],
            "closedAt": None,
            "settledTx": event.tx_hash,
            "settledBlock": event.block_number,
            "households": households,
        }
    )
    return {**body, "status": "settled", "clearingPrice": settled["clearingPrice"], "tradedWh": settled["tradedWh"]}


# More closed intervals than this behind the wall clock, and the dashboard says history is being replayed.
CATCH_UP_LAG_INTERVALS = 3


def catch_up(session: Session, last: dict | None, wall: int, seconds: int) -> dict:
    """How far settlement is behind the wall clock: settled N of the M intervals closed since the first one.

    `replaying` is true while more than CATCH_UP_LAG_INTERVALS closed intervals
    wait (a demo replaying days of history settles them about one a second).
    """
    closed_to = wall // seconds - 1  # the newest interval that has ended
    first = session.scalar(select(func.min(Interval.interval_id)))
    settled = (
        session.scalar(select(func.count()).select_from(ChainEvent).where(ChainEvent.event == "IntervalSettled")) or 0
    )
    total = 0 if first is None else max(0, closed_to - first + 1)
    behind = 0 if last is None and first is None else closed_to - (last["intervalId"] if last else first - 1)
    return {
        "settled": settled,
        "total": max(total, settled),
        "behind": max(0, behind),
        "lastSettledStart": None if last is None else last["start"],
        "replaying": behind > CATCH_UP_LAG_INTERVALS,
    }


def community_summary(session: Session) -> dict:
    """Compute the dashboard numbers from the readings, the chain events and (for credits) the chain."""
    settings = config()
    seconds = interval_seconds()
    wall = now()
    latest = registers_at(session, wall)
    households = sum(1 for record in registered_households(session).values() if record["active"])
    as_of = min(wall, max((r.ts for r in latest.values()), default=wall))
    interval_id = as_of // seconds
    start = interval_id * seconds

    window, day_ago, at_start = registers_at_times(session, [as_of - settings.live_window_s, as_of - 86400, start])

    production_w = consumption_w = surplus_w = deficit_w = reporting = 0
    produced_wh = consumed_wh = surplus_wh = deficit_wh = 0
    consumed_24h, counted_24h = 0, 0
    for meter, last in latest.items():
        if last.ts >= as_of - settings.stale_after_s and (rates := _rate_w(last, window.get(meter))):
            reporting += 1
            production_w += rates[0]
            consumption_w += rates[1]
            surplus_w += max(0, rates[0] - rates[1])
            deficit_w += max(0, rates[1] - rates[0])
        anchor = at_start.get(meter)
        if anchor is not None and last.ts > start:
            produced, consumed = last.produced_wh - anchor.produced_wh, last.consumed_wh - anchor.consumed_wh
            produced_wh += produced
            consumed_wh += consumed
            surplus_wh += max(0, produced - consumed)
            deficit_wh += max(0, consumed - produced)
        if (earlier := day_ago.get(meter)) is not None and last.ts > earlier.ts:
            consumed_24h += last.consumed_wh - earlier.consumed_wh
            counted_24h += 1

    asks = [o for o in open_orders(session, current_interval()) if o["side"] == "ask"]
    open_asks_wh = sum(o["remainingWh"] for o in asks)
    credits_wh = None
    gateway = web_state().chain
    if gateway is not None:
        try:
            supply = gateway.token_supply()
            credits_wh = supply["totalWh"] - supply["escrowedWh"]
        except ChainUnavailable:
            credits_wh = None
    settled = last_settled(session)
    return {
        "asOf": as_of,
        "intervalSeconds": seconds,
        "households": households,
        "reporting": reporting,
        "now": {
            "productionW": production_w,
            "consumptionW": consumption_w,
            "surplusW": surplus_w,
            "deficitW": deficit_w,
        },
        "currentInterval": {
            "intervalId": interval_id,
            "start": start,
            "end": start + seconds,
            "producedWh": produced_wh,
            "consumedWh": consumed_wh,
            "surplusWh": surplus_wh,
            "deficitWh": deficit_wh,
        },
        "averageConsumption": {
            "households": counted_24h,
            "perHouseholdWh24h": consumed_24h // counted_24h if counted_24h else None,
            "perHouseholdW": consumed_24h * 3600 // (86400 * counted_24h) if counted_24h else None,
        },
        "availableForSale": {
            "openAsksWh": open_asks_wh,
            "openAsks": len(asks),
            "creditsWh": credits_wh,
            "totalWh": None if credits_wh is None else open_asks_wh + credits_wh,
        },
        "lastSettled": settled,
        "catchUp": catch_up(session, settled, wall, seconds),
        "forecast": forecast_totals(session, as_of),
    }


def _summary_body(app: Flask) -> bytes:
    """Compute the summary as JSON in a context of its own (its own database session), for any thread."""
    with app.app_context():
        return app.json.dumps(community_summary(db())).encode()


@bp.get("/community/summary")
def summary():
    """Return the dashboard numbers (cached for `summary_cache_s`, refreshed in the background)."""
    settings = config()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if settings.summary_cache_s == 0:
        body = _summary_body(app)
    else:
        cache = app.extensions.setdefault(
            "vatio_summary", TtlCache(settings.summary_cache_s, stale_s=SUMMARY_STALE_S, max_entries=1)
        )
        body = cache.get("summary", lambda: _summary_body(app), background=lambda: _summary_body(app))
    return Response(body, mimetype="application/json")


@bp.get("/households")
def list_households():
    """List every registered household (public: the registry publishes them), ordered by address.

    From the registry's events, so a household whose meter has not reported yet
    is listed too, with `hasReading: false`.
    """
    settings = config()
    limit = parse_page(
        {k: v for k, v in request.args.items() if k != "cursor"},
        default_limit=settings.default_page_size,
        max_limit=settings.max_page_size,
    ).limit
    cursor = parse_address(request.args["cursor"], "cursor").lower() if "cursor" in request.args else None
    records = sorted(registered_households(db()).values(), key=lambda r: r["address"].lower())
    rows = [
        {k: v for k, v in r.items() if k != "formerMeters"}
        for r in records
        if cursor is None or r["address"].lower() > cursor
    ][: limit + 1]
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": rows, "nextCursor": rows[-1]["address"] if more else None})


def _registration(session: Session, household: str) -> dict:
    """Return the household's meter from the oracle's table, else from the registry; 404 when neither knows it."""
    meters = session.connection().execute(_REGISTRATION, {"household": household}).all()
    if meters:
        address, capacity_w, active = meters[0]
        return {
            "meter": address,
            "capacityW": capacity_w,
            "active": active,
            "formerMeters": [m[0] for m in meters[1:]],
        }
    gateway = web_state().chain
    record = None
    if gateway is not None:
        try:
            record = gateway.household(household)
        except ChainUnavailable:
            record = None
    if record is None:
        raise ApiError(404, "unknown_household", f"{household} is not a registered household")
    return {**record, "formerMeters": []}


# A household's meters, the active and newest first; and a page of its intervals. Built once, with bound
# parameters: building a statement per request cost more CPU than running it.
_REGISTRATION = (
    select(Meter.address, Meter.capacity_w, Meter.active)
    .where(Meter.household == bindparam("household"))
    .order_by(Meter.active.desc(), Meter.created_at.desc())
)
_INTERVALS = (
    select(
        IntervalEntry.interval_id,
        IntervalEntry.produced_wh,
        IntervalEntry.consumed_wh,
        IntervalEntry.leaf,
        Interval.status,
        Interval.clearing_price,
    )
    .join(Interval, Interval.interval_id == IntervalEntry.interval_id)
    .where(IntervalEntry.household == bindparam("household"))
    .order_by(IntervalEntry.interval_id.desc())
    .limit(bindparam("limit"))
)
_INTERVALS_BEFORE = _INTERVALS.where(IntervalEntry.interval_id < bindparam("cursor"))


def _household_intervals(session: Session, household: str, limit: int, cursor: int | None) -> tuple[list, int | None]:
    """A page of the household's intervals, newest first, from plain rows (no ORM objects: ~4x less CPU)."""
    statement, params = _INTERVALS, {"household": household, "limit": limit + 1}
    if cursor is not None:
        statement, params = _INTERVALS_BEFORE, {**params, "cursor": cursor}
    rows = session.connection().execute(statement, params).all()
    more = len(rows) > limit
    rows = rows[:limit]
    settled = household_settled(session, household, [row[0] for row in rows])
    seconds = interval_seconds()
    items = []
    for interval_id, produced_wh, consumed_wh, leaf, status, clearing_price in rows:
        event = settled.get(interval_id)
        items.append(
            {
                "intervalId": interval_id,
                "start": interval_id * seconds,
                "status": status,
                "clearingPrice": clearing_price,
                "producedWh": produced_wh,
                "consumedWh": consumed_wh,
                "leaf": "0x" + leaf.hex(),
                "settlement": None
                if event is None
                else {
                    "creditedWh": arg_int(event.args, "creditedWh"),
                    "burnedWh": arg_int(event.args, "burnedWh"),
                    "gridImportWh": arg_int(event.args, "gridImportWh"),
                    "txHash": event.tx_hash,
                },
            }
        )
    return items, (rows[-1][0] if more else None)


@bp.get("/households/<address>")
def household_detail(address: str):
    """Return one household's private view: meter, live power, balances, recent intervals (KPIs: kpis.py)."""
    household = parse_address(address, "household")
    require_private_access(household)
    session = db()
    registration = _registration(session, household)
    settings = config()
    latest = registers_at(session, now(), household=household)
    current = latest.get(registration["meter"])
    live = None
    if current is not None:
        earlier = registers_at(
            session, current.ts - settings.live_window_s, household=household, meters=[current.meter]
        ).get(current.meter)
        rates = _rate_w(current, earlier)
        live = {
            "ts": current.ts,
            "powerW": current.power_w,
            "producedWh": current.produced_wh,
            "consumedWh": current.consumed_wh,
            "productionW": rates[0] if rates else None,
            "consumptionW": rates[1] if rates else None,
        }
    intervals, _ = _household_intervals(session, household, 10, None)
    balances = None
    chain_error = None
    gateway = web_state().chain
    if gateway is not None:
        try:
            balances = gateway.balances(household)
        except ChainUnavailable as exc:
            chain_error = str(exc)
    else:
        chain_error = "no chain deployment configured"
    return jsonify(
        {
            "address": household,
            **registration,
            "live": live,
            "balances": balances,
            "chainError": chain_error,
            "recentIntervals": intervals,
            "meterStatus": meter_status_json(session, household, registration.get("meter"), now()),
        }
    )


@bp.get("/households/<address>/intervals")
def household_interval_history(address: str):
    """Return a household's metered energy and settlement per interval, newest first."""
    household = parse_address(address, "household")
    require_private_access(household)
    settings = config()
    page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
    items, cursor = _household_intervals(db(), household, page.limit, page.cursor)
    return jsonify({"items": items, "nextCursor": cursor})


@bp.get("/households/<address>/fills")
def household_fill_history(address: str):
    """Return a household's fills, newest first."""
    household = parse_address(address, "household")
    require_private_access(household)
    settings = config()
    page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
    items, cursor = household_fills(db(), household, page.limit, page.cursor)
    return jsonify({"items": items, "nextCursor": cursor})


@bp.get("/households/<address>/orders")
def household_orders(address: str):
    """Return a household's orders (status=open, the default, or all), newest first."""
    household = parse_address(address, "household")
    require_private_access(household)
    status = request.args.get("status", "open")
    if status not in ("open", "all"):
        raise ApiError(400, "invalid_parameter", "status must be open or all")
    orders = (
        open_orders(db(), current_interval(), household)
        if status == "open"
        else sorted(all_orders(db(), household), key=lambda o: o["orderId"], reverse=True)
    )
    return jsonify({"items": orders})
