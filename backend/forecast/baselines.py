"""Simple forecasters every model is measured against, all in kW ``[samples, horizon_hours]``.

Each takes the same :class:`DailyData` and issue-day indices as the LSTM, so
every row of an evaluation table covers exactly the same hours.
"""

import numpy as np

from backend.forecast.features import DailyData, calendar_features

# Clear-sky GHI (kW/m²) below which an hour's clear-sky index is not trusted.
_MIN_CLEAR_SKY = 0.05
_MAX_CLEAR_SKY_INDEX = 1.5


def persistence(daily: DailyData, issue_days: np.ndarray, horizon_days: int) -> np.ndarray:
    """Same hour on the last observed day (yesterday), repeated over the horizon."""
    return np.stack([np.tile(daily.target_kw[i - 1], horizon_days) for i in issue_days]).reshape(len(issue_days), -1)


def weekly_persistence(daily: DailyData, issue_days: np.ndarray, horizon_days: int) -> np.ndarray:
    """Same hour on the same weekday one week earlier."""
    return np.stack([daily.target_kw[i - 7 : i - 7 + horizon_days].ravel() for i in issue_days])


def mean_last_7_days(daily: DailyData, issue_days: np.ndarray, horizon_days: int) -> np.ndarray:
    """Mean of the same hour over the last 7 days."""
    return np.stack([np.tile(daily.target_kw[i - 7 : i].mean(axis=0), horizon_days) for i in issue_days])


def clear_sky_index_persistence(daily: DailyData, issue_days: np.ndarray, horizon_days: int) -> np.ndarray:
    """Yesterday's hourly clear-sky index times the clear sky of the target hours (PV).

    Hours where yesterday's clear sky was too low for a stable ratio use
    yesterday's whole-day index instead.
    """
    if "ghi_clear" not in daily.covariate_names:
        raise ValueError("clear-sky-index persistence needs the ghi_clear covariate")
    column = daily.covariate_names.index("ghi_clear")
    forecasts = []
    for i in issue_days:
        produced_kw = daily.target_kw[i - 1]
        clear_past = daily.covariates[i - 1, :, column]
        day_index = produced_kw.sum() / max(clear_past.sum(), _MIN_CLEAR_SKY)
        hour_index = np.where(
            clear_past > _MIN_CLEAR_SKY, produced_kw / np.maximum(clear_past, _MIN_CLEAR_SKY), day_index
        )
        hour_index = np.clip(hour_index, 0.0, _MAX_CLEAR_SKY_INDEX * max(day_index, 1e-9) + 1e-9)
        clear_ahead = daily.covariates[i : i + horizon_days, :, column]
        forecasts.append((hour_index[None, :] * clear_ahead).ravel())
    return np.stack(forecasts)


def clear_sky_index_mean_7_days(daily: DailyData, issue_days: np.ndarray, horizon_days: int) -> np.ndarray:
    """The last 7 days' clear-sky index of each hour times the target hours' clear sky (PV).

    The index of an hour is the 7 days' production over their clear-sky GHI at
    that hour (hours whose 7-day clear sky is too low use the whole days'
    index). It keeps the recent level relative to the sun and takes the
    season from tomorrow's clear sky, so it does not carry the training
    months' level into another season.
    """
    if "ghi_clear" not in daily.covariate_names:
        raise ValueError("the clear-sky-index mean needs the ghi_clear covariate")
    column = daily.covariate_names.index("ghi_clear")
    forecasts = []
    for i in issue_days:
        produced_kw = daily.target_kw[i - 7 : i].sum(axis=0)
        clear_past = daily.covariates[i - 7 : i, :, column].sum(axis=0)
        day_index = produced_kw.sum() / max(clear_past.sum(), _MIN_CLEAR_SKY)
        hour_index = np.where(
            clear_past > 7 * _MIN_CLEAR_SKY, produced_kw / np.maximum(clear_past, _MIN_CLEAR_SKY), day_index
        )
        hour_index = np.clip(hour_index, 0.0, _MAX_CLEAR_SKY_INDEX * max(day_index, 1e-9) + 1e-9)
        forecasts.append((hour_index[None, :] * daily.covariates[i : i + horizon_days, :, column]).ravel())
    return np.stack(forecasts)


def ridge_features(daily: DailyData, issue_days: np.ndarray, horizon_days: int, history_days: int) -> np.ndarray:
    """Return ridge inputs: the last ``history_days`` of values, calendar of the issue day, covariates ahead."""
    calendar = calendar_features(daily.dates)
    rows = []
    for i in issue_days:
        weekday = np.zeros(7)
        weekday[daily.dates[i].dayofweek] = 1.0
        parts = [daily.target_kw[i - history_days : i].ravel(), weekday, calendar[i, 0, 4:6]]
        if daily.covariates.shape[-1]:
            parts.append(daily.covariates[i : i + horizon_days].ravel())
        rows.append(np.concatenate(parts))
    return np.stack(rows)


class RidgeBaseline:
    """Ridge regression from the previous day(s) plus calendar (and, for PV, clear sky and weather ahead)."""

    def __init__(self, horizon_days: int, history_days: int = 1):
        self.horizon_days = horizon_days
        self.history_days = history_days
        self.pipeline = None

    def fit(self, daily: DailyData, issue_days: np.ndarray) -> "RidgeBaseline":
        """Fit on training issue days only."""
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        inputs = ridge_features(daily, issue_days, self.horizon_days, self.history_days)
        targets = np.stack([daily.target_kw[i : i + self.horizon_days].ravel() for i in issue_days])
        self.pipeline = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 25)))
        self.pipeline.fit(inputs, targets)
        return self

    def predict(self, daily: DailyData, issue_days: np.ndarray) -> np.ndarray:
        """Predict kW for each issue day, clipped at zero."""
        if self.pipeline is None:
            raise RuntimeError("fit the ridge baseline first")
        inputs = ridge_features(daily, issue_days, self.horizon_days, self.history_days)
        return np.clip(self.pipeline.predict(inputs), 0.0, None)
