"""Key figures per household and for the community, over any set of settled intervals (a day, a month).

docs/kpis.md gives each formula with a worked example; tests/backend/tariffs/test_kpis.py checks them.
Shares are exact fractions (None when the denominator is 0); kWh and kW are exact decimals.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from backend.tariffs.bands import interval_band_index, interval_start
from backend.tariffs.billing import IntervalEnergy, ScheduleOf, compute_bill, peak_import_kw
from backend.tariffs.rounding import kwh


@dataclass(frozen=True)
class Kpis:
    consumed_kwh: Decimal
    produced_kwh: Decimal
    self_sufficiency: Fraction | None  # (home-used own production + community energy used) / consumption
    self_consumption: Fraction | None  # (home-used own production + own production sold in the community) / production
    bought_kwh: Decimal
    sold_kwh: Decimal
    grid_import_kwh: Decimal
    grid_export_kwh: Decimal
    peak_import_kw: Decimal
    co2_avoided_kg: Decimal  # grid factor x (home-used own production + community energy used), per band
    bill_with: Decimal | None = None
    bill_without: Decimal | None = None

    @property
    def saving(self) -> Decimal | None:
        if self.bill_with is None or self.bill_without is None:
            return None
        return self.bill_without - self.bill_with


def _share(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


def _sums(intervals: Iterable[IntervalEnergy], schedule_of: ScheduleOf, interval_seconds: int) -> dict:
    sums: dict = defaultdict(int)
    sums["co2_g"] = Fraction(0)
    for e in intervals:
        home = min(e.produced_wh, e.consumed_wh)
        used = min(e.bought_wh, e.deficit_wh)
        sums["consumed"] += e.consumed_wh
        sums["produced"] += e.produced_wh
        sums["home"] += home
        sums["community_used"] += used
        sums["community_supplied"] += min(e.sold_wh, e.surplus_wh)
        sums["bought"] += e.bought_wh
        sums["sold"] += e.sold_wh
        sums["grid_import"] += e.grid_import_wh()
        sums["grid_export"] += e.grid_export_wh()
        schedule = schedule_of(e.interval_id)
        band = schedule.bands[interval_band_index(schedule, e.interval_id, interval_seconds)]
        sums["co2_g"] += Fraction(band.co2_kg_per_kwh) * (home + used)  # kg/kWh x Wh = g
    return sums


def kpis_from_sums(sums: dict, peak_kw: Decimal) -> Kpis:
    """The KPIs from exact sums (`_sums`, or the statements' column sums: the same numbers)."""
    co2_g = sums["co2_g"]
    return Kpis(
        consumed_kwh=kwh(sums["consumed"]),
        produced_kwh=kwh(sums["produced"]),
        self_sufficiency=_share(sums["home"] + sums["community_used"], sums["consumed"]),
        self_consumption=_share(sums["home"] + sums["community_supplied"], sums["produced"]),
        bought_kwh=kwh(sums["bought"]),
        sold_kwh=kwh(sums["sold"]),
        grid_import_kwh=kwh(sums["grid_import"]),
        grid_export_kwh=kwh(sums["grid_export"]),
        peak_import_kw=peak_kw,
        co2_avoided_kg=(Decimal(co2_g.numerator) / Decimal(co2_g.denominator) / 1000).quantize(Decimal("0.001")),
    )


def energy_kpis(intervals: Sequence[IntervalEnergy], schedule_of: ScheduleOf, interval_seconds: int) -> Kpis:
    """The energy KPIs of one household."""
    return kpis_from_sums(_sums(intervals, schedule_of, interval_seconds), peak_import_kw(intervals, interval_seconds))


def community_kpis(
    households: Mapping[str, Sequence[IntervalEnergy]], schedule_of: ScheduleOf, interval_seconds: int
) -> Kpis:
    """The community's KPIs: its members' quantities summed; the peak is the members' coincident peak
    (their deficits summed per 15-minute window), what the community's connection would see."""
    total: dict = defaultdict(int)
    total["co2_g"] = Fraction(0)
    for entries in households.values():
        for key, value in _sums(entries, schedule_of, interval_seconds).items():
            total[key] += value
    merged: dict[int, int] = defaultdict(int)
    for entries in households.values():
        for e in entries:
            merged[e.interval_id] += e.deficit_wh
    coincident = [IntervalEnergy(interval_id=i, produced_wh=0, consumed_wh=d) for i, d in merged.items()]
    return kpis_from_sums(total, peak_import_kw(coincident, interval_seconds))


def household_kpis(
    intervals: Sequence[IntervalEnergy], schedule_of: ScheduleOf, interval_seconds: int, contracted_kw: Decimal
) -> Kpis:
    """Energy KPIs plus the bill with and without the community (same tariff, no trades, surplus at feed-in)."""
    energy = energy_kpis(intervals, schedule_of, interval_seconds)
    with_community = compute_bill(intervals, schedule_of, interval_seconds, contracted_kw, with_community=True)
    without = compute_bill(intervals, schedule_of, interval_seconds, contracted_kw, with_community=False)
    return Kpis(**{**energy.__dict__, "bill_with": with_community.total, "bill_without": without.total})


def by_local_day(
    intervals: Iterable[IntervalEnergy], schedule_of: ScheduleOf, interval_seconds: int
) -> dict[dt.date, list[IntervalEnergy]]:
    days: dict[dt.date, list[IntervalEnergy]] = defaultdict(list)
    for e in intervals:
        local = interval_start(e.interval_id, interval_seconds).astimezone(schedule_of(e.interval_id).zone)
        days[local.date()].append(e)
    return dict(sorted(days.items()))


def percent(share: Fraction | None) -> str:
    return "-" if share is None else f"{float(share) * 100:.1f} %"
