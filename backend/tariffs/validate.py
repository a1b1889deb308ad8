"""What a schedule must mean before anyone uses it; every problem is reported, and nothing is registered.

Refused: overlapping or missing hours in a day type, feed-in above retail in
a band, negative prices unless `allow_negative_prices`, a start in the past
(when `now` is given: uploading a new version), holidays outside `years`, a
band no period uses or a period naming no band, a zone with a non-whole-hour
offset (the on-chain calendar is per UTC hour). Unknown keys are refused while
parsing (schema.py).
"""

from __future__ import annotations

import datetime as dt

from backend.tariffs.schema import DAY_TYPES, Schedule, TariffError, parse_schedule


def _spans(hours: list[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    out: list[str] = []
    for hour in hours:
        if out and int(out[-1].split("-")[-1]) == hour - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{hour}"
        else:
            out.append(str(hour))
    return ", ".join(out)


def schedule_problems(schedule: Schedule, now: dt.datetime | None = None) -> list[str]:
    problems = []
    names = [b.name for b in schedule.bands]
    if len(schedule.bands) > 255:
        problems.append(f"at most 255 bands, got {len(schedule.bands)}")
    for period in schedule.periods:
        if period.band not in names:
            problems.append(f"a period names band {period.band!r}, which [bands] does not define")
    used = {p.band for p in schedule.periods}
    for name in names:
        if name not in used:
            problems.append(f"band {name!r} is defined but no period uses it")

    for kind in DAY_TYPES:
        owners: list[list[str]] = [[] for _ in range(24)]
        for period in schedule.periods:
            if kind in period.days:
                for start, end in period.hours:
                    for hour in range(start, end):
                        owners[hour].append(period.band)
        missing = [h for h in range(24) if not owners[h]]
        if missing:
            problems.append(f"{kind} hours {_spans(missing)} have no band (missing hours)")
        for hour in range(24):
            if len(owners[hour]) > 1:
                problems.append(
                    f"{kind} hour {hour} is in more than one period ({', '.join(owners[hour])}): overlapping hours"
                )

    for band in schedule.bands:
        if band.feed_in > band.retail_import:
            problems.append(f"band {band.name!r}: feed-in {band.feed_in} is above retail {band.retail_import} EUR/kWh")
        prices = {
            "retail_import": band.retail_import,
            "feed_in": band.feed_in,
            "grid_access": band.grid_access,
            "grid_charges": band.grid_charges,
        }
        for key, value in prices.items():
            if value < 0 and not schedule.allow_negative_prices:
                problems.append(
                    f"band {band.name!r}: {key} {value} is negative and the file does not set "
                    "allow_negative_prices = true"
                )
        if band.co2_kg_per_kwh < 0:
            problems.append(f"band {band.name!r}: co2_kg_per_kwh {band.co2_kg_per_kwh} is negative")
    money = {
        "fixed.per_kw_day": schedule.fixed_per_kw_day,
        "fixed.per_month": schedule.fixed_per_month,
        "capacity.minimum_kw": schedule.capacity_minimum_kw,
        "taxes.electricity_tax": schedule.taxes.electricity_tax,
        "taxes.vat": schedule.taxes.vat,
    }
    if schedule.capacity_per_kw_month is not None:
        money["capacity.per_kw_month"] = schedule.capacity_per_kw_month
    for key, value in money.items():
        if value < 0:
            problems.append(f"{key} {value} is negative")
    for key in ("electricity_tax", "vat"):
        if getattr(schedule.taxes, key) >= 1:
            problems.append(f"taxes.{key} is a rate (0.21 for 21 %), got {getattr(schedule.taxes, key)}")

    years = set(schedule.years)
    if schedule.valid_from.year not in years:
        problems.append(f"valid_from {schedule.valid_from} is outside the schedule's years {sorted(years)}")
    if years and sorted(years) != list(range(min(years), max(years) + 1)):
        problems.append(f"years must be consecutive, got {sorted(years)}")
    outside = sorted(d for d in schedule.holidays if d.year not in years)
    if outside:
        problems.append(f"holidays {', '.join(map(str, outside))} are outside the schedule's years {sorted(years)}")
    try:
        zone = schedule.zone
        for year in years:
            for month in (1, 7):
                offset = dt.datetime(year, month, 1, 12, tzinfo=zone).utcoffset()
                if offset is not None and offset.total_seconds() % 3600:
                    problems.append(
                        f"time zone {schedule.timezone} has a non-whole-hour UTC offset ({offset}): "
                        "bands are per UTC hour on-chain"
                    )
                    break
    except Exception:  # noqa: BLE001 - an unknown zone was reported while parsing
        pass
    if now is not None:
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        first_moment = dt.datetime.combine(schedule.valid_from, dt.time(0), schedule.zone)
        if first_moment <= now:
            problems.append(
                f"valid_from {schedule.valid_from} ({first_moment.isoformat()}) is not in the future: "
                "a new version applies from a future interval only"
            )
    return problems


def validate_schedule(schedule: Schedule, now: dt.datetime | None = None) -> Schedule:
    problems = schedule_problems(schedule, now)
    if problems:
        raise TariffError(problems)
    return schedule


def load_valid(data: bytes | str, now: dt.datetime | None = None, source: str = "schedule") -> Schedule:
    """Parse and validate in one go: what upload, deployment and statements call."""
    return validate_schedule(parse_schedule(data, source=source), now)
