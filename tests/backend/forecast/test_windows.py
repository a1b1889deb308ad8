import numpy as np
import pytest
from forecast_helpers import day_numbers, make_daily

from backend.forecast.windows import Normalizer, WindowGenerator


def test_make_arrays_day_ahead_slices_history_target_and_lags():
    daily = make_daily(day_numbers(10))
    window = WindowGenerator(lookback_days=7, horizon_days=1)
    arrays = window.make_arrays(daily, np.array([8]), scale_kw=1.0)
    assert arrays.history.shape == (1, 168, 7)
    assert arrays.future.shape == (1, 24, 9)
    np.testing.assert_array_equal(arrays.history[0, :, 0], day_numbers(10)[1:8].ravel())
    np.testing.assert_array_equal(arrays.target[0], day_numbers(10)[8])
    names = window.future_feature_names(daily)
    np.testing.assert_array_equal(arrays.future[0, :, names.index("lag_last_day")], day_numbers(10)[7])
    np.testing.assert_array_equal(arrays.future[0, :, names.index("lag_same_weekday")], day_numbers(10)[1])
    np.testing.assert_allclose(arrays.future[0, :, names.index("mean_last_7_days")], day_numbers(10)[1:8].mean(axis=0))


def test_make_arrays_week_ahead_lags_never_look_past_the_issue_time():
    daily = make_daily(day_numbers(20))
    window = WindowGenerator(lookback_days=7, horizon_days=7)
    arrays = window.make_arrays(daily, np.array([10]), scale_kw=2.0)
    names = window.future_feature_names(daily)
    last_day = arrays.future[0, :, names.index("lag_last_day")] * 2.0
    same_weekday = arrays.future[0, :, names.index("lag_same_weekday")] * 2.0
    np.testing.assert_array_equal(last_day, np.tile(day_numbers(20)[9], 7))
    np.testing.assert_array_equal(same_weekday, day_numbers(20)[3:10].ravel())
    np.testing.assert_array_equal(arrays.target[0] * 2.0, day_numbers(20)[10:17].ravel())
    assert (arrays.future[..., names.index("mean_last_7_days")] * 2.0 < 1000).all()  # days 3..9 only


def test_make_hourly_arrays_issued_mid_day_uses_latest_same_hour():
    daily = make_daily(day_numbers(10))
    window = WindowGenerator(lookback_days=7, horizon_days=1)
    arrays = window.make_hourly_arrays(daily, np.array([8 * 24 + 6]), scale_kw=1.0)
    names = window.future_feature_names(daily)
    expected_target = day_numbers(10).ravel()[8 * 24 + 6 : 9 * 24 + 6]
    np.testing.assert_array_equal(arrays.target[0], expected_target)
    np.testing.assert_array_equal(arrays.future[0, :, names.index("lag_last_day")], expected_target - 100)


def test_issue_days_skip_windows_with_gaps():
    values = day_numbers(20)
    values[12, 5] = np.nan
    window = WindowGenerator(lookback_days=7, horizon_days=1)
    issue = window.issue_days(make_daily(values))
    assert issue.min() == 7
    assert not set(issue) & set(range(12, 20))  # day 12 is in each of these windows
    assert set(issue) == set(range(7, 12))


def test_issue_days_respect_target_end():
    window = WindowGenerator(lookback_days=7, horizon_days=7)
    issue = window.issue_days(make_daily(day_numbers(30)), first=7, last=30, target_end=20)
    assert issue.max() == 13


def test_window_rejects_horizons_beyond_a_week():
    with pytest.raises(ValueError):
        WindowGenerator(7, 8)


def test_normalizer_standardises_and_round_trips():
    daily = make_daily(day_numbers(12))
    window = WindowGenerator(7, 1)
    arrays = window.make_arrays(daily, np.arange(7, 12), 1.0)
    normalizer = Normalizer.fit(arrays)
    history, future = normalizer.apply(arrays)
    np.testing.assert_allclose(history[..., 0].mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(history[..., 0].std(), 1.0, atol=1e-4)
    again = Normalizer.from_json(normalizer.to_json())
    np.testing.assert_array_equal(again.apply(arrays)[1], future)


@pytest.mark.tensorflow  # make_dataset builds a tf.data pipeline
def test_make_dataset_batches_inputs_and_targets():
    daily = make_daily(day_numbers(12))
    window = WindowGenerator(7, 1)
    arrays = window.make_arrays(daily, np.arange(7, 12), 1.0)
    (history, future), target = next(iter(window.make_dataset(arrays, Normalizer.fit(arrays), batch_size=4)))
    assert tuple(history.shape) == (4, 168, 7)
    assert tuple(future.shape) == (4, 24, 9)
    np.testing.assert_array_equal(target.numpy()[0], day_numbers(12)[7])


def _pv_daily(produced_kw: np.ndarray, ghi_kw_m2: np.ndarray) -> "object":
    clear = np.full_like(produced_kw, 0.8)
    elevation = np.full_like(produced_kw, 0.5)
    covariates = np.stack([clear, elevation, ghi_kw_m2], axis=-1)
    return make_daily(produced_kw, covariates=covariates, covariate_names=["ghi_clear", "sun_elevation", "ghi"])


def test_weather_performance_persistence_carries_yesterdays_output_per_unit_of_ghi():
    ghi = np.tile(np.r_[np.zeros(6), np.full(12, 0.5), np.zeros(6)], (9, 1))
    produced = 0.8 * ghi  # a healthy array: 0.8 kW per kW/m²
    produced[7] = 0.0  # day 7: snow on the panels, the sun still shining
    window = WindowGenerator(7, 1, clear_sky_lag=True)
    daily = _pv_daily(produced, ghi)
    names = window.future_feature_names(daily)
    column = names.index("weather_performance_persistence")
    healthy, snowed = window.make_arrays(daily, np.array([7, 8]), 1.0).future[..., column]
    np.testing.assert_allclose(healthy, 0.8 * ghi[7])
    np.testing.assert_array_equal(snowed, np.zeros(24))


def test_weather_performance_persistence_is_damped_after_a_dark_day():
    ghi = np.full((9, 24), 0.01)  # 0.24 kWh/m² a day: too little light for a meaningful ratio
    produced = 0.02 * np.ones((9, 24))
    window = WindowGenerator(7, 1, clear_sky_lag=True)
    daily = _pv_daily(produced, ghi)
    arrays = window.make_arrays(daily, np.array([8]), 1.0)
    value = arrays.future[0, :, window.future_feature_names(daily).index("weather_performance_persistence")]
    # Ratio 0.48 / max(0.24, 0.5) = 0.96, not 0.48 / 0.24 = 2.
    np.testing.assert_allclose(value, 0.96 * 0.01)


def test_no_weather_performance_feature_without_a_weather_forecast():
    window = WindowGenerator(7, 1, clear_sky_lag=True)
    daily = make_daily(np.ones((9, 24)), covariates=np.ones((9, 24, 2)), covariate_names=["ghi_clear", "sun_elevation"])
    assert "weather_performance_persistence" not in window.future_feature_names(daily)
    assert window.make_arrays(daily, np.array([8]), 1.0).future.shape[-1] == len(window.future_feature_names(daily))
