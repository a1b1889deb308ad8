"""Chain events -> each member's monthly statement rows (pure: no database, no web3).

The events are normalized tuples, the same whether they come from the indexer's
database or from a node's logs, so the generator and the auditor share this code
and differ only in where they read.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import numpy as np

from backend.statements.columns import FillColumns, MonthTable, SettledColumns, SettledIntervals, month_table
from backend.tariffs.bands import UTC, interval_band_index
from backend.tariffs.billing import PEAK_WINDOW_SECONDS, Bill, IntervalEnergy, _local_date, bill_from_sums
from backend.tariffs.kpis import Kpis, kpis_from_sums
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
    """What a month's statements need, gathered from either source. The settlements and fills are lists of
    events, or columns (columns.py) when read in bulk from the database."""

    interval_seconds: int
    settled: list[Settled] | SettledColumns = field(default_factory=list)
    fills: list[FillEvent] | FillColumns = field(default_factory=list)
    closed: dict[int, str] = field(default_factory=dict)  # interval id -> tx hash
    capacity_w: dict[str, int] = field(default_factory=dict)  # household -> registered capacity
    versions: list[VersionAdded] = field(default_factory=list)

    def add(self, event) -> None:
        if isinstance(event, Settled):
            if not isinstance(self.settled, list):
                self.settled = list(self.settled)
            self.settled.append(event)
        elif isinstance(event, FillEvent):
            if not isinstance(self.fills, list):
                self.fills = list(self.fills)
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

    def table(self, window: range) -> MonthTable:
        """The month's closed settlements with their trades, grouped by member: built once (before workers fork)
        and kept while no event is added."""
        cache = self.__dict__.setdefault("_table", {})
        key = (
            window.start,
            window.stop,
            id(self.settled),
            len(self.settled),
            id(self.fills),
            len(self.fills),
            len(self.closed),
        )
        if key not in cache:
            cache.clear()
            cache[key] = month_table(self.settled, self.fills, self.closed, window)
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


@dataclass(frozen=True, eq=False)
class Statement:
    household: str
    month: str
    contracted_kw: Decimal
    energy: SettledIntervals  # the billed intervals, as columns
    bill: Bill
    without: Bill
    kpis: Kpis
    versions: tuple[VersionAdded, ...]
    skipped: tuple[int, ...]  # settled intervals under a flat version (no schedule file): not billed

    @property
    def saving(self) -> Decimal:
        return self.without.total - self.bill.total

    @property
    def intervals(self) -> tuple[IntervalEnergy, ...]:
        """The billed intervals as objects, made on first use (the files are written from the columns)."""
        if "_intervals" not in self.__dict__:
            self.__dict__["_intervals"] = self.energy.entries()
        return self.__dict__["_intervals"]


def _decimal_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Fraction):
        return f"{Decimal(value.numerator) / Decimal(value.denominator):.6f}"
    return str(value)


def statement_lines(statement: Statement, intervals: bool = True) -> list[list[str]]:
    """The CSV rows, as lists in CSV_COLUMNS order: one per band and component (with and without the community),
    totals, KPIs, intervals (left out unless `intervals`), unbilled intervals."""
    h, m = statement.household, statement.month
    rows = [
        [h, m, "tariff", str(v.version), "", "schedule_hash", "", "", "0x" + v.schedule_hash.hex(), ""]
        for v in statement.versions
    ]
    rows.append([h, m, "meta", "", "", "contracted_kw", str(statement.contracted_kw), "kW", "", ""])
    for section, bill in (("with", statement.bill), ("without", statement.without)):
        for line in bill.lines:
            rows.append(
                [
                    h,
                    m,
                    section,
                    str(line.version),
                    line.band,
                    line.component,
                    _decimal_text(line.quantity),
                    line.unit,
                    _decimal_text(line.price),
                    str(line.amount),
                ]
            )
        rows.append([h, m, section, "", "", "total", "", "", "", str(bill.total)])
    rows.append([h, m, "saving", "", "", "saving", "", "", "", str(statement.saving)])
    for name in KPI_NAMES:
        rows.append([h, m, "kpi", "", "", name, _decimal_text(getattr(statement.kpis, name)), "", "", ""])
    if intervals:
        rows += [
            [h, m, "interval", "", "", str(i), f"{p}/{c}/{b}/{s}", "Wh p/c/b/s", "", tx]
            for i, p, c, b, s, tx in statement.energy.listing()
        ]
    rows += [[h, m, "unbilled", "0", "", str(i), "", "", "", ""] for i in statement.skipped]
    return rows


def csv_field(value: str) -> str:
    """A field as the csv module writes it in the middle of a row (quoted only when it must be)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["", value, ""])
    return buffer.getvalue()[1:-2]


def statement_csv(statement: Statement) -> str:
    """The statement file's text: exactly csv.writer's output for the header and `statement_lines` (tested), with
    the interval rows formatted directly (a month has about 3,000 of them per member)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    lines = statement_lines(statement, intervals=False)
    writer.writerows(lines[: len(lines) - len(statement.skipped)])
    start = f"{csv_field(statement.household)},{csv_field(statement.month)},interval,,,"
    buffer.write(
        "".join(
            f"{start}{i},{p}/{c}/{b}/{s},Wh p/c/b/s,,{tx}\n"
            for i, p, c, b, s, tx in statement.energy.listing(csv_field)
        )
    )
    writer.writerows(lines[len(lines) - len(statement.skipped) :])
    return buffer.getvalue()


def statement_rows(statement: Statement) -> list[dict[str, str]]:
    """The CSV rows as dicts by column."""
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in statement_lines(statement)]


def row_key(row: dict[str, str]) -> str:
    """A row's name in audit messages: section, version, band, component."""
    parts = [row["section"]]
    if row["version"]:
        parts.append(f"v{row['version']}")
    if row["band"]:
        parts.append(row["band"])
    parts.append(row["component"])
    return ":".join(parts)


def _sum(values) -> int:
    return int(values.sum())


def build_statements(
    events: MonthEvents,
    month: str,
    schedule_for: Callable[[bytes], Schedule],
    zone,
    households: Iterable[str] | None = None,
) -> list[Statement]:
    """Every member's statement for `month` (local to `zone`), or only `households`'.

    Each member's bill and KPIs come from sums over the month's columns, the same exact sums that
    billing.compute_bill and kpis.energy_kpis take interval by interval (tests/backend/statements/
    test_statement_columns.py compares them), then the same code makes the lines."""
    seconds = events.interval_seconds
    window = month_intervals(month, zone, seconds)
    table = events.table(window)
    wanted = None if households is None else {h.lower() for h in households}

    # What each interval of the window that someone settled needs, once for all members: its schedule
    # (None under a flat version), band, bill line group, local date and grid emission factor.
    used = np.unique(table.offset).tolist()
    schedules: dict[int, Schedule | None] = {}
    billed = np.zeros(len(window), dtype=bool)
    band_at = np.zeros(len(window), dtype=np.int64)
    group = np.zeros(len(window), dtype=np.int64)  # index into `groups`: (version, band name)
    day = np.zeros(len(window), dtype=np.int64)  # local date ordinal
    co2 = np.zeros(len(window), dtype=np.int64)  # index into `factors`
    schedule_at: dict[int, Schedule] = {}
    version_at: dict[int, int] = {}  # offset -> on-chain version
    groups: dict[tuple[int, str], int] = {}
    factors: dict[Decimal, int] = {}
    for offset in used:
        interval_id = window.start + offset
        version = events.version_of(interval_id)
        version_at[offset] = version.version
        if version.version not in schedules:
            schedules[version.version] = (
                None if version.schedule_hash == FLAT_HASH else schedule_for(version.schedule_hash)
            )
        schedule = schedules[version.version]
        if schedule is None:
            continue
        billed[offset] = True
        schedule_at[offset] = schedule
        band_at[offset] = interval_band_index(schedule, interval_id, seconds)
        band = schedule.bands[band_at[offset]]
        group[offset] = groups.setdefault((schedule.version, band.name), len(groups))
        day[offset] = _local_date(interval_id, seconds, schedule.timezone).toordinal()
        co2[offset] = factors.setdefault(band.co2_kg_per_kwh, len(factors))
    month_info = (schedule_at, band_at, group, list(groups), day, co2, [Fraction(f) for f in factors])
    capacity = {h.lower(): w for h, w in events.capacity_w.items()}

    statements = []
    for index, key in enumerate(table.members):
        if wanted is not None and key not in wanted:
            continue
        rows = table.rows_of(index)
        offset = table.offset[rows]
        mask = billed[offset]
        if not mask.any():
            continue
        skipped = tuple(table.columns["interval_id"][rows][~mask].tolist())
        columns = {name: column[rows][mask] for name, column in table.columns.items()}
        offset = offset[mask]
        energy = SettledIntervals(columns, offset, table.tx_of)
        if key not in capacity:
            raise ValueError(f"household {table.names[key]} settled intervals but has no HouseholdRegistered event")
        contracted_kw = Decimal(capacity[key]) / 1000
        bill, without, kpis = _member_figures(columns, offset, seconds, month_info, contracted_kw)
        used_versions = {version_at[o] for o in np.unique(offset).tolist()}
        versions = tuple(v for v in events.versions if v.version in used_versions)
        statements.append(
            Statement(table.names[key], month, contracted_kw, energy, bill, without, kpis, versions, skipped)
        )
    return statements


def _member_figures(columns, offset, seconds, month_info, contracted_kw) -> tuple[Bill, Bill, Kpis]:
    """(bill with the community, bill without, KPIs) of one member from column sums."""
    schedule_at, band_at, group, group_keys, day, co2, factors = month_info
    produced, consumed = columns["produced_wh"], columns["consumed_wh"]
    bought, sold = columns["bought_wh"], columns["sold_wh"]
    deficit = np.maximum(consumed - produced, 0)
    surplus = np.maximum(produced - consumed, 0)
    grid_import = np.maximum(deficit - bought, 0)
    grid_export = np.maximum(surplus - sold, 0)

    # Bill lines by (version, band): each group's sums, and the schedule and band of its last interval.
    member_group = group[offset]
    wh_with: dict = {}
    wh_without: dict = {}
    value: dict = {}
    bands: dict = {}
    for g in np.unique(member_group).tolist():
        inside = member_group == g
        key = group_keys[g]
        last = int(offset[np.flatnonzero(inside)[-1]])
        bands[key] = (schedule_at[last], int(band_at[last]))
        wh_with[key] = {
            "import": _sum(grid_import[inside]),
            "export": _sum(grid_export[inside]),
            "bought": _sum(bought[inside]),
            "sold": _sum(sold[inside]),
        }
        wh_without[key] = {"import": _sum(deficit[inside]), "export": _sum(surplus[inside])}
        value[key] = {"bought": _sum(columns["bought_value"][inside]), "sold": _sum(columns["sold_value"][inside])}

    last_schedule = schedule_at[int(offset[-1])]
    days = len(np.unique(day[offset]))
    # The peak: deficits summed per 15-minute window (rows are in interval order, so windows are runs).
    windows = columns["interval_id"] * seconds // PEAK_WINDOW_SECONDS
    starts = np.flatnonzero(np.concatenate(([True], windows[1:] != windows[:-1])))
    peak_wh = int(np.add.reduceat(deficit, starts).max()) if len(deficit) else 0
    peak = Decimal(peak_wh * 3600 // PEAK_WINDOW_SECONDS) / 1000
    bill = bill_from_sums(wh_with, value, bands, last_schedule, days, peak, contracted_kw, with_community=True)
    without = bill_from_sums(wh_without, {}, bands, last_schedule, days, peak, contracted_kw, with_community=False)

    home = np.minimum(produced, consumed)
    used = np.minimum(bought, deficit)
    avoided = home + used
    member_co2 = co2[offset]
    co2_g = Fraction(0)
    for f in np.unique(member_co2).tolist():
        co2_g += factors[f] * _sum(avoided[member_co2 == f])  # kg/kWh x Wh = g
    sums = {
        "consumed": _sum(consumed),
        "produced": _sum(produced),
        "home": _sum(home),
        "community_used": _sum(used),
        "community_supplied": _sum(np.minimum(sold, surplus)),
        "bought": _sum(bought),
        "sold": _sum(sold),
        "grid_import": _sum(grid_import),
        "grid_export": _sum(grid_export),
        "co2_g": co2_g,
    }
    energy = kpis_from_sums(sums, peak)
    kpis = Kpis(**{**energy.__dict__, "bill_with": bill.total, "bill_without": without.total})
    return bill, without, kpis
