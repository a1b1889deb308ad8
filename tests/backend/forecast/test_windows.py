import numpy as np
import pytest

from backend.forecast.windows import Normalizer, WindowGenerator
from forecast_helpers import day_numbers, make_daily


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
    expected_target = day_numbers(10).ravel()[8 * 24 + 6: 9 * 24 + 6]
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


def test_make_dataset_batches_inputs_and_targets():
    daily = make_daily(day_numbers(12))
    window = WindowGenerator(7, 1)
    arrays = window.make_arrays(daily, np.arange(7, 12), 1.0)
    (history, future), target = next(iter(window.make_dataset(arrays, Normalizer.fit(arrays), batch_size=4)))
    assert tuple(history.shape) == (4, 168, 7)
    assert tuple(future.shape) == (4, 24, 9)
    np.testing.assert_array_equal(target.numpy()[0], day_numbers(12)[7])
