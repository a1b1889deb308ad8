"""Chain events -> each member's monthly statement rows (pure: no database, no web3).

The events are normalized tuples, the same whether they come from the indexer's
database or from a node's logs, so the generator and the auditor share this code
and differ only in where they read.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from backend.tariffs.bands import UTC
from backend.tariffs.billing import Bill, IntervalEnergy, compute_bill
from backend.tariffs.kpis import Kpis, energy_kpis
from backend.tariffs.schema import Schedule

FLAT_HASH = b"\x00" * 32
CSV_COLUMNS = (
    "household",
    "month",
    "section",
    "version",
    "band",
    "component",
    "quantity",
    "unit",
    "price",
    "amount_eur",
)
KPI_NAMES = (
    "consumed_kwh",
    "produced_kwh",
    "self_sufficiency",
    "self_consumption",
    "bought_kwh",
    "sold_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "peak_import_kw",
    "co2_avoided_kg",
)


@dataclass(frozen=True, slots=True)
class Settled:
    """HouseholdSettled."""

    interval_id: int
    household: str
    produced_wh: int
    consumed_wh: int


@dataclass(frozen=True, slots=True)
class FillEvent:
    interval_id: int
    household: str
    side: int  # 0 bid (bought), 1 ask (sold)
    amount_wh: int
    value: int


@dataclass(frozen=True, slots=True)
class Closed:
    """IntervalSettled: the transaction that closed the interval."""

    interval_id: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class Registered:
    household: str
    capacity_w: int


@dataclass(frozen=True, slots=True)
class VersionAdded:
    version: int
    schedule_hash: bytes
    effective_from: int


@dataclass
class MonthEvents:
    """What a month's statements need, gathered from either source."""

    interval_seconds: int
    settled: list[Settled] = field(default_factory=list)
    fills: list[FillEvent] = field(default_factory=list)
    closed: dict[int, str] = field(default_factory=dict)  # interval id -> tx hash
    capacity_w: dict[str, int] = field(default_factory=dict)  # household -> registered capacity
    versions: list[VersionAdded] = field(default_factory=list)

    def add(self, event) -> None:
        if isinstance(event, Settled):
            self.settled.append(event)
        elif isinstance(event, FillEvent):
            self.fills.append(event)
        elif isinstance(event, Closed):
            self.closed[event.interval_id] = event.tx_hash
        elif isinstance(event, Registered):
            self.capacity_w[event.household] = event.capacity_w
        elif isinstance(event, VersionAdded):
            self.versions.append(event)
        else:
            raise TypeError(f"not a statement event: {event!r}")

    def version_of(self, interval_id: int) -> VersionAdded:
        if not self.versions:
            raise ValueError("no TariffVersionAdded event: was the registry deployed with tariff versions?")
        chosen = None
        for version in sorted(self.versions, key=lambda v: v.version):
            if version.effective_from <= interval_id or version.version == 0:
                chosen = version
        assert chosen is not None
        return chosen

    def index(self, window: range) -> tuple[dict[str, list[Settled]], dict[tuple[str, int], list[int]]]:
        """The month's closed settlements per household and trades per (household, interval), built once
        (before workers fork) and kept."""
        cache = self.__dict__.setdefault("_index", {})
        key = (window.start, window.stop, len(self.settled), len(self.fills))
        if key not in cache:
            trades: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # b wh, value, s wh, value
            for fill in self.fills:
                if fill.interval_id in window:
                    sums = trades[(fill.household.lower(), fill.interval_id)]
                    offset = 0 if fill.side == 0 else 2
                    sums[offset] += fill.amount_wh
                    sums[offset + 1] += fill.value
            settled: dict[str, list[Settled]] = defaultdict(list)
            for entry in self.settled:
                if entry.interval_id in window and entry.interval_id in self.closed:
                    settled[entry.household.lower()].append(entry)
            cache.clear()
            cache[key] = (dict(settled), dict(trades))
        return cache[key]


def month_bounds(month: str, zone) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local month 'YYYY-MM' as UTC instants."""
    try:
        year, number = (int(part) for part in month.split("-"))
        first = dt.date(year, number, 1)
    except ValueError as exc:
        raise ValueError(f"--month must be YYYY-MM, got {month!r}") from exc
    last_day = calendar.monthrange(year, number)[1]
    following = first + dt.timedelta(days=last_day)
    return (
        dt.datetime.combine(first, dt.time(0), zone).astimezone(UTC),
        dt.datetime.combine(following, dt.time(0), zone).astimezone(UTC),
    )


def month_intervals(month: str, zone, interval_seconds: int) -> range:
    start, end = month_bounds(month, zone)
    return range(int(start.timestamp()) // interval_seconds, int(end.timestamp()) // interval_seconds)


@dataclass(frozen=True)
class Statement:
    household: str
    month: str
    contracted_kw: Decimal
    intervals: tuple[IntervalEnergy, ...]
    bill: Bill
    without: Bill
    kpis: Kpis
    versions: tuple[VersionAdded, ...]
    skipped: tuple[int, ...]  # settled intervals under a flat version (no schedule file): not billed

    @property
    def saving(self) -> Decimal:
        return self.without.total - self.bill.total


def _decimal_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Fraction):
        return f"{Decimal(value.numerator) / Decimal(value.denominator):.6f}"
    return str(value)


def statement_rows(statement: Statement) -> list[dict[str, str]]:
    """The CSV rows: one per band and component (with and without the community), totals, KPIs, intervals."""
    base = {"household": statement.household, "month": statement.month}
    rows = []
    for version in statement.versions:
        rows.append(
            {
                **base,
                "section": "tariff",
                "version": str(version.version),
                "band": "",
                "component": "schedule_hash",
                "quantity": "",
                "unit": "",
                "price": "0x" + version.schedule_hash.hex(),
                "amount_eur": "",
            }
        )
    rows.append(
        {
            **base,
            "section": "meta",
            "version": "",
            "band": "",
            "component": "contracted_kw",
            "quantity": str(statement.contracted_kw),
            "unit": "kW",
            "price": "",
            "amount_eur": "",
        }
    )
    for section, bill in (("with", statement.bill), ("without", statement.without)):
        for line in bill.lines:
            rows.append(
                {
                    **base,
                    "section": section,
                    "version": str(line.version),
                    "band": line.band,
                    "component": line.component,
                    "quantity": _decimal_text(line.quantity),
                    "unit": line.unit,
                    "price": _decimal_text(line.price),
                    "amount_eur": str(line.amount),
                }
            )
        rows.append(
            {
                **base,
                "section": section,
                "version": "",
                "band": "",
                "component": "total",
                "quantity": "",
                "unit": "",
                "price": "",
                "amount_eur": str(bill.total),
            }
        )
    rows.append(
        {
            **base,
            "section": "saving",
            "version": "",
            "band": "",
            "component": "saving",
            "quantity": "",
            "unit": "",
            "price": "",
            "amount_eur": str(statement.saving),
        }
    )
    for name in KPI_NAMES:
        rows.append(
            {
                **base,
                "section": "kpi",
                "version": "",
                "band": "",
                "component": name,
                "quantity": _decimal_text(getattr(statement.kpis, name)),
                "unit": "",
                "price": "",
                "amount_eur": "",
            }
        )
    for entry in statement.intervals:
        rows.append(
            {
                **base,
                "section": "interval",
                "version": "",
                "band": "",
                "component": str(entry.interval_id),
                "quantity": f"{entry.produced_wh}/{entry.consumed_wh}/{entry.bought_wh}/{entry.sold_wh}",
                "unit": "Wh p/c/b/s",
                "price": "",
                "amount_eur": entry.tx_hash,
            }
        )
    for interval_id in statement.skipped:
        rows.append(
            {
                **base,
                "section": "unbilled",
                "version": "0",
                "band": "",
                "component": str(interval_id),
                "quantity": "",
                "unit": "",
                "price": "",
                "amount_eur": "",
            }
        )
    return rows


def row_key(row: dict[str, str]) -> str:
    """A row's name in audit messages: section, version, band, component."""
    parts = [row["section"]]
    if row["version"]:
        parts.append(f"v{row['version']}")
    if row["band"]:
        parts.append(row["band"])
    parts.append(row["component"])
    return ":".join(parts)


def build_statements(
    events: MonthEvents,
    month: str,
    schedule_for: Callable[[bytes], Schedule],
    zone,
    households: Iterable[str] | None = None,
) -> list[Statement]:
    """Every member's statement for `month` (local to `zone`), or only `households`'."""
    seconds = events.interval_seconds
    window = month_intervals(month, zone, seconds)
    settled_of, trades = events.index(window)
    members = sorted(settled_of) if households is None else sorted({h.lower() for h in households} & set(settled_of))
    # The version and schedule of each interval, once for all members.
    schedules: dict[int, Schedule | None] = {}
    schedule_by_interval: dict[int, Schedule | None] = {}

    def schedule_at(interval_id: int) -> Schedule | None:
        if interval_id not in schedule_by_interval:
            version = events.version_of(interval_id)
            if version.version not in schedules:
                schedules[version.version] = (
                    None if version.schedule_hash == FLAT_HASH else schedule_for(version.schedule_hash)
                )
            schedule_by_interval[interval_id] = schedules[version.version]
        return schedule_by_interval[interval_id]

    per_household: dict[str, list[IntervalEnergy]] = defaultdict(list)
    skipped: dict[str, list[int]] = defaultdict(list)
    names: dict[str, str] = {}
    none = (0, 0, 0, 0)
    for key in members:
        for entry in settled_of[key]:
            names[key] = entry.household
            if schedule_at(entry.interval_id) is None:
                skipped[key].append(entry.interval_id)
                continue
            b_wh, b_value, s_wh, s_value = trades.get((key, entry.interval_id), none)
            per_household[key].append(
                IntervalEnergy(
                    entry.interval_id,
                    entry.produced_wh,
                    entry.consumed_wh,
                    b_wh,
                    b_value,
                    s_wh,
                    s_value,
                    events.closed[entry.interval_id],
                )
            )

    capacity = {h.lower(): w for h, w in events.capacity_w.items()}

    def schedule_of(interval_id: int) -> Schedule:
        schedule = schedule_at(interval_id)
        assert schedule is not None  # flat-version intervals were skipped above
        return schedule

    statements = []
    for key in sorted(set(per_household) | set(skipped)):
        entries = tuple(sorted(per_household.get(key, []), key=lambda e: e.interval_id))
        if not entries:
            continue
        if key not in capacity:
            raise ValueError(f"household {names[key]} settled intervals but has no HouseholdRegistered event")
        contracted_kw = Decimal(capacity[key]) / 1000
        bill = compute_bill(entries, schedule_of, seconds, contracted_kw, with_community=True)
        without = compute_bill(entries, schedule_of, seconds, contracted_kw, with_community=False)
        energy = energy_kpis(entries, schedule_of, seconds)
        kpis = Kpis(**{**energy.__dict__, "bill_with": bill.total, "bill_without": without.total})
        used = sorted({v.version for v in map(events.version_of, {e.interval_id for e in entries})})
        versions = tuple(v for v in events.versions if v.version in used)
        statements.append(
            Statement(
                names[key],
                month,
                contracted_kw,
                entries,
                bill,
                without,
                kpis,
                versions,
                tuple(sorted(skipped.get(key, []))),
            )
        )
    return statements
