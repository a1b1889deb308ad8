"""Forecasts and what to do about them: P10/P50/P90 per hour beside the actual values, the community's
outlook (who will be short), and one household's sell and buy windows with price hints.

Stored by the forecaster (``vatio forecast run --source db``, table
``forecasts``); read here without TensorFlow. Who may read what:

- the community's forecast and outlook are public, like the other community
  numbers. The outlook names the households expected to be short and by how
  much: the community dashboard shows them, and each household's metered
  energy per interval is public anyway (HouseholdSettled events on-chain and
  the readings archive), so a forecast of it reveals no more;
- a household's own forecast series and recommendations are its private
  data: the household itself or the admin (401 signed out, 403 anyone else).

"Now" follows the data (the newest reading, capped at the wall clock), as
the summary and the forecaster do: a run issued at 10:00 read at 10:40
starts at the 10:00 hour, and a replay of the past sees its own present.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.orm import Session

from backend.db.models import FORECAST_HORIZONS_H
from backend.forecast.advice import (
    DEFAULT_SHORTFALL_RATE,
    Tariffs,
    advice_json,
    order_value,
    outlook_json,
    series_json,
)
from backend.forecast.store import forecasts_issued_before, load_forecasts
from backend.web.access import require_private_access
from backend.web.actuals import HourlyActuals, data_now, hourly_actuals
from backend.web.cache import TtlCache
from backend.web.chain import ChainUnavailable
from backend.web.context import config, db, now, web_state
from backend.web.errors import ApiError
from backend.web.forecast_runs import run_issued_at, run_view
from backend.web.market import on_price_tick
from backend.web.settlements import interval_seconds
from backend.web.validation import parse_address, parse_int

__all__ = ["bp", "forecast_totals"]

bp = Blueprint("forecasts", __name__, url_prefix="/api")

HOUR_S = 3600
MAX_PAST_HOURS = 168
ACTUALS_TTL_S = 300.0  # late readings may still fill an hour; five minutes late is fine for a chart


def _horizon() -> int:
    horizon = parse_int(request.args.get("horizon", 24), "horizon", minimum=1, maximum=max(FORECAST_HORIZONS_H))
    if horizon not in FORECAST_HORIZONS_H:
        raise ApiError(400, "invalid_parameter", f"horizon must be one of {', '.join(map(str, FORECAST_HORIZONS_H))}")
    return horizon


def _at() -> int | None:
    return parse_int(request.args["at"], "at", code="invalid_range") if "at" in request.args else None


def _alpha() -> float:
    """The household's shortfall rate: the advised sale holds with probability 1 - alpha (default 10%)."""
    raw = request.args.get("alpha")
    if raw is None:
        return DEFAULT_SHORTFALL_RATE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 0.5:  # also refuses nan and inf
        raise ApiError(
            400, "invalid_parameter", f"alpha (the shortfall rate) must be a number above 0 and below 0.5, got {raw!r}"
        )
    return value


def _past_hours() -> int:
    return parse_int(request.args.get("past", 0), "past", maximum=MAX_PAST_HOURS)


def _actuals(session: Session, hour_starts: list[int], as_of: int, household: str | None) -> HourlyActuals:
    """Actual Wh per hour, cached five minutes per (series, hours, last complete hour)."""
    cache = current_app.extensions.setdefault("vatio_forecast_actuals", TtlCache(ACTUALS_TTL_S, max_entries=256))
    key = (household, hour_starts[0], hour_starts[-1], as_of // HOUR_S) if hour_starts else (household,)
    return cache.get(key, lambda: hourly_actuals(session, hour_starts, as_of, household))


def _forecast_body(session: Session, household: str | None) -> dict:
    """One run's series of a household (or the community's own), each with the actual Wh beside P10/P50/P90."""
    horizon, at, past = _horizon(), _at(), _past_hours()
    as_of = data_now(session, now())
    issued_at = run_issued_at(session, horizon, at, household=household, community=household is None)
    body: dict = {"household": household, "asOf": as_of}
    if issued_at is None:
        return {**body, "issuedAt": None, "horizonH": horizon, "series": [], "past": None}
    hours = load_forecasts(session, horizon, issued_at, households=[household])
    body.update(series_json(hours))
    hour_starts = list(range(issued_at - past * HOUR_S, issued_at + horizon * HOUR_S, HOUR_S))
    actual = _actuals(session, hour_starts, as_of, household)
    position = {ts: index for index, ts in enumerate(hour_starts)}
    for entry in body["series"]:
        values = actual["consumedWh" if entry["kind"] == "load" else "producedWh"]
        entry["actualWh"] = [values[position[ts]] if ts in position else None for ts in entry["hourStarts"]]
    body["past"] = (
        None
        if past == 0
        else {
            "hourStarts": hour_starts[:past],
            "consumedWh": actual["consumedWh"][:past],
            "producedWh": actual["producedWh"][:past],
            "forecast": _past_forecast(session, horizon, hour_starts[0], issued_at, household),
        }
    )
    return body


def _past_forecast(session: Session, horizon: int, first_hour: int, end_hour: int, household: str | None) -> list:
    """Per kind, what the newest run issued before each past hour predicted for it (real against predicted)."""
    by_kind: dict[str, dict] = {}
    for hour in forecasts_issued_before(session, horizon, first_hour, end_hour, household):
        entry = by_kind.setdefault(
            hour.kind, {"kind": hour.kind, "hourStarts": [], "issuedAt": [], "p10Wh": [], "p50Wh": [], "p90Wh": []}
        )
        for key, value in (
            ("hourStarts", hour.target_ts),
            ("issuedAt", hour.issued_at),
            ("p10Wh", hour.p10_wh),
            ("p50Wh", hour.p50_wh),
            ("p90Wh", hour.p90_wh),
        ):
            entry[key].append(value)
    return [by_kind[kind] for kind in sorted(by_kind)]


@bp.get("/community/forecast")
def community_forecast():
    """Return the community's own forecast (load, pv) with the actual Wh of the hours already over."""
    return jsonify(_forecast_body(db(), None))


@bp.get("/households/<address>/forecast")
def household_forecast(address: str):
    """Return a household's forecast (load, and pv for a prosumer) with its actual Wh (private)."""
    household = parse_address(address, "household")
    require_private_access(household)
    return jsonify(_forecast_body(db(), household))


@bp.get("/community/outlook")
def community_outlook():
    """Return the forecast surplus and deficit per hour, energy for sale, and the households expected to be short."""
    horizon = _horizon()
    limit = parse_int(
        request.args.get("limit", 100), "limit", minimum=1, maximum=config().max_page_size, code="invalid_pagination"
    )
    session = db()
    as_of = data_now(session, now())
    issued_at = run_issued_at(session, horizon)
    if issued_at is None:
        return jsonify(
            {
                "issuedAt": None,
                "horizonH": horizon,
                "asOf": as_of,
                "hourStarts": [],
                "surplusWh": [],
                "deficitWh": [],
                "availableForSaleWh": 0,
                "totalDeficitWh": 0,
                "shortHouseholds": [],
                "shortHouseholdsTotal": 0,
            }
        )
    view = run_view(session, horizon, issued_at, as_of)
    body = outlook_json(view.outlook(horizon))
    short = body.pop("shortHouseholds")
    return jsonify(
        {
            "issuedAt": issued_at,
            "horizonH": horizon,
            "asOf": as_of,
            **body,
            "shortHouseholds": short[:limit],
            "shortHouseholdsTotal": len(short),
        }
    )


def _tariffs() -> tuple[Tariffs, str]:
    """The registry's tariffs; the deployment's when the chain does not answer (said in the response)."""
    state = web_state()
    if state.chain is not None:
        try:
            read = state.chain.tariffs()
            return Tariffs(read["feedInPrice"], read["retailPrice"]), "chain"
        except ChainUnavailable:
            pass
    settings = state.config.deployment.settings if state.config.deployment is not None else {}
    if "retailPrice" not in settings or "feedInPrice" not in settings:
        raise ApiError(
            503,
            "chain_unavailable",
            "the tariffs are unknown: no chain answers and the deployment file does not list them",
        )
    return Tariffs(int(settings["feedInPrice"]), int(settings["retailPrice"])), "deployment"


def _suggested_order(window: dict, price: int, tariffs: Tariffs, now_interval: int, seconds: int) -> dict | None:
    """The order a window suggests, ready for POST /api/market/orders/preview; None once the window is past.

    Its amount is the window's cautious quantity, what the household has (sell) or lacks (buy) with probability
    1 - alpha; a window without one (a band too wide at this alpha) suggests no order, as P50 would break the rate.
    """
    valid_from = max(window["start"] // seconds, now_interval)
    valid_to = -(-window["end"] // seconds) - 1  # the last interval that starts inside the window
    amount = window["confidentWh"]
    if valid_to < valid_from or amount <= 0:
        return None
    hours = [datetime.fromtimestamp(ts, UTC) for ts in range(window["start"], window["end"], HOUR_S)]
    return {
        "side": "ask" if window["side"] == "sell" else "bid",
        "limitPrice": price,
        "amountWh": amount,
        "validFrom": valid_from,
        "validTo": valid_to,
        # Against the grid, if it fills at its limit: a sale over feed-in, a purchase under retail (base units).
        "value": order_value(window["side"], amount, price, tariffs.over(hours)),
    }


@bp.get("/households/<address>/recommendations")
def household_recommendations(address: str):
    """Return a household's forecast net position, sell and buy windows with Wh, and limit price hints (private)."""
    household = parse_address(address, "household")
    require_private_access(household)
    horizon, alpha = _horizon(), _alpha()
    session = db()
    as_of = data_now(session, now())
    issued_at = run_issued_at(session, horizon, household=household)
    body: dict = {"household": household, "issuedAt": issued_at, "horizonH": horizon, "asOf": as_of, "alpha": alpha}
    if issued_at is None:
        return jsonify({**body, "advice": None, "orders": [], "tariffs": None})
    tariffs, source = _tariffs()
    advice = run_view(session, horizon, issued_at, as_of).advice(household, tariffs, horizon, alpha)
    if advice is None:
        return jsonify({**body, "advice": None, "orders": [], "tariffs": None})
    advice_body = advice_json(advice)
    for key in ("sellLimitPricePerKwh", "buyLimitPricePerKwh"):  # suggestions on the market's price tick
        advice_body[key] = on_price_tick(advice_body[key])
    seconds = interval_seconds()
    orders = []
    for window in advice_body["sellWindows"] + advice_body["buyWindows"]:
        price = advice_body["sellLimitPricePerKwh" if window["side"] == "sell" else "buyLimitPricePerKwh"]
        order = _suggested_order(window, price, tariffs, now() // seconds, seconds)
        if order is not None:
            orders.append({**order, "window": {"start": window["start"], "end": window["end"]}})
    orders.sort(key=lambda order: order["validFrom"])
    return jsonify(
        {
            **body,
            "advice": advice_body,
            "orders": orders,
            "tariffs": {
                "feedInPrice": tariffs.feed_in_price_per_kwh,
                "retailPrice": tariffs.retail_price_per_kwh,
                "source": source,
            },
        }
    )


def forecast_totals(session: Session, as_of: int) -> dict:
    """The summary's forecast block: the community's next 24 h and 7 days from the latest runs."""
    return {"next24h": _totals(session, 24, as_of), "next7d": _totals(session, 168, as_of)}


def _totals(session: Session, horizon: int, as_of: int) -> dict | None:
    issued_at = run_issued_at(session, horizon)
    if issued_at is None:
        return None
    first_hour = max(issued_at, as_of // HOUR_S * HOUR_S)
    hours = [h for h in load_forecasts(session, horizon, issued_at, households=[None]) if h.target_ts >= first_hour]
    sums = {
        kind: {q: sum(getattr(h, f"{q}_wh") for h in hours if h.kind == kind) for q in ("p10", "p50", "p90")}
        for kind in ("load", "pv")
    }
    view = run_view(session, horizon, issued_at, as_of)
    outlook = view.outlook(horizon)
    end = issued_at + horizon * HOUR_S
    return {
        "issuedAt": issued_at,
        "from": first_hour,
        "to": end,
        "hours": max(0, (end - first_hour) // HOUR_S),
        # The community's own forecast; summed hourly quantiles are a wide band, not quantiles of the total.
        "consumedWh": {"p10": sums["load"]["p10"], "p50": sums["load"]["p50"], "p90": sums["load"]["p90"]},
        "producedWh": {"p10": sums["pv"]["p10"], "p50": sums["pv"]["p50"], "p90": sums["pv"]["p90"]},
        # From the households' forecasts (P50 net position, not netted across households).
        "surplusWh": outlook.available_for_sale_wh,
        "deficitWh": outlook.total_deficit_wh,
        "shortHouseholds": len(outlook.short_households),
    }
