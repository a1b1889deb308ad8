"""A household's bill for a set of settled intervals, with or without the community (docs/tariffs.md, docs/kpis.md).

Energy model, per interval (all integer Wh, from the chain's events):
- deficit d = max(consumed - produced, 0), surplus u = max(produced - consumed, 0)
- community purchases b and sales s: the household's fills as buyer and seller
- grid import = max(d - b, 0); grid export = max(u - s, 0)
- without the community b = s = 0: grid import = d, grid export = u.
The meter's import d (not the grid import) sets the capacity charge's peak:
the grid operator meters the connection, whoever sold the energy.

Lines are keyed by (tariff version, band, component); every amount goes
through `rounding` once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

from backend.tariffs.bands import interval_band_index, interval_start
from backend.tariffs.rounding import energy_cost, kwh, to_cents, token_units_to_eur
from backend.tariffs.schema import Schedule

PEAK_WINDOW_SECONDS = 900  # capacity charges use 15-minute import

# The order lines appear in, and what tax base each belongs to (schema.TAX_BASES).
BAND_COMPONENTS = {
    "grid_import_energy": "energy",
    "community_purchases": "energy",
    "grid_export_credit": "energy",
    "community_sales": None,  # income from neighbours: outside every tax base
    "grid_access": "grid",
    "grid_charges": "grid",
}
MONTH_COMPONENTS = {"fixed_power": "fixed", "fixed_monthly": "fixed", "capacity": "capacity"}
TAX_COMPONENTS = ("electricity_tax", "vat")


@dataclass(frozen=True, slots=True)
class IntervalEnergy:
    """One household's settled interval: metered energy and its community fills (value in token units)."""

    interval_id: int
    produced_wh: int
    consumed_wh: int
    bought_wh: int = 0
    bought_value: int = 0
    sold_wh: int = 0
    sold_value: int = 0
    tx_hash: str = ""

    @property
    def deficit_wh(self) -> int:
        return max(self.consumed_wh - self.produced_wh, 0)

    @property
    def surplus_wh(self) -> int:
        return max(self.produced_wh - self.consumed_wh, 0)

    def grid_import_wh(self, with_community: bool = True) -> int:
        return max(self.deficit_wh - (self.bought_wh if with_community else 0), 0)

    def grid_export_wh(self, with_community: bool = True) -> int:
        return max(self.surplus_wh - (self.sold_wh if with_community else 0), 0)


@dataclass(frozen=True)
class Line:
    version: int
    band: str  # "" for month-level and tax lines
    component: str
    quantity: Decimal | None  # kWh for band lines, kW·day, kW, months; the base in EUR for taxes
    unit: str
    price: Decimal | None  # EUR per unit, or the tax rate
    amount: Decimal  # EUR, rounded to the cent

    @property
    def key(self) -> str:
        return f"{self.band}:{self.component}" if self.band else self.component


@dataclass(frozen=True)
class Bill:
    lines: tuple[Line, ...]
    total: Decimal
    days: int
    peak_kw: Decimal
    billed_kw: Decimal | None

    def amount(self, key: str) -> Decimal:
        return sum((line.amount for line in self.lines if line.key == key), Decimal("0.00"))

    def band_subtotal(self, band: str) -> Decimal:
        return sum((line.amount for line in self.lines if line.band == band), Decimal("0.00"))


ScheduleOf = Callable[[int], Schedule]


def peak_import_kw(intervals: Iterable[IntervalEnergy], interval_seconds: int) -> Decimal:
    """The highest 15-minute meter import in kW: each window's deficits summed, times 4 per hour."""
    windows: dict[int, int] = defaultdict(int)
    for entry in intervals:
        windows[entry.interval_id * interval_seconds // PEAK_WINDOW_SECONDS] += entry.deficit_wh
    peak_wh = max(windows.values(), default=0)
    return Decimal(peak_wh * 3600 // PEAK_WINDOW_SECONDS) / 1000  # Wh per 15 min x 4 = W; exact


def local_days(intervals: Iterable[IntervalEnergy], schedule_of: ScheduleOf, interval_seconds: int) -> set[dt.date]:
    return {_local_date(e.interval_id, interval_seconds, schedule_of(e.interval_id).timezone) for e in intervals}


@lru_cache(maxsize=65536)
def _local_date(interval_id: int, interval_seconds: int, zone: str) -> dt.date:
    """An interval's local start date (shared by every member of a month's statements)."""
    return interval_start(interval_id, interval_seconds).astimezone(ZoneInfo(zone)).date()


def band_sums(
    ordered: Sequence[IntervalEnergy], schedule_of: ScheduleOf, interval_seconds: int, with_community: bool
) -> tuple[dict, dict, dict]:
    """(version, band name) -> exact Wh sums, token-unit sums, and (schedule, band index) of its last interval."""
    wh: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    value: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    bands: dict[tuple[int, str], tuple[Schedule, int]] = {}
    for entry in ordered:
        schedule = schedule_of(entry.interval_id)
        index = interval_band_index(schedule, entry.interval_id, interval_seconds)
        key = (schedule.version, schedule.bands[index].name)
        bands[key] = (schedule, index)
        sums = wh[key]
        sums["import"] += entry.grid_import_wh(with_community)
        sums["export"] += entry.grid_export_wh(with_community)
        if with_community:
            sums["bought"] += entry.bought_wh
            sums["sold"] += entry.sold_wh
            value[key]["bought"] += entry.bought_value
            value[key]["sold"] += entry.sold_value
    return wh, value, bands


def compute_bill(
    intervals: Sequence[IntervalEnergy],
    schedule_of: ScheduleOf,
    interval_seconds: int,
    contracted_kw: Decimal,
    with_community: bool = True,
) -> Bill:
    """The bill for these intervals (one month's, normally). Month-level charges use the version of the last one."""
    ordered = sorted(intervals, key=lambda e: e.interval_id)
    if not ordered:
        raise ValueError("a bill needs at least one settled interval")
    wh, value, bands = band_sums(ordered, schedule_of, interval_seconds, with_community)
    return bill_from_sums(
        wh,
        value,
        bands,
        schedule_of(ordered[-1].interval_id),
        len(local_days(ordered, schedule_of, interval_seconds)),
        peak_import_kw(ordered, interval_seconds),
        contracted_kw,
        with_community,
    )


def bill_from_sums(
    wh: dict,
    value: dict,
    bands: dict,
    last: Schedule,
    days: int,
    peak: Decimal,
    contracted_kw: Decimal,
    with_community: bool,
) -> Bill:
    """The bill's lines from exact per-band sums (`band_sums`, or the statements' column sums: the same numbers),
    the schedule of the last interval, the local days billed and the peak import."""
    lines: list[Line] = []
    for key in sorted(bands, key=lambda k: (k[0], bands[k][1])):
        schedule, index = bands[key]
        band = schedule.bands[index]
        version, name = key
        sums = defaultdict(int, wh.get(key, {}))
        values = defaultdict(int, value.get(key, {}))
        lines.append(
            Line(
                version,
                name,
                "grid_import_energy",
                kwh(sums["import"]),
                "kWh",
                band.retail_import,
                to_cents(energy_cost(sums["import"], band.retail_import)),
            )
        )
        if with_community:
            lines.append(
                Line(
                    version,
                    name,
                    "community_purchases",
                    kwh(sums["bought"]),
                    "kWh",
                    None,
                    to_cents(token_units_to_eur(values["bought"])),
                )
            )
        lines.append(
            Line(
                version,
                name,
                "grid_export_credit",
                kwh(sums["export"]),
                "kWh",
                -band.feed_in,
                to_cents(-energy_cost(sums["export"], band.feed_in)),
            )
        )
        if with_community:
            lines.append(
                Line(
                    version,
                    name,
                    "community_sales",
                    kwh(sums["sold"]),
                    "kWh",
                    None,
                    to_cents(-token_units_to_eur(values["sold"])),
                )
            )
        billed = sums["import"] + (sums["bought"] if schedule.community_pays_grid_charges else 0)
        lines.append(
            Line(
                version,
                name,
                "grid_access",
                kwh(billed),
                "kWh",
                band.grid_access,
                to_cents(energy_cost(billed, band.grid_access)),
            )
        )
        lines.append(
            Line(
                version,
                name,
                "grid_charges",
                kwh(billed),
                "kWh",
                band.grid_charges,
                to_cents(energy_cost(billed, band.grid_charges)),
            )
        )

    power_days = contracted_kw * days
    lines.append(
        Line(
            last.version,
            "",
            "fixed_power",
            power_days,
            "kW·day",
            last.fixed_per_kw_day,
            to_cents(Fraction(power_days) * Fraction(last.fixed_per_kw_day)),
        )
    )
    lines.append(
        Line(
            last.version, "", "fixed_monthly", Decimal(1), "month", last.fixed_per_month, to_cents(last.fixed_per_month)
        )
    )
    billed_kw = None
    if last.capacity_per_kw_month is not None:
        billed_kw = max(peak, last.capacity_minimum_kw)
        lines.append(
            Line(
                last.version,
                "",
                "capacity",
                billed_kw,
                "kW",
                last.capacity_per_kw_month,
                to_cents(Fraction(billed_kw) * Fraction(last.capacity_per_kw_month)),
            )
        )

    def base(groups: tuple[str, ...]) -> Decimal:
        total = Decimal("0.00")
        for line in lines:
            group = BAND_COMPONENTS.get(line.component) if line.band else MONTH_COMPONENTS.get(line.component)
            if line.component == "electricity_tax":
                group = "electricity_tax"
            if group in groups:
                total += line.amount
        return total

    taxes = last.taxes
    tax_base = base(taxes.electricity_tax_on)
    lines.append(
        Line(
            last.version,
            "",
            "electricity_tax",
            tax_base,
            "EUR",
            taxes.electricity_tax,
            to_cents(Fraction(tax_base) * Fraction(taxes.electricity_tax)),
        )
    )
    vat_base = base(taxes.vat_on)
    lines.append(
        Line(last.version, "", "vat", vat_base, "EUR", taxes.vat, to_cents(Fraction(vat_base) * Fraction(taxes.vat)))
    )
    total = sum((line.amount for line in lines), Decimal("0.00"))
    return Bill(lines=tuple(lines), total=total, days=days, peak_kw=peak, billed_kw=billed_kw)
