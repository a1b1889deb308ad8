"""Which band an instant falls in: local time in the schedule's time zone (DST included), day type, hour.

A day is a holiday when its local date is in the schedule's holiday list,
else a weekend day (Saturday, Sunday) or a weekday. An interval takes the band
of its start instant; bands change on local whole hours, so with whole-hour
UTC offsets (validated) an interval of 15 minutes never straddles two bands.
"""

from __future__ import annotations

import datetime as dt

from backend.tariffs.schema import Schedule, TariffError

UTC = dt.UTC


def day_type(schedule: Schedule, local_date: dt.date) -> str:
    if local_date in schedule.holidays:
        return "holiday"
    return "weekend" if local_date.weekday() >= 5 else "weekday"


def hour_table(schedule: Schedule) -> dict[str, tuple[int, ...]]:
    """day type -> 24 band indices by local hour (the schedule must be validated: every hour once)."""
    cached = schedule.__dict__.get("_hour_table")
    if cached is not None:
        return cached
    table = {}
    for kind in ("weekday", "weekend", "holiday"):
        hours = [-1] * 24
        for period in schedule.periods:
            if kind in period.days:
                for start, end in period.hours:
                    for hour in range(start, end):
                        hours[hour] = schedule.band_index(period.band)
        table[kind] = tuple(hours)
    # Kept on the (frozen) schedule itself: hashing a whole schedule per lookup would cost more than the lookup.
    schedule.__dict__["_hour_table"] = table
    return table


def local_time(schedule: Schedule, instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise ValueError("band lookup needs an aware UTC instant, got a naive datetime")
    return instant.astimezone(schedule.zone)


def check_in_years(schedule: Schedule, local_date: dt.date) -> None:
    if local_date.year not in schedule.years:
        raise TariffError(
            f"{local_date} is outside the years schedule {schedule.name!r} covers "
            f"({', '.join(map(str, schedule.years))}): its holidays are unknown there"
        )


def band_index_at(schedule: Schedule, instant: dt.datetime) -> int:
    """The band index in force at a UTC instant."""
    local = local_time(schedule, instant)
    check_in_years(schedule, local.date())
    return hour_table(schedule)[day_type(schedule, local.date())][local.hour]


def band_at(schedule: Schedule, instant: dt.datetime) -> str:
    return schedule.bands[band_index_at(schedule, instant)].name


def interval_start(interval_id: int, interval_seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(interval_id * interval_seconds, UTC)


def interval_band_index(schedule: Schedule, interval_id: int, interval_seconds: int) -> int:
    """The band index of an interval (its start instant); memoized on the schedule: a month's statements
    ask the same intervals once per member."""
    cache = schedule.__dict__.setdefault("_interval_bands", {})
    key = (interval_id, interval_seconds)
    if key not in cache:
        cache[key] = band_index_at(schedule, interval_start(interval_id, interval_seconds))
    return cache[key]


def local_day_hours(schedule: Schedule, local_date: dt.date) -> list[tuple[dt.datetime, str]]:
    """Every UTC hour of one local day with its band: 23 on the spring DST day, 25 on the autumn one."""
    zone = schedule.zone
    start = dt.datetime.combine(local_date, dt.time(0), zone).astimezone(UTC)
    end = dt.datetime.combine(local_date + dt.timedelta(days=1), dt.time(0), zone).astimezone(UTC)
    hours = []
    instant = start
    while instant < end:
        hours.append((instant, band_at(schedule, instant)))
        instant += dt.timedelta(hours=1)
    return hours


def utc_day_bands(schedule: Schedule, utc_day: int) -> list[int]:
    """The band index of each UTC hour of UTC day `utc_day` (days since 1970-01-01): the on-chain calendar's row."""
    start = dt.datetime.fromtimestamp(utc_day * 86400, UTC)
    return [band_index_at(schedule, start + dt.timedelta(hours=h)) for h in range(24)]
