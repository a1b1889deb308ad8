"""Evaluating coefficients: allocation totals, bills with and without the leftover market, the honest forecast."""

import numpy as np
import pandas as pd
import pytest

from backend.coefficients.compare import evaluate
from backend.coefficients.members import equal_shares, proportional_shares
from backend.coefficients.profile_forecast import typical_day_forecast
from backend.market.community_types import Tariffs

TARIFFS = Tariffs(retail_price=200_000, feed_in_price=50_000)


def test_one_hour_by_hand_without_and_with_the_market():
    # 1,000 Wh shared half and half; a uses nothing, b uses 1,000 Wh.
    production, consumption, halves = np.array([1000]), np.array([[0, 1000]]), np.array([[500_000, 500_000]])
    alone = evaluate("halves", ["a", "b"], production, consumption, halves, TARIFFS, market=False)
    assert (alone.self_consumed_wh, alone.unused_wh, alone.grid_import_wh) == (500, 500, 500)
    assert alone.bills == {"a": -25_000, "b": 100_000}  # a: 500 Wh at 0.05 €/kWh; b: 500 Wh at 0.20
    traded = evaluate("halves", ["a", "b"], production, consumption, halves, TARIFFS, market=True)
    assert traded.sold_in_market_wh == 500 and traded.grid_import_wh == 0
    assert traded.bills["a"] == -traded.bills["b"]  # a pays b nothing else: the community's cost is 0
    assert -100_000 < traded.bills["a"] < -25_000  # a earns more than compensation, b pays less than retail


def test_the_market_never_raises_the_communitys_bill_and_conserves_energy():
    rng = np.random.default_rng(3)
    production = rng.integers(0, 5000, 48)
    consumption = rng.integers(0, 1500, (48, 4))
    table = np.tile([100_000, 200_000, 300_000, 400_000], (48, 1))
    members = ["a", "b", "c", "d"]
    alone = evaluate("x", members, production, consumption, table, TARIFFS, market=False)
    traded = evaluate("x", members, production, consumption, table, TARIFFS, market=True)
    assert alone.self_consumed_wh + alone.unused_wh == production.sum()
    assert traded.self_consumed_wh == alone.self_consumed_wh
    assert traded.grid_import_wh == alone.grid_import_wh - traded.sold_in_market_wh
    assert sum(traded.bills.values()) <= sum(alone.bills.values())
    assert traded.sold_in_market_wh > 0


def test_static_rules():
    assert equal_shares(["a", "b", "c"]) == [333_334, 333_333, 333_333]
    assert proportional_shares(["a", "b"], [3.45, 6.9]) == [333_333, 666_667]


def test_the_forecast_uses_only_the_history_before_the_period():
    history_starts = pd.date_range("2023-03-01", periods=14 * 24, freq="h", tz="UTC")
    hours = history_starts.tz_convert("Europe/Madrid").hour.to_numpy()
    history = np.column_stack([hours * 10.0, np.full(len(hours), 50.0)])
    period = pd.date_range("2023-03-15", periods=48, freq="h", tz="UTC")
    forecast = typical_day_forecast(history, history_starts, period)
    assert forecast.p50.shape == (48, 2)
    assert np.allclose(forecast.p50[:, 0], period.tz_convert("Europe/Madrid").hour.to_numpy() * 10.0)
    assert np.allclose(forecast.scenarios[:, :, 1], 50.0)
    with pytest.raises(ValueError, match="must end before the period"):
        typical_day_forecast(history, history_starts, history_starts[-24:])
