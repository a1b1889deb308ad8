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
    summary = {
        "served": "ridge",
        "served_skill": 0.25,
        "best_simple_skill": 0.26,
        "margin": -0.01,
        "lstm_chosen": False,
        "lstm_skill": 0.2,
        "ridge_skill": 0.25,
        "p10_rate": 0.1,
        "p90_rate": 0.9,
        "mean_bias_pct": 1.0,
    }
    text = selection.format_served_table(
        {"a": {"summary": summary}, "b": {"summary": {**summary, "margin": 0.02, "lstm_chosen": True}}}
    )
    assert "smallest margin -0.010; LSTM or blend served on 1 of 2" in text


# ---- the origins rule (second version) -------------------------------------------------------------


def _losses(days, level, noise=0.0, seed=1):
    return level + noise * np.random.default_rng(seed).standard_normal(days)


def test_daily_losses_sum_squared_errors_over_the_counted_hours():
    actual = np.zeros((2, 24))
    predicted = np.ones((2, 24))
    mask = np.zeros((2, 24), dtype=bool)
    mask[0, :6] = True
    np.testing.assert_allclose(selection.daily_losses(actual, predicted), [24.0, 24.0])
    losses = selection.daily_losses(actual, predicted, mask)
    assert losses[0] == 6.0 and np.isnan(losses[1])


def test_paired_statistic_is_positive_when_the_complex_model_is_better_and_grows_with_days():
    simpler = _losses(60, 1.0, 0.3, seed=2)
    better = simpler - 0.1 + 0.05 * np.random.default_rng(3).standard_normal(60)
    assert selection.paired_statistic(simpler, better) > 3
    assert selection.paired_statistic(better, simpler) < -3
    noisy = simpler + 0.5 * np.random.default_rng(4).standard_normal(60)
    assert abs(selection.paired_statistic(simpler, noisy)) < 3


def _origins(days=100, **levels):
    return {name: _losses(days, level, 0.05, seed=i) for i, (name, level) in enumerate(levels.items())}


def test_origins_rule_serves_the_ridge_when_it_is_lower_over_every_origin_and_the_simple_model_otherwise():
    hours = np.full(100, 24)
    origins = _origins(**{"persistence": 2.0, "mean of last 7 days": 1.0, "ridge": 0.8})
    chosen = selection.select_by_origins(origins, hours, {}, hours[-15:])
    assert chosen.served == "ridge" and chosen.origin_rmse["ridge"] < chosen.origin_rmse["mean of last 7 days"]
    origins["ridge"] = origins["mean of last 7 days"] + 0.2
    chosen = selection.select_by_origins(origins, hours, {}, hours[-15:])
    assert chosen.served == "mean of last 7 days" and "not better" in chosen.reason


def test_origins_rule_serves_the_lstm_only_if_it_wins_significantly_on_the_last_weeks_with_every_seed():
    hours = np.full(100, 24)
    origins = _origins(**{"mean of last 7 days": 1.0, "ridge": 0.8})
    last = {name: value[-15:] for name, value in origins.items()}
    rng = np.random.default_rng(5)
    clearly = last["ridge"] - 0.3 + 0.02 * rng.standard_normal(15)
    barely = last["ridge"] - 0.01 + 0.3 * np.sin(1.3 * np.arange(15))  # lower on average, by far less than the noise
    blend_barely = last["ridge"] + 0.3 * rng.standard_normal(15)
    chosen = selection.select_by_origins(
        origins,
        hours,
        {**last, LSTM: clearly, BLEND: blend_barely},
        hours[-15:],
        {LSTM: [clearly, clearly - 0.01], BLEND: [blend_barely] * 2},
    )
    assert chosen.served == LSTM
    # One seed's member alone loses to the ridge: not served.
    chosen = selection.select_by_origins(
        origins, hours, {**last, LSTM: clearly}, hours[-15:], {LSTM: [clearly, last["ridge"] + 0.1]}
    )
    assert chosen.served == "ridge"
    # Lower on average but within the noise: not served.
    chosen = selection.select_by_origins(origins, hours, {**last, LSTM: barely}, hours[-15:], {LSTM: [barely]})
    assert chosen.served == "ridge" and "LSTM did not beat ridge significantly" in chosen.reason


def test_origins_rule_prefers_the_blend_unless_the_lstm_beats_it_significantly():
    hours = np.full(100, 24)
    origins = _origins(**{"mean of last 7 days": 1.0, "ridge": 0.8})
    last = {name: value[-15:] for name, value in origins.items()}
    blend = last["ridge"] - 0.3
    lstm_close = blend - 0.01 + 0.3 * np.sin(1.3 * np.arange(15))
    chosen = selection.select_by_origins(origins, hours, {**last, BLEND: blend, LSTM: lstm_close}, hours[-15:])
    assert chosen.served == BLEND
    lstm_far = blend - 0.2
    chosen = selection.select_by_origins(origins, hours, {**last, BLEND: blend, LSTM: lstm_far}, hours[-15:])
    assert chosen.served == LSTM and "LSTM beat blend" in chosen.reason
