"""Model selection on validation weeks and conformal bands (pure numpy, no TensorFlow)."""

import numpy as np
import pytest
from forecast_helpers import make_daily

from backend.forecast import baselines, selection
from backend.forecast.selection import BLEND, LSTM, ConformalBands, below_rate, pinball, select

RNG = np.random.default_rng(0)


def _truth(n=40):
    return np.tile(np.sin(np.linspace(0, np.pi, 24)), (n, 1)) + 1.0


def test_the_lowest_validation_rmse_is_served_among_simple_models():
    actual = _truth()
    chosen = select(actual, {"persistence": actual + 0.5, "mean of last 7 days": actual + 0.1, "ridge": actual + 0.2})
    assert chosen.served == "mean of last 7 days"
    assert chosen.validation_rmse["persistence"] == pytest.approx(0.5)


def test_the_lstm_is_served_only_if_every_seed_beats_the_best_model_without_it():
    actual = _truth()
    candidates = {"ridge": actual + 0.2, LSTM: actual + 0.1, BLEND: actual + 0.15}
    good = {LSTM: [actual + 0.1, actual + 0.12, actual + 0.15]}
    assert select(actual, candidates, good).served == LSTM
    one_bad_seed = {LSTM: [actual + 0.1, actual + 0.3, actual + 0.15], BLEND: [actual + 0.15] * 3}
    chosen = select(actual, candidates, one_bad_seed)
    assert chosen.served == BLEND
    all_bad = {LSTM: [actual + 0.1, actual + 0.3], BLEND: [actual + 0.12, actual + 0.25]}
    chosen = select(actual, candidates, all_bad)
    assert chosen.served == "ridge" and "not with every seed" in chosen.reason


def test_ties_go_to_the_simpler_model_and_the_mask_limits_the_hours():
    actual = _truth()
    same = {LSTM: actual + 0.1, "ridge": actual - 0.1}
    assert select(actual, same).served == "ridge"
    mask = np.zeros_like(actual, dtype=bool)
    mask[:, 12] = True
    night_bad = actual.copy()
    night_bad[:, :12] += 5.0
    assert select(actual, {"ridge": night_bad, "persistence": actual + 0.3}, mask=mask).served == "ridge"


def test_conformal_bands_hit_their_rates_on_exchangeable_data():
    point = RNG.uniform(0.5, 2.0, size=(400, 24))
    actual = point * (1 + 0.3 * RNG.standard_normal(point.shape))
    level = point.mean(axis=1)
    scale = selection.band_scale("load", point, None, level)
    bands = ConformalBands.fit(actual[:200], point[:200], scale[:200])
    test_p10 = bands.quantile(0.1, point[200:], scale[200:])
    test_p90 = bands.quantile(0.9, point[200:], scale[200:])
    assert below_rate(actual[200:], test_p10) == pytest.approx(0.1, abs=0.02)
    assert below_rate(actual[200:], test_p90) == pytest.approx(0.9, abs=0.02)
    # An uncalibrated band (the point itself) loses more pinball than the calibrated one.
    assert pinball(actual[200:], test_p10, 0.1) < pinball(actual[200:], point[200:], 0.1)


def test_band_fit_needs_enough_hours():
    with pytest.raises(ValueError, match="validation hours"):
        ConformalBands.fit(np.ones((1, 10)), np.ones((1, 10)), np.ones((1, 10)))


def test_clear_sky_index_mean_carries_the_season():
    # 30 days of PV at 60% of clear sky, with a clear sky that halves over the month (the season turning).
    days = 30
    clear = np.tile(np.clip(np.sin(np.linspace(-0.5, np.pi + 0.5, 24)), 0, None), (days, 1))
    clear *= np.linspace(1.0, 0.5, days)[:, None]
    daily = make_daily(0.6 * clear, covariates=clear[..., None], covariate_names=["ghi_clear"])
    forecast = baselines.clear_sky_index_mean_7_days(daily, np.array([20, 29]), 1)
    np.testing.assert_allclose(forecast, 0.6 * clear[[20, 29]], atol=1e-9)
    # The plain mean of the last 7 days carries the older, higher level.
    assert baselines.mean_last_7_days(daily, np.array([29]), 1).sum() > forecast[1].sum() * 1.05


def test_format_served_table_reports_the_smallest_margin():
    summary = {"served": "ridge", "served_skill": 0.25, "best_simple_skill": 0.26, "margin": -0.01,
               "lstm_chosen": False, "lstm_skill": 0.2, "ridge_skill": 0.25, "p10_rate": 0.1, "p90_rate": 0.9,
               "mean_bias_pct": 1.0}
    text = selection.format_served_table({"a": {"summary": summary},
                                          "b": {"summary": {**summary, "margin": 0.02, "lstm_chosen": True}}})
    assert "smallest margin -0.010; LSTM or blend served on 1 of 2" in text
