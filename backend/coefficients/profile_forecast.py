"""An honest forecast for a months-ahead plan: each member's typical day from the weeks before the period.

For each member, hour of the day (local time) and day type (weekday or weekend), P50 is the median and P10/P90
the 10th and 90th percentiles of that hour over the weeks of history before the period starts; ``scenarios``
holds the 10th, 30th, 50th, 70th and 90th percentiles, equally likely, for the planner's expected
self-consumption. Nothing from the period
itself is used. It ignores the season's drift over the four months: the forecasting issue's calibrated
per-member forecasts will replace it.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ConsumptionForecast:
    """Forecast Wh per hour of the period and member: ``p50[hour, member]``, and the P10/P90 bands."""

    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    scenarios: np.ndarray  # [SCENARIO_PERCENTILES, hour, member]


SCENARIO_PERCENTILES = (10, 30, 50, 70, 90)


def _slots(hour_starts: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    local = hour_starts.tz_convert(timezone)
    return local.hour.to_numpy() * 2 + (local.dayofweek.to_numpy() >= 5)


def typical_day_forecast(
    history_wh: np.ndarray,
    history_starts: pd.DatetimeIndex,
    period_starts: pd.DatetimeIndex,
    timezone: str = "Europe/Madrid",
) -> ConsumptionForecast:
    """Forecast ``period_starts`` from ``history_wh[hour, member]`` (hours starting at ``history_starts``)."""
    if len(history_starts) != len(history_wh):
        raise ValueError(f"{len(history_wh)} hours of history for {len(history_starts)} hour starts")
    if len(history_starts) and history_starts.max() >= period_starts.min():
        raise ValueError("the history must end before the period starts")
    history_slots = _slots(history_starts, timezone)
    if len(np.unique(history_slots)) < 48:
        raise ValueError("the history must cover every hour of a weekday and of a weekend day")
    table = np.stack(
        [np.percentile(history_wh[history_slots == slot], SCENARIO_PERCENTILES, axis=0) for slot in range(48)]
    )  # [slot, percentile, member]
    scenarios = table[_slots(period_starts, timezone)].transpose(1, 0, 2)
    return ConsumptionForecast(scenarios[0], scenarios[2], scenarios[4], scenarios)
