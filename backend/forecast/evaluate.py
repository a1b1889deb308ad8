"""Train on the training part of a series and score the LSTM against every baseline on the test part."""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend.forecast import baselines
from backend.forecast.features import DailyData
from backend.forecast.forecaster import ForecastConfig, Forecaster
from backend.forecast.metrics import evaluation_table
from backend.paths import VAR_DIR

MONDAY = 0


@dataclass
class Evaluation:
    """One evaluation: the table rows, the test geometry and the trained forecaster."""

    name: str
    rows: list[dict]
    issue_days: np.ndarray
    forecaster: Forecaster
    train_s: float
    forecasts: dict = field(default_factory=dict)

    def row(self, model: str) -> dict:
        """Return the row of one model."""
        return next(row for row in self.rows if row["model"] == model)


def test_issue_days(daily: DailyData, config: ForecastConfig, test_from: str, test_until: str | None) -> np.ndarray:
    """Issue days in the test period: every day (day-ahead) or every Monday (week-ahead).

    A day counts when it, its horizon and the 7 days before it are complete
    and the whole horizon lies inside the test period.
    """
    window = config.window()
    first = daily.day_index(test_from)
    end = daily.day_index(test_until) + 1 if test_until else len(daily.dates)
    issue = window.issue_days(daily, first=first, last=end, target_end=end)
    if config.horizon_days == 7:
        issue = issue[daily.dates[issue].dayofweek == MONDAY]
    return issue


def evaluate(daily: DailyData, config: ForecastConfig, train_until: str, test_from: str,
             test_until: str | None = None, work_dir: str | Path = VAR_DIR / "forecast-eval",
             extra_training: list[DailyData] | None = None, train_from: str | None = None,
             verbose: int = 1) -> Evaluation:
    """Train the LSTM and the ridge baseline up to ``train_until`` and score everything on the test period."""
    if np.datetime64(test_from) <= np.datetime64(train_until):
        raise ValueError("the test period must start after the training period")
    horizon = config.horizon_days
    issue = test_issue_days(daily, config, test_from, test_until)
    if len(issue) == 0:
        raise ValueError("no complete test days in the test period")
    forecaster = Forecaster(config)
    started = time.perf_counter()
    forecaster.fit([daily], train_until, Path(work_dir) / config.name, train_from=train_from, verbose=verbose,
                   other_households=extra_training)
    train_s = time.perf_counter() - started
    lstm = forecaster.predict(daily, issue)

    window = config.window()
    train_start = daily.day_index(train_from) if train_from else 0
    train_end = daily.day_index(train_until) + 1
    train_issue = window.issue_days(daily, first=train_start + 7, last=train_end, target_end=train_end)
    history_days = 1 if horizon == 1 else 7
    ridge = baselines.RidgeBaseline(horizon, history_days).fit(daily, train_issue)

    forecasts = {
        "persistence": {"point": baselines.persistence(daily, issue, horizon)},
        "weekly persistence": {"point": baselines.weekly_persistence(daily, issue, horizon)},
        "mean of last 7 days": {"point": baselines.mean_last_7_days(daily, issue, horizon)},
    }
    if config.kind == "pv":
        forecasts["clear-sky-index persistence"] = {
            "point": baselines.clear_sky_index_persistence(daily, issue, horizon)}
    ridge_name = f"ridge (last {history_days * 24} h + calendar" + (
        " + clear sky" + (" + weather" if config.use_weather else "") if config.kind == "pv" else "") + ")"
    forecasts[ridge_name] = {"point": ridge.predict(daily, issue)}
    forecasts["LSTM"] = {"point": lstm["point"], "p10": lstm["p10"], "p90": lstm["p90"]}

    actual = np.stack([daily.target_kw[i: i + horizon].ravel() for i in issue])
    daylight = None
    if config.kind == "pv":
        daylight = np.stack([daily.daylight[i: i + horizon].ravel() for i in issue])
    rows = evaluation_table(actual, forecasts, "persistence", daylight)
    for row in rows:
        row["is_ridge"] = row["model"] == ridge_name
    return Evaluation(config.name, rows, issue, forecaster, train_s, {**forecasts, "actual": actual})
