"""The file's hours of the year: hour ``k`` (from 1) is the ``k``-th elapsed hour from local midnight on 1 January.

Counting elapsed hours, not clock readings, gives every year exactly 8,760 hours (8,784 in a leap year) in any
time zone: the spring-forward day has 23 and the fall-back day 25, and the repeated clock hour 02:00-03:00 in
October is two different hours of the file. Spain's peninsula uses Europe/Madrid, the Canaries Atlantic/Canary.
"""

import calendar
from zoneinfo import ZoneInfo

import pandas as pd

SPAIN = "Europe/Madrid"


def hours_in_year(year: int) -> int:
    """8,784 in a leap year, else 8,760."""
    return 8784 if calendar.isleap(year) else 8760


def year_start_utc(year: int, timezone: str = SPAIN) -> pd.Timestamp:
    """Local midnight on 1 January, in UTC."""
    return pd.Timestamp(year=year, month=1, day=1, tz=ZoneInfo(timezone)).tz_convert("UTC")


def hour_starts_utc(year: int, timezone: str = SPAIN) -> pd.DatetimeIndex:
    """The UTC start of each hour of the file (index 0 is hour 1)."""
    return pd.date_range(year_start_utc(year, timezone), periods=hours_in_year(year), freq="h")


def hour_number(year: int, start_utc: pd.Timestamp, timezone: str = SPAIN) -> int:
    """The file's hour (from 1) that starts at ``start_utc``; a time that is not in that year is refused."""
    offset = (pd.Timestamp(start_utc).tz_convert("UTC") - year_start_utc(year, timezone)) / pd.Timedelta(hours=1)
    if offset != int(offset) or not 0 <= offset < hours_in_year(year):
        raise ValueError(f"{start_utc} does not start an hour of {year} ({timezone})")
    return int(offset) + 1
