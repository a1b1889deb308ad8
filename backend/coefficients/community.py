"""A simulated shared installation, and a year of planned coefficients against static ones on it.

Members are pure consumers drawn from the real household profiles (backend/simulation/profiles.py; the
UCI Sceaux household or synPRO), with CUPS made up (valid check letters). The installation is clear-sky PV
(:mod:`backend.coefficients.installation`) of ``kwp_per_member`` per member. Contracted power is the
smallest usual Spanish step above eight times a member's mean load (a simplification: the profiles carry none).

The test period is split into ``months``-long plans, each made from the ``history_weeks`` before it by
:mod:`backend.coefficients.profile_forecast`: the test period's own consumption is never seen by the planner.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backend.coefficients.compare import Outcome, evaluate
from backend.coefficients.cups import make_cups
from backend.coefficients.installation import installation_hourly_wh
from backend.coefficients.members import Member, equal_shares, proportional_shares
from backend.coefficients.planner import MemberTerms, plan
from backend.coefficients.profile_forecast import typical_day_forecast
from backend.coefficients.rounding import MICRO
from backend.market.community_types import Tariffs
from backend.simulation.profiles import community_households, community_profiles

CONTRACTED_KW_STEPS = (3.45, 4.6, 5.75, 6.9, 8.05, 9.2)
DISTRIBUTOR = 31  # the 4-digit distributor code of the made-up CUPS


@dataclass(frozen=True)
class SharedCommunity:
    """Hourly consumption of the members and production of the installation."""

    members: list[Member]  # sorted by CUPS; column order below
    hour_starts: pd.DatetimeIndex  # UTC
    consumption_wh: np.ndarray  # int64 [hours, members]
    production_wh: np.ndarray  # int64 [hours]


def contracted_kw(annual_load_kwh: float) -> float:
    peak_kw = 8 * annual_load_kwh / 8760
    return next((step for step in CONTRACTED_KW_STEPS if step >= peak_kw), CONTRACTED_KW_STEPS[-1])


def simulate_shared_community(
    n_members: int, start: str, days: int, seed: int = 1, kwp_per_member: float = 1.5
) -> SharedCommunity:
    """``days`` of hourly data from UTC midnight of ``start``."""
    specs = community_households(n_members, seed, pv_share=0.0)
    profiles = community_profiles(n_members, start, days, seed, interval_seconds=3600, pv_share=0.0)
    consumption = profiles["consumed_wh"].to_numpy().reshape(-1, n_members)
    hour_starts = pd.DatetimeIndex(profiles["interval_start"].iloc[::n_members])
    members = [
        Member(make_cups(DISTRIBUTOR, number + 1), 0, MICRO, None, contracted_kw(spec.annual_load_kwh))
        for number, spec in enumerate(specs)
    ]  # supply numbers ascending: already in CUPS order
    production = installation_hourly_wh(hour_starts, kwp_per_member * n_members)
    return SharedCommunity(members, hour_starts, consumption.astype(np.int64), production)


def period_bounds(first: pd.Timestamp, last: pd.Timestamp, months: int, timezone: str) -> list[pd.Timestamp]:
    """UTC starts of consecutive ``months``-long local periods covering [first, last)."""
    local = first.tz_convert(timezone)
    bounds = [first]
    while bounds[-1] < last:
        local = local + pd.DateOffset(months=months)
        bounds.append(min(local.tz_convert("UTC"), last))
    return bounds


def static_coefficient_sets(members: list[Member]) -> dict[str, list[int]]:
    cups = [m.cups for m in members]
    return {
        "static-equal": equal_shares(cups),
        "static-power": proportional_shares(cups, [m.contracted_kw for m in members]),
    }


def planned_coefficients(
    community: SharedCommunity,
    test_start: pd.Timestamp,
    months: int,
    history_weeks: int,
    static: list[int],
    fairness_band: float | None,
    tariffs: Tariffs,
    leftover_price: int,
    timezone: str = "Europe/Madrid",
    forecast_use: str = "scenarios",
) -> np.ndarray:
    """Coefficients for every hour from ``test_start`` on, one plan per period, each from the weeks before it.

    ``forecast_use``: ``scenarios`` (P10..P90, expected self-consumption), ``p50`` or ``p10`` (conservative).
    """
    if forecast_use not in ("scenarios", "p50", "p10"):
        raise ValueError(f"forecast_use is scenarios, p50 or p10, not {forecast_use!r}")
    starts = community.hour_starts
    terms = [MemberTerms(m.cups, m.min_micro, m.max_micro, s) for m, s in zip(community.members, static, strict=True)]
    test = starts >= test_start
    coefficients = np.zeros((int(test.sum()), len(community.members)), dtype=np.int64)
    offset = int(np.argmax(test))
    bounds = period_bounds(test_start, starts[-1] + pd.Timedelta(hours=1), months, timezone)
    for begin, end in zip(bounds[:-1], bounds[1:], strict=False):
        in_period = (starts >= begin) & (starts < end)
        in_history = (starts >= begin - pd.Timedelta(weeks=history_weeks)) & (starts < begin)
        forecast = typical_day_forecast(
            community.consumption_wh[in_history], starts[in_history], starts[in_period], timezone
        )
        # The installation's forecast is its clear sky: in this simulation that is also its production.
        planned = plan(
            getattr(forecast, forecast_use),
            community.production_wh[in_period],
            terms,
            fairness_band=fairness_band,
            retail_price=tariffs.retail_price,
            leftover_price=leftover_price,
        )
        rows = np.flatnonzero(in_period) - offset
        coefficients[rows] = planned.coefficients_micro
    return coefficients


def compare_year(
    community: SharedCommunity,
    test_start: pd.Timestamp,
    tariffs: Tariffs,
    months: int = 4,
    history_weeks: int = 4,
    fairness_band: float | None = 0.05,
    market: tuple[bool, ...] = (False, True),
    forecast_uses: tuple[str, ...] = ("scenarios", "p50"),
    anchors: tuple[str, ...] = ("static-equal",),
) -> list[Outcome]:
    """Static coefficients (equal, by contracted power) and forecast-planned ones over the test hours.

    Each planned set keeps every member within ``fairness_band`` of one static rule, its anchor (the shares
    the community agreed): ``planned-<use>`` around equal shares, ``planned-<use>-around-power`` around the
    shares by contracted power.
    """
    test = community.hour_starts >= test_start
    production = community.production_wh[test]
    consumption = community.consumption_wh[test]
    cups = [m.cups for m in community.members]
    sets = {
        name: np.tile(shares, (len(production), 1))
        for name, shares in static_coefficient_sets(community.members).items()
    }
    leftover_price = (tariffs.retail_price + tariffs.feed_in_price) // 2
    statics = static_coefficient_sets(community.members)
    for anchor in anchors:
        if anchor not in statics:
            raise ValueError(f"an anchor is one of {sorted(statics)}, not {anchor!r}")
        suffix = "" if anchor == "static-equal" else "-around-" + anchor.removeprefix("static-")
        for use in forecast_uses:
            sets[f"planned-{use}{suffix}"] = planned_coefficients(
                community,
                test_start,
                months,
                history_weeks,
                statics[anchor],
                fairness_band,
                tariffs,
                leftover_price,
                forecast_use=use,
            )
    return [
        evaluate(name, cups, production, consumption, table, tariffs, with_market)
        for name, table in sets.items()
        for with_market in market
    ]
