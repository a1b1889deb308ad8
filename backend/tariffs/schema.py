"""The tariff schedule file (TOML, `format = "vatio-tariff"`, `format_version = 1`): parsing into typed values.

docs/tariffs.md describes every key. Prices are decimal EUR per kWh, written
as TOML strings ("0.1234") or numbers; they are read as `Decimal` through
their text, so 0.1234 stays 0.1234. Parsing checks shapes and types and refuses
unknown keys; `validate.validate_schedule` checks the meaning (coverage of the
hours, feed-in against retail, signs, dates).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eth_hash.auto import keccak

FORMAT = "vatio-tariff"
FORMAT_VERSION = 1
DAY_TYPES = ("weekday", "weekend", "holiday")
# What taxes may apply to (docs/tariffs.md): the statement's component groups, and the electricity tax for VAT.
TAX_BASES = ("energy", "grid", "fixed", "capacity", "electricity_tax")

TOP_KEYS = {
    "format",
    "format_version",
    "name",
    "version",
    "timezone",
    "valid_from",
    "years",
    "allow_negative_prices",
    "community_pays_grid_charges",
    "holidays",
    "bands",
    "periods",
    "fixed",
    "capacity",
    "taxes",
}
BAND_KEYS = {"retail_import", "feed_in", "grid_access", "grid_charges", "co2_kg_per_kwh"}
PERIOD_KEYS = {"band", "days", "hours"}
FIXED_KEYS = {"per_kw_day", "per_month"}
CAPACITY_KEYS = {"per_kw_month", "minimum_kw"}
TAX_KEYS = {"electricity_tax", "electricity_tax_on", "vat", "vat_on"}
HOLIDAY_KEYS = {"dates"}


class TariffError(ValueError):
    """A schedule that cannot be used; `problems` lists every reason, each a full sentence."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("tariff schedule refused: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Band:
    name: str
    retail_import: Decimal  # EUR/kWh, energy bought from the grid
    feed_in: Decimal  # EUR/kWh, energy exported to the grid
    grid_access: Decimal  # EUR/kWh, network access (peajes)
    grid_charges: Decimal  # EUR/kWh, system charges (cargos)
    co2_kg_per_kwh: Decimal  # grid emission factor in this band


@dataclass(frozen=True)
class Period:
    band: str
    days: tuple[str, ...]
    hours: tuple[tuple[int, int], ...]  # [start, end) local hours


@dataclass(frozen=True)
class Taxes:
    electricity_tax: Decimal
    electricity_tax_on: tuple[str, ...]
    vat: Decimal
    vat_on: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    name: str
    version: int
    timezone: str
    valid_from: dt.date  # first local day in force
    years: tuple[int, ...]
    allow_negative_prices: bool
    community_pays_grid_charges: bool
    holidays: frozenset[dt.date]
    bands: tuple[Band, ...]  # file order; a band's index is its on-chain band number
    periods: tuple[Period, ...]
    fixed_per_kw_day: Decimal
    fixed_per_month: Decimal
    capacity_per_kw_month: Decimal | None
    capacity_minimum_kw: Decimal
    taxes: Taxes
    source_hash: bytes  # keccak256 of the file's bytes: the on-chain version hash

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def band_index(self, name: str) -> int:
        for index, band in enumerate(self.bands):
            if band.name == name:
                return index
        raise KeyError(f"no band {name!r} in schedule {self.name!r}")

    def band(self, name: str) -> Band:
        return self.bands[self.band_index(name)]


def schedule_hash(data: bytes) -> bytes:
    """The version hash the registry stores: keccak256 of the file's exact bytes."""
    return keccak(data)


def load_schedule(path: str | Path) -> Schedule:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TariffError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_schedule(data, source=str(path.name))


def parse_schedule(data: bytes | str, source: str = "schedule") -> Schedule:
    """Parse a schedule's bytes; every shape problem is collected and raised together as a TariffError."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TariffError(f"{source} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(f"{source} is not valid TOML: {exc}") from exc
    problems: list[str] = []
    reader = _Reader(problems)
    reader.unknown(doc, TOP_KEYS, "the top level")

    if doc.get("format") != FORMAT:
        problems.append(f'format must be "{FORMAT}", got {doc.get("format")!r}')
    if doc.get("format_version") != FORMAT_VERSION:
        problems.append(f"format_version must be {FORMAT_VERSION}, got {doc.get('format_version')!r}")
    name = reader.text(doc, "name", "the top level")
    version = reader.integer(doc, "version", "the top level", minimum=1)
    timezone = reader.text(doc, "timezone", "the top level")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone {timezone!r} is not a known IANA time zone")
    valid_from = doc.get("valid_from")
    if not isinstance(valid_from, dt.date) or isinstance(valid_from, dt.datetime):
        problems.append(f"valid_from must be a TOML local date (2027-01-01), got {valid_from!r}")
        valid_from = dt.date(1970, 1, 1)
    years = doc.get("years")
    if (
        not isinstance(years, list)
        or not years
        or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
    ):
        problems.append(f"years must be a non-empty list of calendar years, got {years!r}")
        years = []
    allow_negative = reader.boolean(doc, "allow_negative_prices", False)
    community_pays = reader.boolean(doc, "community_pays_grid_charges", False)

    holidays_doc = reader.table(doc, "holidays", "the top level", required=False)
    reader.unknown(holidays_doc, HOLIDAY_KEYS, "[holidays]")
    holiday_dates = holidays_doc.get("dates", [])
    if not isinstance(holiday_dates, list) or not all(
        isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in holiday_dates
    ):
        problems.append("holidays.dates must be a list of TOML local dates")
        holiday_dates = []

    bands = []
    bands_doc = reader.table(doc, "bands", "the top level")
    for band_name, band_doc in bands_doc.items():
        where = f"[bands.{band_name}]"
        if not isinstance(band_doc, dict):
            problems.append(f"{where} must be a table")
            continue
        reader.unknown(band_doc, BAND_KEYS, where)
        bands.append(
            Band(
                name=band_name,
                retail_import=reader.decimal(band_doc, "retail_import", where),
                feed_in=reader.decimal(band_doc, "feed_in", where),
                grid_access=reader.decimal(band_doc, "grid_access", where),
                grid_charges=reader.decimal(band_doc, "grid_charges", where),
                co2_kg_per_kwh=reader.decimal(band_doc, "co2_kg_per_kwh", where, default=Decimal(0)),
            )
        )
    if not bands and "bands" in doc:
        problems.append("[bands] must define at least one band")

    periods = []
    periods_doc = doc.get("periods")
    if not isinstance(periods_doc, list) or not periods_doc:
        problems.append("[[periods]] must list at least one period")
        periods_doc = []
    for number, period_doc in enumerate(periods_doc, start=1):
        where = f"[[periods]] #{number}"
        if not isinstance(period_doc, dict):
            problems.append(f"{where} must be a table")
            continue
        reader.unknown(period_doc, PERIOD_KEYS, where)
        band_name = reader.text(period_doc, "band", where)
        days = period_doc.get("days")
        if not isinstance(days, list) or not days or any(d not in DAY_TYPES for d in days):
            problems.append(f"{where}: days must be a non-empty list of {', '.join(DAY_TYPES)}, got {days!r}")
            days = []
        hours = period_doc.get("hours")
        spans = []
        if not isinstance(hours, list) or not hours:
            problems.append(f"{where}: hours must be a list of [start, end) pairs, e.g. [[10, 14]]")
            hours = []
        for span in hours:
            if (
                not isinstance(span, list)
                or len(span) != 2
                or not all(isinstance(h, int) for h in span)
                or not 0 <= span[0] < span[1] <= 24
            ):
                problems.append(f"{where}: hour span {span!r} must be [start, end) with 0 <= start < end <= 24")
                continue
            spans.append((span[0], span[1]))
        periods.append(Period(band=band_name, days=tuple(days), hours=tuple(spans)))

    fixed_doc = reader.table(doc, "fixed", "the top level")
    reader.unknown(fixed_doc, FIXED_KEYS, "[fixed]")
    capacity_doc = reader.table(doc, "capacity", "the top level", required=False)
    reader.unknown(capacity_doc, CAPACITY_KEYS, "[capacity]")
    taxes_doc = reader.table(doc, "taxes", "the top level")
    reader.unknown(taxes_doc, TAX_KEYS, "[taxes]")
    taxes = Taxes(
        electricity_tax=reader.decimal(taxes_doc, "electricity_tax", "[taxes]"),
        electricity_tax_on=reader.bases(taxes_doc, "electricity_tax_on", allow_tax=False),
        vat=reader.decimal(taxes_doc, "vat", "[taxes]"),
        vat_on=reader.bases(taxes_doc, "vat_on", allow_tax=True),
    )
    schedule = Schedule(
        name=name,
        version=version,
        timezone=timezone,
        valid_from=valid_from,
        years=tuple(years),
        allow_negative_prices=allow_negative,
        community_pays_grid_charges=community_pays,
        holidays=frozenset(holiday_dates),
        bands=tuple(bands),
        periods=tuple(periods),
        fixed_per_kw_day=reader.decimal(fixed_doc, "per_kw_day", "[fixed]"),
        fixed_per_month=reader.decimal(fixed_doc, "per_month", "[fixed]", default=Decimal(0)),
        capacity_per_kw_month=(reader.decimal(capacity_doc, "per_kw_month", "[capacity]") if capacity_doc else None),
        capacity_minimum_kw=reader.decimal(capacity_doc, "minimum_kw", "[capacity]", default=Decimal(0)),
        taxes=taxes,
        source_hash=schedule_hash(raw),
    )
    if problems:
        raise TariffError(problems)
    return schedule


class _Reader:
    def __init__(self, problems: list[str]):
        self.problems = problems

    def unknown(self, table: dict, allowed: set[str], where: str) -> None:
        for key in sorted(set(table) - allowed):
            self.problems.append(f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})")

    def table(self, doc: dict, key: str, where: str, required: bool = True) -> dict:
        value = doc.get(key)
        if value is None:
            if required:
                self.problems.append(f"[{key}] is missing from {where}")
            return {}
        if not isinstance(value, dict):
            self.problems.append(f"{key} must be a table")
            return {}
        return value

    def text(self, doc: dict, key: str, where: str) -> str:
        value = doc.get(key)
        if not isinstance(value, str) or not value.strip():
            self.problems.append(f"{key} in {where} must be a non-empty string, got {value!r}")
            return ""
        return value

    def integer(self, doc: dict, key: str, where: str, minimum: int) -> int:
        value = doc.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.problems.append(f"{key} in {where} must be an integer >= {minimum}, got {value!r}")
            return minimum
        return value

    def boolean(self, doc: dict, key: str, default: bool) -> bool:
        value = doc.get(key, default)
        if not isinstance(value, bool):
            self.problems.append(f"{key} must be true or false, got {value!r}")
            return default
        return value

    def decimal(self, doc: dict, key: str, where: str, default: Decimal | None = None) -> Decimal:
        if key not in doc:
            if default is None:
                self.problems.append(f"{key} is missing from {where}")
                return Decimal(0)
            return default
        value = doc[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.problems.append(f"{key} in {where} must be a decimal number, got {value!r}")
            return Decimal(0)
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            self.problems.append(f"{key} in {where} must be a decimal number, got {value!r}")
            return Decimal(0)
        if not number.is_finite():
            self.problems.append(f"{key} in {where} must be finite, got {value!r}")
            return Decimal(0)
        return number

    def bases(self, doc: dict, key: str, allow_tax: bool) -> tuple[str, ...]:
        value = doc.get(key, [])
        allowed = TAX_BASES if allow_tax else TAX_BASES[:-1]
        if not isinstance(value, list) or any(v not in allowed for v in value):
            self.problems.append(f"taxes.{key} must list some of {', '.join(allowed)}, got {value!r}")
            return ()
        return tuple(value)
