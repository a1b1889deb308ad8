"""A stand-in community load forecast for a community with less than a week of readings, labelled as one.

A forecast sees the series' own last LOOKBACK_DAYS (7) days, so a new community has none for a week,
and the demo, which replays its first 8 days, for about four minutes. With
``vatio forecast run --source db --stand-in`` each run made before any household has a complete week
forecasts the community's load from a stand-in history instead:

* the shipped households' load (the UCI Sceaux household and the synPRO profiles, the library the
  demo's simulated households are drawn from), each divided by its own mean over the last
  RUN_HISTORY_DAYS and averaged per hour (a household's gap leaves the others);
* moved by whole weeks to end at the issue hour (weekdays keep, as DatasetHistory does);
* times the community's mean load measured in its own readings so far (at least MIN_LEVEL_HOURS).

The load models (the bootstrap ones, trained on the same shipped data) forecast that series, and
every stored row says what it is: ``served_model`` is STAND_IN_SERVED, ``model_version`` the
artifact. No PV stand-in: the shipped PV system is in Colorado, whose days do not line up with
the community's sun. Runs with a complete week never use it.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from backend.forecast.data import SeriesInfo, load_dataset_series, load_synpro_series
from backend.forecast.history import RUN_HISTORY_DAYS
from backend.forecast.sources import shift_whole_weeks

# What the stored rows of a stand-in run name as their served model (forecasts.served_model, 64 chars).
STAND_IN_SERVED = "LSTM, stand-in history: shipped loads (< 7 days of readings)"
STAND_IN_SERIES = "community-stand-in"  # not "community": a model trained on the DB must not apply its scale
# The community's level is its mean over whole days of its own readings: at least one.
MIN_LEVEL_HOURS = 24


@cache
def shipped_loads() -> tuple[pd.Series, ...]:
    """The shipped households' hourly load, kW, UTC (read once per process: Sceaux takes seconds)."""
    return tuple(series for series, _ in [load_dataset_series("load"), *load_synpro_series()])


def stand_in_profile(issue_at: pd.Timestamp, history_days: int = RUN_HISTORY_DAYS) -> pd.Series:
    """The shipped households' mean load shape (mean 1 per household) over the ``history_days`` before
    ``issue_at``, on a full hourly grid."""
    grid = pd.date_range(
        issue_at - pd.Timedelta(days=history_days), issue_at, freq="1h", inclusive="left", name="timestamp"
    )
    parts = []
    for series in shipped_loads():
        recent = shift_whole_weeks(series, issue_at, history_days).reindex(grid)
        parts.append(recent / recent.mean())
    return pd.concat(parts, axis=1).mean(axis=1).rename("kw")


def stand_in_series(
    community_kw: pd.Series | None, issue_at: pd.Timestamp, utc_offset_hours: float
) -> tuple[pd.Series, SeriesInfo, float] | str:
    """(the stand-in load series, its info, the level in kW) from the community's own hourly load so far,
    or a sentence saying why there is none."""
    own = pd.Series(dtype=float) if community_kw is None else community_kw[community_kw.index < issue_at].dropna()
    if len(own) < MIN_LEVEL_HOURS:
        return (
            f"no stand-in forecast: the community's readings give {len(own)} complete hours, "
            f"{MIN_LEVEL_HOURS} are needed to measure its level"
        )
    level_kw = float(own.mean())
    if not np.isfinite(level_kw) or level_kw <= 0:
        return "no stand-in forecast: the community's readings show no consumption"
    series = stand_in_profile(issue_at) * level_kw
    return series, SeriesInfo(STAND_IN_SERIES, "load", utc_offset_hours), level_kw
