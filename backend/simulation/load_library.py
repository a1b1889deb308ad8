"""Real household load days to draw simulated households from.

Two shipped sources, read through :mod:`backend.datasets`:

- ``sceaux``: the UCI Sceaux household (France), 1-min mean active power,
  Dec 2006 to Nov 2010, on its local wall clock. Days with any missing minute
  (including the publisher's day copies) are marked incomplete.
- ``synpro:<name>``: a Fraunhofer synPRO profile (``family``,
  ``2_fulltime_employees``, ``2_persons_over65``, ``single_person_under30``),
  15-min mean power for 2021 in local standard time (CET, UTC+1), each value
  held for its 15 minutes.

Both become a day-by-minute matrix on the local wall clock, so that a
simulated household in any time zone cooks at its own 20:00.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

MINUTES_PER_DAY = 1440
# synPRO's axis is CET without DST; its wall clock is UTC + 1 h all year.
_SYNPRO_WALL_CLOCK_OFFSET = pd.Timedelta(hours=1)
# How far (in weeks, either way) to look for a complete day of the same weekday.
_MAX_SEARCH_WEEKS = 26


@dataclass(frozen=True, eq=False)
class LoadLibrary:
    """Whole days of one real household's load on its local wall clock."""

    name: str
    first_day: date
    minute_power_w: np.ndarray  # [days, 1440] mean W over each minute, NaN where missing
    complete: np.ndarray  # [days] True where the day has no missing minute

    @property
    def days(self) -> int:
        """Number of days in the library."""
        return len(self.complete)

    @property
    def years(self) -> list[int]:
        """Calendar years with at least 300 complete days, the ones households are drawn from."""
        day_years = np.array([(self.first_day + timedelta(days=int(row))).year for row in range(self.days)])
        counts = {int(year): int(self.complete[day_years == year].sum()) for year in np.unique(day_years)}
        return sorted(year for year, count in counts.items() if count >= 300)

    @property
    def mean_power_w(self) -> float:
        """Mean power over the complete days, W."""
        return float(self.minute_power_w[self.complete].mean())

    def day_row(self, wanted: date) -> int:
        """Return the row of the complete day nearest to ``wanted`` with the same weekday.

        Tries ``wanted`` itself, then one week later, one earlier, two later...
        Raises ValueError if none is found within half a year.
        """
        base = (wanted - self.first_day).days
        for weeks in range(_MAX_SEARCH_WEEKS + 1):
            for row in dict.fromkeys((base + 7 * weeks, base - 7 * weeks)):
                if 0 <= row < self.days and self.complete[row]:
                    return row
        raise ValueError(f"{self.name}: no complete day within {_MAX_SEARCH_WEEKS} weeks of {wanted}")


def _from_wall_clock_minutes(name: str, power_w: pd.Series) -> LoadLibrary:
    """Cut a 1-min wall-clock series into whole days."""
    first = power_w.index[0].normalize()
    if power_w.index[0] != first:
        first += pd.Timedelta(days=1)
    last = power_w.index[-1].normalize()  # exclusive: the last day may be partial
    whole = power_w[(power_w.index >= first) & (power_w.index < last)]
    expected = pd.date_range(first, last, freq="1min", inclusive="left")
    whole = whole.reindex(expected)
    matrix = whole.to_numpy(dtype="float64").reshape(-1, MINUTES_PER_DAY)
    return LoadLibrary(
        name=name,
        first_day=first.date(),
        minute_power_w=matrix,
        complete=~np.isnan(matrix).any(axis=1),
    )


@lru_cache(maxsize=1)
def sceaux_library() -> LoadLibrary:
    """Load the Sceaux household as a library (a few seconds, cached per process)."""
    from backend.datasets import load_sceaux_minutes

    power_w = load_sceaux_minutes()["active_power_kw"] * 1000.0
    return _from_wall_clock_minutes("sceaux", power_w)


@lru_cache(maxsize=8)
def synpro_library(profile: str) -> LoadLibrary:
    """Load one synPRO profile as a library, cached per process."""
    from backend.datasets import load_synpro_profile

    quarter_w = load_synpro_profile(profile)
    wall_clock = quarter_w.index.tz_convert("UTC").tz_localize(None) + _SYNPRO_WALL_CLOCK_OFFSET
    quarter_w = pd.Series(quarter_w.to_numpy(), index=wall_clock)
    minute_w = quarter_w.resample("1min").ffill()
    # The last quarter hour holds its value for all of its 15 minutes.
    tail = pd.date_range(minute_w.index[-1] + pd.Timedelta(minutes=1), periods=14, freq="1min")
    minute_w = pd.concat([minute_w, pd.Series(minute_w.iloc[-1], index=tail)])
    return _from_wall_clock_minutes(f"synpro:{profile}", minute_w)


def synpro_profile_names() -> list[str]:
    """Return the shipped synPRO household profile names."""
    from backend.datasets import list_synpro_profiles

    return list_synpro_profiles()


def load_library(source: str) -> LoadLibrary:
    """Return the library named ``sceaux`` or ``synpro:<profile>``."""
    if source == "sceaux":
        return sceaux_library()
    if source.startswith("synpro:"):
        return synpro_library(source.removeprefix("synpro:"))
    raise ValueError(f"unknown load source {source!r}; expected 'sceaux' or 'synpro:<profile>'")
