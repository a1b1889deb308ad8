import numpy as np
import pytest
from forecast_helpers import day_numbers, make_daily

from backend.forecast import baselines


def test_persistence_repeats_yesterday_over_the_horizon():
    daily = make_daily(day_numbers(10))
    np.testing.assert_array_equal(baselines.persistence(daily, np.array([8]), 1)[0], day_numbers(10)[7])
    np.testing.assert_array_equal(baselines.persistence(daily, np.array([8]), 2)[0], np.tile(day_numbers(10)[7], 2))


def test_weekly_persistence_uses_the_same_weekday_last_week():
    daily = make_daily(day_numbers(20))
    np.testing.assert_array_equal(baselines.weekly_persistence(daily, np.array([9]), 1)[0], day_numbers(20)[2])
    np.testing.assert_array_equal(
        baselines.weekly_persistence(daily, np.array([9]), 7)[0], day_numbers(20)[2:9].ravel()
    )


def test_mean_last_7_days_averages_each_hour():
    values = np.zeros((9, 24))
    values[1:8, 3] = [1, 2, 3, 4, 5, 6, 7]
    forecast = baselines.mean_last_7_days(make_daily(values), np.array([8]), 1)[0]
    assert forecast[3] == 4.0
    assert forecast[[0, 1, 2, 4]].sum() == 0.0


def test_clear_sky_index_persistence_scales_yesterday_by_the_clear_sky_ratio():
    clear = np.zeros((3, 24, 1))
    clear[:, 10:14, 0] = 0.5
    clear[2, 10:14, 0] = 1.0  # a clearer target day
    produced = np.zeros((3, 24))
    produced[1, 10:14] = 0.25  # yesterday: index 0.5
    daily = make_daily(produced, covariates=clear, covariate_names=["ghi_clear"])
    forecast = baselines.clear_sky_index_persistence(daily, np.array([2]), 1)[0]
    np.testing.assert_allclose(forecast[10:14], 0.5)
    assert forecast[:10].sum() == 0.0


def test_ridge_learns_an_exact_linear_rule():
    # Tomorrow = 2 x today + 1: ridge with light regularisation must recover it.
    rng = np.random.default_rng(0)
    values = np.zeros((200, 24))
    values[0] = rng.uniform(0, 1, 24)
    for day in range(1, 200):
        values[day] = rng.uniform(0, 1, 24) if day % 2 == 0 else 2 * values[day - 1] + 1
    daily = make_daily(values)
    odd_days = np.arange(9, 199, 2)
    model = baselines.RidgeBaseline(horizon_days=1).fit(daily, odd_days[:60])
    predicted = model.predict(daily, odd_days[60:])
    np.testing.assert_allclose(predicted, values[odd_days[60:]], atol=0.05)


def test_ridge_predict_before_fit_fails():
    with pytest.raises(RuntimeError):
        baselines.RidgeBaseline(1).predict(make_daily(day_numbers(9)), np.array([8]))
