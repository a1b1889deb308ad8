"""Run-time serving (backend.forecast.serving): the simple models at any hour, the pooled ridge, the served bands.

No TensorFlow: the LSTM's part of a run is tested in test_forecast_db_run.py.
"""

import numpy as np
import pandas as pd
import pytest

from backend.datasets.pvdaq import PVDAQ50_SITE
from backend.forecast import baselines, selection, serving
from backend.forecast.data import SeriesInfo
from backend.forecast.features import build_daily_data

START = pd.Timestamp("2024-05-01", tz="UTC")


def _hourly(days: int, kind: str = "load", seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=days * 24, freq="1h")
    hour = index.hour.to_numpy()
    if kind == "load":
        values = 0.5 + 0.4 * np.sin(2 * np.pi * (hour - 6) / 24) ** 2 + 0.3 * (index.dayofweek.to_numpy() >= 5)
        values = values + rng.normal(0, 0.05, len(index))
    else:
        values = 3.0 * np.clip(np.sin(np.pi * (hour - 13) / 14), 0, None) * rng.uniform(0.4, 1.0, len(index))
    return pd.Series(values, index=index)


@pytest.mark.parametrize("kind", ["load", "pv"])
def test_simple_models_at_midnight_equal_the_evaluation_baselines(kind):
    hourly = _hourly(30, kind)
    info = SeriesInfo("home", kind, 0.0, PVDAQ50_SITE if kind == "pv" else None)
    daily = build_daily_data(hourly, info)
    issue_at = START + pd.Timedelta(days=20)
    series = serving.hourly_series("home", hourly, info, issue_at, 24)
    ours = serving.simple_forecasts(series, series.position(issue_at), 24)
    reference = {
        "persistence": baselines.persistence,
        "weekly persistence": baselines.weekly_persistence,
        "mean of last 7 days": baselines.mean_last_7_days,
    }
    if kind == "pv":
        reference["clear-sky-index mean of last 7 days"] = baselines.clear_sky_index_mean_7_days
        # The evaluation's clear sky is a DailyData covariate in kW/m² (scaled the same way).
    for name, function in reference.items():
        np.testing.assert_allclose(
            ours[name], function(daily, np.array([20]), 1)[0], rtol=1e-6, atol=1e-9, err_msg=name
        )


def test_simple_models_at_another_hour_use_the_same_hour_of_earlier_days():
    hourly = _hourly(20)
    info = SeriesInfo("home", "load", 0.0)
    issue_at = START + pd.Timedelta(days=15, hours=10)
    series = serving.hourly_series("home", hourly, info, issue_at, 24)
    forecast = serving.simple_forecasts(series, series.position(issue_at), 24)
    # The first target hour is 10:00: persistence is yesterday's 10:00, the mean the last 7 days' 10:00.
    assert forecast["persistence"][0] == pytest.approx(hourly[issue_at - pd.Timedelta(days=1)])
    expected = np.mean([hourly[issue_at - pd.Timedelta(days=d)] for d in range(1, 8)])
    assert forecast["mean of last 7 days"][0] == pytest.approx(expected)
    assert forecast["weekly persistence"][5] == pytest.approx(
        hourly[issue_at + pd.Timedelta(hours=5) - pd.Timedelta(days=7)]
    )


def test_history_after_the_issue_is_never_seen():
    hourly = _hourly(20)
    info = SeriesInfo("home", "load", 0.0)
    issue_at = START + pd.Timedelta(days=15)
    series = serving.hourly_series("home", hourly, info, issue_at, 24)
    assert np.isnan(series.values[series.position(issue_at) :]).all()


def test_pooled_ridge_learns_households_of_different_sizes_from_their_scaled_series():
    info = SeriesInfo("home", "load", 0.0)
    issue_at = START + pd.Timedelta(days=40)
    small = serving.hourly_series("a", _hourly(40, seed=1), info, issue_at, 24)
    large = serving.hourly_series("b", _hourly(40, seed=2) * 5.0, info, issue_at, 24)
    prepared = [
        (small, serving._scale(small, small.position(issue_at), "load"), None, None),
        (large, serving._scale(large, large.position(issue_at), "load"), None, None),
    ]
    samples = serving._ridge_samples(prepared, issue_at - pd.Timedelta(days=3), 24)
    ridge = serving.PooledRidge(24).fit(samples)
    target_day = issue_at - pd.Timedelta(days=2)
    for series, scale, _, _ in prepared:
        issue = series.position(target_day)
        forecast = ridge.predict(series, issue, scale)
        actual = series.values[issue : issue + 24]
        persistence = serving.simple_forecasts(series, issue, 24)["persistence"]
        # The weekend step and the daily shape are learnt: better than yesterday's values, at each size.
        assert selection.rmse(actual, forecast) < selection.rmse(actual, persistence)


def test_too_few_ridge_samples_predict_nothing():
    info = SeriesInfo("home", "load", 0.0)
    issue_at = START + pd.Timedelta(days=12)
    series = serving.hourly_series("a", _hourly(12), info, issue_at, 24)
    ridge = serving.PooledRidge(24).fit(serving._ridge_samples([(series, 1.0, None, None)], issue_at, 24))
    assert np.isnan(ridge.predict(series, series.position(issue_at), 1.0)).all()
