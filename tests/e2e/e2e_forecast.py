"""A community load forecast with P10–P90 bands in the e2e stack's database, made and stored by the forecaster's code.

`vatio forecast run --source db` cannot run here in seconds: it serves a trained LSTM (minutes of
bootstrap training) and its stand-in needs a day of the community's readings (the stack has minutes).
So this makes what that run serves when a simple model wins the choice on the last week
(backend.forecast.serving), without the LSTM:

* the history is the stand-in's (backend.forecast.stand_in): the shipped households' load shape, here at
  the stack's meters' consumption level;
* the simple models (serving.simple_forecasts) are compared on the last 7 daily issues whose horizon is
  over, and selection.select_by_origins picks the one served;
* its bands are split conformal on those issues' residuals (selection.ConformalBands), as serving.serve
  draws them;
* the hours are stored by backend.forecast.store (forecast_hours, save_forecasts), never as rows by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backend.db.session import make_engine, session_factory
from backend.forecast import selection
from backend.forecast.data import HOURS_PER_DAY, SeriesInfo
from backend.forecast.serving import VALIDATION_ISSUES, hourly_series, simple_forecasts
from backend.forecast.stand_in import stand_in_profile
from backend.forecast.store import forecast_hours, save_forecasts

HORIZONS_H = (24, 168)  # the dashboard's two forecast cards
# Enough history for the week-ahead horizon: 7 validation issues, the last one a horizon before the run,
# and the 8 days each simple model looks back.
HISTORY_DAYS = (HORIZONS_H[-1] + HOURS_PER_DAY * (VALIDATION_ISSUES - 1)) // HOURS_PER_DAY + 8
MODEL_VERSION = "e2e/simple-models"  # no artifact: names the fixture that made the run


@dataclass
class StoredRun:
    issued_at: int
    served: dict[int, str]  # horizon (h) -> the simple model served
    hours: int


def _served_forecast(series, issue: int, horizon: int) -> tuple[str, dict[str, np.ndarray]]:
    """The simple model chosen on the last week and its P10/P50/P90 (kW) from ``issue``."""
    actual, points, levels = [], {}, []
    for j in range(VALIDATION_ISSUES):
        past = issue - horizon - HOURS_PER_DAY * (VALIDATION_ISSUES - 1 - j)
        actual.append(series.values[past : past + horizon])
        levels.append(np.nanmean(series.values[past - 7 * HOURS_PER_DAY : past]))
        for name, value in simple_forecasts(series, past, horizon).items():
            points.setdefault(name, []).append(value)
    actual_arr = np.stack(actual)
    forecasts = {name: np.stack(values) for name, values in points.items()}
    hours = np.isfinite(actual_arr).sum(axis=1)
    losses = {name: selection.daily_losses(actual_arr, value) for name, value in forecasts.items()}
    served = selection.select_by_origins(losses, hours, losses, hours).served
    scale = selection.band_scale("load", forecasts[served], None, np.asarray(levels))
    bands = selection.ConformalBands.fit(actual_arr, forecasts[served], scale)

    point = simple_forecasts(series, issue, horizon)[served]
    level = np.array([np.nanmean(series.values[issue - 7 * HOURS_PER_DAY : issue])])
    now_scale = selection.band_scale("load", point[None, :], None, level)
    return served, {f"p{int(q * 100)}": bands.quantile(q, point[None, :], now_scale)[0] for q in (0.1, 0.5, 0.9)}


def store_community_forecast(database_url: str, level_kw: float, utc_offset_hours: float = 1.0) -> StoredRun:
    """Forecast the community's load from the current hour, 24 h and 168 h ahead, and store both runs."""
    issue_at = pd.Timestamp.now(tz="UTC").floor("1h")
    history = stand_in_profile(issue_at, HISTORY_DAYS) * level_kw
    info = SeriesInfo("community-stand-in", "load", utc_offset_hours)
    issued = int(issue_at.timestamp())
    hours, served = [], {}
    for horizon in HORIZONS_H:
        series = hourly_series("community", history, info, issue_at, horizon)
        name, quantiles = _served_forecast(series, series.position(issue_at), horizon)
        served[horizon] = name
        hours += forecast_hours(
            issued, None, "load", quantiles["p10"], quantiles["p50"], quantiles["p90"], MODEL_VERSION, name
        )
    engine = make_engine(database_url)
    try:
        with session_factory(engine).begin() as session:
            stored = save_forecasts(session, hours)
    finally:
        engine.dispose()
    return StoredRun(issued, served, stored)
