"""The served model of a database run: chosen per kind on the stored history's own last week, at run time.

``vatio forecast run --source db`` issues at any hour. For each run model
(kind and horizon) it scores, on the series' last ``VALIDATION_ISSUES`` days
(issues at the same hour of the day, whose horizon is already observed),
the trained LSTM artifact, the simple models, a ridge fitted at run time on
the days before them, and the blend of the LSTM and the ridge, and serves
the winner of :func:`backend.forecast.selection.select_by_origins`: the
best simple model, the ridge if lower, then the blend and the LSTM only if
they beat it significantly. The artifact's members are averaged into one
network when saved, so the run cannot check each seed; that check is made
by ``vatio forecast evaluate``. Bands of a model other than the LSTM are
split conformal on the same days' residuals (``selection.ConformalBands``).

All in kW per hour; the ridge is pooled over the series, each divided by its
own scale (mean for load, 99.5th percentile for PV), so households of every
size share it. Only the LSTM call needs TensorFlow (inside ``forecast_batch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backend.forecast import selection
from backend.forecast.data import HOURS_PER_DAY, SeriesInfo

# Issues that validate the choice: the last week, one a day at the run's hour.
VALIDATION_ISSUES = 7
# Series that take part in the choice (the community first, then households by address): enough for a
# kind's choice, and the LSTM then forecasts them VALIDATION_ISSUES more times only.
MAX_VALIDATION_SERIES = 50
# Ridge training issues before the validation week, at most (one a day).
MAX_RIDGE_ISSUES = 56
_MIN_RIDGE_SAMPLES = 14
_MIN_CLEAR_SKY = 0.05  # kW/m²
_MAX_CLEAR_SKY_INDEX = 1.5
_BRIDGE_HOURS = 3


@dataclass
class HourlySeries:
    """One series on a regular hourly UTC grid through the horizon (future hours NaN)."""

    key: str
    values: np.ndarray
    start: pd.Timestamp
    local_offset_hours: float
    clear_kw_m2: np.ndarray | None = None  # clear-sky GHI (PV)

    def position(self, moment: pd.Timestamp) -> int:
        return int((moment - self.start) / pd.Timedelta(hours=1))


def hourly_series(
    key: str, hourly_kw: pd.Series, info: SeriesInfo, issue_at: pd.Timestamp, horizon_hours: int
) -> HourlySeries | None:
    """A series' history before ``issue_at`` on a full grid (gaps up to 3 hours bridged) through the horizon."""
    history = hourly_kw[hourly_kw.index < issue_at]
    if history.empty:
        return None
    grid = pd.date_range(history.index.min(), issue_at + pd.Timedelta(hours=horizon_hours), freq="1h", inclusive="left")
    values = history.reindex(grid[grid < issue_at]).interpolate(limit=_BRIDGE_HOURS, limit_area="inside")
    full = np.concatenate([values.to_numpy(float), np.full(horizon_hours, np.nan)])
    clear = None
    if info.kind == "pv":
        from backend.forecast.solar import clear_sky_features

        clear = clear_sky_features(grid, info.site)["ghi_clear_w_m2"].to_numpy() / 1000.0
    return HourlySeries(key, full, grid[0], info.utc_offset_hours, clear)


def _same_hour(series: HourlySeries, issue: int, horizon: int, days_back: int) -> np.ndarray:
    """The values ``days_back`` days before each target hour's hour of the day, seen from ``issue``."""
    offsets = np.arange(horizon) % HOURS_PER_DAY
    return series.values[issue - HOURS_PER_DAY * days_back + offsets]


def simple_forecasts(series: HourlySeries, issue: int, horizon: int) -> dict[str, np.ndarray]:
    """The simple models from hour ``issue`` (an index of ``series``), as in ``baselines`` but at any hour."""
    forecasts = {
        "persistence": _same_hour(series, issue, horizon, 1),
        "weekly persistence": series.values[issue - 7 * HOURS_PER_DAY + np.arange(horizon)],
        "mean of last 7 days": np.mean([_same_hour(series, issue, horizon, d) for d in range(1, 8)], axis=0),
    }
    if series.clear_kw_m2 is not None:
        clear = series.clear_kw_m2
        offsets = np.arange(horizon) % HOURS_PER_DAY
        ahead = clear[issue + np.arange(horizon)]

        def index_of(days: range) -> np.ndarray:
            produced = np.sum([series.values[issue - HOURS_PER_DAY * d + offsets] for d in days], axis=0)
            sky = np.sum([clear[issue - HOURS_PER_DAY * d + offsets] for d in days], axis=0)
            whole = np.nansum(produced[:HOURS_PER_DAY]) / max(np.sum(sky[:HOURS_PER_DAY]), _MIN_CLEAR_SKY)
            hourly = np.where(sky > len(days) * _MIN_CLEAR_SKY, produced / np.maximum(sky, _MIN_CLEAR_SKY), whole)
            return np.clip(hourly, 0.0, _MAX_CLEAR_SKY_INDEX * max(whole, 1e-9) + 1e-9)

        forecasts["clear-sky-index persistence"] = index_of(range(1, 2)) * ahead
        forecasts["clear-sky-index mean of last 7 days"] = index_of(range(1, 8)) * ahead
    return forecasts


def _scale(series: HourlySeries, before: int, kind: str) -> float:
    values = series.values[:before]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return max(float(np.percentile(values, 99.5)) if kind == "pv" else float(values.mean()), 1e-3)


def _ridge_inputs(series: HourlySeries, issue: int, horizon: int, scale: float) -> np.ndarray:
    """Last 24 hours (scaled), the local weekday of the issue, and for PV the clear sky ahead."""
    weekday = np.zeros(7)
    local = series.start + pd.Timedelta(hours=issue + series.local_offset_hours)
    weekday[local.dayofweek] = 1.0
    parts = [series.values[issue - HOURS_PER_DAY : issue] / scale, weekday]
    if series.clear_kw_m2 is not None:
        parts.append(series.clear_kw_m2[issue : issue + horizon])
    return np.concatenate(parts)


class PooledRidge:
    """A ridge over several series, each divided by its own scale: inputs and targets per issue."""

    def __init__(self, horizon: int):
        self.horizon = horizon
        self.pipeline = None

    def fit(self, samples: list[tuple[HourlySeries, int, float]]) -> PooledRidge:
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        inputs, targets = [], []
        for series, issue, scale in samples:
            row = _ridge_inputs(series, issue, self.horizon, scale)
            target = series.values[issue : issue + self.horizon] / scale
            if np.isfinite(row).all() and np.isfinite(target).all():
                inputs.append(row)
                targets.append(target)
        if len(inputs) < _MIN_RIDGE_SAMPLES:
            return self
        self.pipeline = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 25)))
        self.pipeline.fit(np.stack(inputs), np.stack(targets))
        return self

    def predict(self, series: HourlySeries, issue: int, scale: float) -> np.ndarray:
        if self.pipeline is None:
            return np.full(self.horizon, np.nan)
        row = _ridge_inputs(series, issue, self.horizon, scale)
        if not np.isfinite(row).all():
            return np.full(self.horizon, np.nan)
        return np.clip(self.pipeline.predict(row[None, :])[0] * scale, 0.0, None)


@dataclass
class ServedChoice:
    """The kind's served candidate for one run model, why, and the bands of a model other than the LSTM."""

    served: str
    reason: str
    bands: selection.ConformalBands | None = None
    ridge: PooledRidge | None = None
    validation_rmse: dict[str, float] = field(default_factory=dict)


def _daylight(series: HourlySeries, issue: int, horizon: int) -> np.ndarray:
    if series.clear_kw_m2 is None:
        return np.ones(horizon, dtype=bool)
    return series.clear_kw_m2[issue : issue + horizon] > 0.0


def _ridge_samples(prepared, before: pd.Timestamp, horizon: int) -> list[tuple[HourlySeries, int, float]]:
    """One issue a day at the run's hour, up to MAX_RIDGE_ISSUES per series, whose horizon ends by ``before``."""
    samples = []
    for series, scale, _, _ in prepared:
        last = series.position(before) - horizon
        for j in range(MAX_RIDGE_ISSUES):
            issue = last - HOURS_PER_DAY * j
            if issue - 8 * HOURS_PER_DAY < 0:
                break
            samples.append((series, issue, scale))
    return samples


def choose(
    forecaster,
    items: list[tuple[str, pd.Series, SeriesInfo]],
    issue_at: pd.Timestamp,
    validation_issues: int = VALIDATION_ISSUES,
    max_series: int = MAX_VALIDATION_SERIES,
) -> ServedChoice:
    """Choose the served candidate of one run model on the series' last ``validation_issues`` days.

    ``items`` are ``(key, hourly kW, info)``; the first ``max_series`` with data take part. Falls back to
    the LSTM, saying so, when the history holds too few complete validation days.
    """
    from backend.forecast.pipeline import forecast_batch

    kind = forecaster.config.kind
    horizon = forecaster.config.horizon_days * HOURS_PER_DAY
    first_validation = issue_at - pd.Timedelta(hours=horizon + HOURS_PER_DAY * (validation_issues - 1))
    prepared = []
    for key, hourly_kw, info in items[:max_series]:
        series = hourly_series(key, hourly_kw, info, issue_at, horizon)
        if series is None:
            continue
        scale = _scale(series, series.position(first_validation), kind)
        if np.isfinite(scale):
            prepared.append((series, scale, hourly_kw, info))
    validation_times = [first_validation + pd.Timedelta(hours=HOURS_PER_DAY * j) for j in range(validation_issues)]
    # The ridge of the validation learns from the days whose horizon ends before the validation week.
    ridge = PooledRidge(horizon).fit(_ridge_samples(prepared, first_validation, horizon))

    rows: dict[str, list[np.ndarray]] = {}
    actual, masks, levels = [], [], []
    for moment in validation_times:
        lstm = forecast_batch(forecaster, [(hourly_kw, info) for _, _, hourly_kw, info in prepared], moment)
        for (series, scale, _, _), from_lstm in zip(prepared, lstm, strict=True):
            issue = series.position(moment)
            if from_lstm is None or issue - 8 * HOURS_PER_DAY < 0:
                continue
            target = series.values[issue : issue + horizon]
            if not np.isfinite(target).all():
                continue
            candidates = simple_forecasts(series, issue, horizon)
            candidates["ridge"] = ridge.predict(series, issue, scale)
            candidates[selection.LSTM] = from_lstm["point"]
            candidates[selection.BLEND] = 0.5 * (from_lstm["point"] + candidates["ridge"])
            for name, value in candidates.items():
                rows.setdefault(name, []).append(value)
            actual.append(target)
            masks.append(_daylight(series, issue, horizon))
            levels.append(np.nanmean(series.values[issue - 7 * HOURS_PER_DAY : issue]))
    if len(actual) < 3:
        return ServedChoice(
            selection.LSTM,
            f"LSTM: only {len(actual)} complete validation days in the stored "
            f"history (need 3) to compare it with the simple models",
        )
    actual_arr, mask = np.stack(actual), np.stack(masks)
    forecasts = {name: np.stack(values) for name, values in rows.items()}
    hours = (np.isfinite(actual_arr) & mask).sum(axis=1)
    losses = {name: selection.daily_losses(actual_arr, value, mask) for name, value in forecasts.items()}
    plain = {name: loss for name, loss in losses.items() if not selection.uses_lstm(name)}
    chosen = selection.select_by_origins(plain, hours, losses, hours)
    bands = None
    if selection.is_ridge(chosen.served) or chosen.served == selection.BLEND:
        ridge = PooledRidge(horizon).fit(_ridge_samples(prepared, issue_at, horizon))  # refitted up to the run
    if chosen.served != selection.LSTM:
        point = forecasts[chosen.served]
        scale = selection.band_scale(kind, point, None, np.asarray(levels))
        keep = mask & np.isfinite(point)
        bands = selection.ConformalBands.fit(actual_arr, np.nan_to_num(point), scale, keep)
    return ServedChoice(chosen.served, chosen.reason, bands, ridge, chosen.validation_rmse)


def serve(
    choice: ServedChoice,
    forecaster,
    hourly_kw: pd.Series,
    info: SeriesInfo,
    issue_at: pd.Timestamp,
    from_lstm: dict | None,
) -> dict | None:
    """The served forecast of one series from ``issue_at``: ``{"p10", "p50", "p90"}`` kW, or None.

    ``from_lstm`` is the LSTM's forecast of the series at ``issue_at`` (None when its last week has gaps:
    then no model is served for it either).
    """
    if from_lstm is None:
        return None
    if choice.served == selection.LSTM or choice.bands is None:
        return {key: from_lstm[key] for key in ("p10", "p50", "p90")}
    horizon = len(from_lstm["point"])
    series = hourly_series("", hourly_kw, info, issue_at, horizon)
    issue = series.position(issue_at)
    candidates = simple_forecasts(series, issue, horizon)
    if choice.served in ("ridge", selection.BLEND):
        ridge = choice.ridge.predict(series, issue, _scale(series, issue, info.kind))
        candidates["ridge"] = ridge
        candidates[selection.BLEND] = 0.5 * (from_lstm["point"] + ridge)
    point = candidates[choice.served]
    if not np.isfinite(point).all():  # a gap the simple model cannot bridge: the LSTM's forecast
        return {key: from_lstm[key] for key in ("p10", "p50", "p90")} | {"fallback": True}
    level = np.array([np.nanmean(series.values[issue - 7 * HOURS_PER_DAY : issue])])
    scale = selection.band_scale(info.kind, point[None, :], None, level)
    sun_up = _daylight(series, issue, horizon)
    return {f"p{int(q * 100)}": choice.bands.quantile(q, point[None, :], scale)[0] * sun_up for q in (0.1, 0.5, 0.9)}
