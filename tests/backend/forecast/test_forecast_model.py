"""Training, save/load and a short real-data run. These import TensorFlow."""

import numpy as np
import pytest
from forecast_helpers import make_daily

from backend.forecast.data import load_dataset_series
from backend.forecast.features import build_daily_data
from backend.forecast.forecaster import ForecastConfig, Forecaster

pytestmark = pytest.mark.tensorflow


def synthetic_load(days: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hours = np.arange(24)
    shape = 0.5 + 0.4 * np.sin(2 * np.pi * (hours - 6) / 24) ** 2
    weekly = 1.0 + 0.2 * (np.arange(days) % 7 >= 5)
    return weekly[:, None] * shape[None, :] + rng.normal(0, 0.05, (days, 24))


def tiny_config(**overrides) -> ForecastConfig:
    return ForecastConfig("load", units=8, decoder_units=8, max_epochs=2, patience=2, batch_size=16, **overrides)


def test_training_statistics_never_see_test_days(tmp_path):
    values = synthetic_load(80)
    altered = values.copy()
    altered[60:] *= 50.0  # wildly different test period
    fitted = []
    for series in (values, altered):
        forecaster = Forecaster(tiny_config())
        forecaster.fit([make_daily(series)], "2024-02-29", tmp_path / "ckpt", verbose=0)  # day 59
        fitted.append(forecaster)
    first, second = fitted
    assert first.scales_kw == second.scales_kw
    for name in ("history_mean", "history_std", "future_mean", "future_std"):
        np.testing.assert_array_equal(getattr(first.normalizer, name), getattr(second.normalizer, name))
    assert first.metadata["training_window"]["until"] == "2024-02-29"
    # And the statistics really depend on the training data: alter a training day.
    altered_train = values.copy()
    altered_train[30] *= 50.0
    third = Forecaster(tiny_config())
    third.fit([make_daily(altered_train)], "2024-02-29", tmp_path / "ckpt", verbose=0)
    assert third.scales_kw != first.scales_kw


def test_save_and_load_give_identical_predictions(tmp_path):
    daily = make_daily(synthetic_load(60))
    forecaster = Forecaster(tiny_config(members=2))
    forecaster.fit([daily], "2024-02-15", tmp_path / "ckpt", verbose=0)
    issue = np.arange(47, 53)
    before = forecaster.predict(daily, issue)
    forecaster.save(tmp_path / "model", metrics={"note": "test"})
    loaded = Forecaster.load(tmp_path / "model")
    after = loaded.predict(daily, issue)
    for key in ("point", "p10", "p50", "p90"):
        np.testing.assert_array_equal(before[key], after[key])
    assert loaded.metadata["metrics"] == {"note": "test"}
    assert loaded.future_features == forecaster.future_features
    assert (tmp_path / "model" / "model.keras").is_file()


def test_short_real_training_run_on_sceaux():
    hourly_kw, info = load_dataset_series("load")
    daily = build_daily_data(hourly_kw["2007-09-01":"2008-01-31"], info)
    config = ForecastConfig("load", units=16, decoder_units=16, max_epochs=6, patience=10, batch_size=16)
    forecaster = Forecaster(config)
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        history = forecaster.fit([daily], "2007-12-31", work, verbose=0)
    assert history["loss"][-1] < history["loss"][0]
    window = config.window()
    issue = window.issue_days(daily, first=daily.day_index("2008-01-01"))
    assert len(issue) > 10
    forecast = forecaster.predict(daily, issue)
    for key in ("point", "p10", "p50", "p90"):
        assert forecast[key].shape == (len(issue), 24)
        assert np.isfinite(forecast[key]).all()
    assert (forecast["p10"] <= forecast["p50"] + 1e-9).all() and (forecast["p50"] <= forecast["p90"] + 1e-9).all()


def test_pv_forecast_is_zero_at_night():
    hourly_kw, info = load_dataset_series("pv")
    daily = build_daily_data(hourly_kw["2012-04-01":"2012-07-31"], info)
    config = ForecastConfig("pv", units=8, decoder_units=8, max_epochs=1, batch_size=16)
    forecaster = Forecaster(config)
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        forecaster.fit([daily], "2012-07-15", work, verbose=0)
    issue = config.window().issue_days(daily, first=daily.day_index("2012-07-16"))
    forecast = forecaster.predict(daily, issue)
    night = ~np.stack([daily.daylight[i] for i in issue])
    assert (forecast["p90"][night] == 0).all()
