from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backend.forecast.advice import (
    HouseholdForecast,
    Tariffs,
    community_outlook,
    household_advice,
    net_position,
    suggested_limit_price,
    trade_windows,
)

START = datetime(2026, 6, 1, tzinfo=UTC)
HOURS = tuple(START + timedelta(hours=h) for h in range(6))


def prosumer() -> HouseholdForecast:
    consumed = np.array([300, 300, 200, 200, 500, 500.0])
    produced = np.array([0, 0, 1000, 800, 100, 0.0])
    return HouseholdForecast(
        "0xalice",
        HOURS,
        consumed_p50_wh=consumed,
        consumed_p10_wh=consumed - 100,
        consumed_p90_wh=consumed + 100,
        produced_p50_wh=produced,
        produced_p10_wh=produced * 0.5,
        produced_p90_wh=produced * 1.2,
    )


def consumer() -> HouseholdForecast:
    return HouseholdForecast("0xbob", HOURS, consumed_p50_wh=np.array([100, 100, 400, 400, 100, 100.0]))


def test_net_position_is_production_minus_consumption_with_cautious_band():
    net = net_position(prosumer())
    np.testing.assert_array_equal(net.net_p50_wh, [-300, -300, 800, 600, -400, -500])
    np.testing.assert_array_equal(net.low_wh, [-400, -400, 200, 100, -550, -600])
    np.testing.assert_array_equal(net.high_wh, [-200, -200, 1100, 860, -280, -400])


def test_trade_windows_group_consecutive_hours_with_quantities():
    sells, buys = trade_windows(net_position(prosumer()))
    assert [(w.start, w.end, w.energy_wh, w.confident_wh) for w in sells] == [(HOURS[2], HOURS[4], 1400, 300)]
    assert [(w.start, w.end, w.energy_wh, w.confident_wh) for w in buys] == [
        (HOURS[0], HOURS[2], 600, 400),
        (HOURS[4], HOURS[5] + timedelta(hours=1), 900, 680),
    ]


def test_suggested_limit_price_moves_between_feed_in_and_retail():
    tariffs = Tariffs(feed_in_price_per_kwh=80_000, retail_price_per_kwh=250_000)
    assert suggested_limit_price(tariffs, 1000, 0) == 80_000
    assert suggested_limit_price(tariffs, 0, 1000) == 250_000
    assert suggested_limit_price(tariffs, 0, 0) == 165_000
    assert suggested_limit_price(tariffs, 3000, 1000) == 122_500


def test_tariffs_reject_feed_in_above_retail():
    with pytest.raises(ValueError):
        Tariffs(300_000, 250_000)


def test_community_outlook_totals_and_short_households():
    outlook = community_outlook([prosumer(), consumer()])
    np.testing.assert_array_equal(outlook.surplus_wh, [0, 0, 800, 600, 0, 0])
    np.testing.assert_array_equal(outlook.deficit_wh, [400, 400, 400, 400, 500, 600])
    assert outlook.available_for_sale_wh == 1400
    assert outlook.total_deficit_wh == 2700
    assert [(s.household, s.total_deficit_wh) for s in outlook.short_households] == [
        ("0xbob", 1200),
        ("0xalice", 1500),
    ][::-1]
    bob = outlook.short_households[1]
    assert bob.hours[2] == (HOURS[2], 400)


def test_household_advice_prices_each_side_over_its_own_windows():
    outlook = community_outlook([prosumer(), consumer()])
    advice = household_advice(prosumer(), outlook, Tariffs(80_000, 250_000))
    # Sell hours 2-3: surplus 1400, deficit 800 -> share short 800/2200.
    assert advice.sell_limit_price_per_kwh == round(80_000 + 800 / 2200 * 170_000)
    # Buy hours 0, 1, 4, 5: no surplus at all -> retail.
    assert advice.buy_limit_price_per_kwh == 250_000
    assert len(advice.sell_windows) == 1 and len(advice.buy_windows) == 2


def test_community_outlook_rejects_misaligned_forecasts():
    shifted = HouseholdForecast("0xcarol", tuple(h + timedelta(hours=1) for h in HOURS), np.ones(6))
    with pytest.raises(ValueError):
        community_outlook([prosumer(), shifted])


def test_quantile_from_band_is_exact_at_the_stored_levels_and_normal_shaped_between():
    from statistics import NormalDist

    from backend.forecast.advice import quantile_from_band

    p10, p50, p90 = np.array([100.0]), np.array([300.0]), np.array([700.0])
    assert quantile_from_band(0.1, p10, p50, p90)[0] == 100.0
    assert quantile_from_band(0.5, p10, p50, p90)[0] == 300.0
    assert quantile_from_band(0.9, p10, p50, p90)[0] == 700.0
    z = NormalDist().inv_cdf(0.95) / NormalDist().inv_cdf(0.9)
    assert quantile_from_band(0.05, p10, p50, p90)[0] == pytest.approx(300 - 200 * z)
    assert quantile_from_band(0.95, p10, p50, p90)[0] == pytest.approx(300 + 400 * z)
    assert 100.0 < quantile_from_band(0.2, p10, p50, p90)[0] < 300.0
    assert quantile_from_band(0.01, p10, p50, p90)[0] == 0.0  # never below zero
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        quantile_from_band(1.0, p10, p50, p90)


def test_a_lower_shortfall_rate_sells_less_and_the_default_is_p10_against_p90():
    default = household_advice(prosumer(), community_outlook([prosumer()]), Tariffs(50_000, 200_000))
    ten = household_advice(prosumer(), community_outlook([prosumer()]), Tariffs(50_000, 200_000), alpha=0.1)
    assert default.sell_windows == ten.sell_windows and default.sell_windows[0].confident_wh == 300
    cautious = household_advice(prosumer(), community_outlook([prosumer()]), Tariffs(50_000, 200_000), alpha=0.02)
    bold = household_advice(prosumer(), community_outlook([prosumer()]), Tariffs(50_000, 200_000), alpha=0.3)
    assert cautious.sell_windows[0].confident_wh < 300 < bold.sell_windows[0].confident_wh
    # The P50 quantities do not depend on alpha.
    assert cautious.sell_windows[0].energy_wh == bold.sell_windows[0].energy_wh == 1400
    with pytest.raises(ValueError, match="shortfall rate"):
        net_position(prosumer(), alpha=0.6)


def test_backtest_with_a_perfect_forecast_captures_the_whole_gain_and_none_captures_nothing():
    from backend.forecast.advice import backtest_advice

    consumed = np.array([[0.5, 0.5, 0.2, 0.2]])
    produced = np.array([[0.0, 0.0, 1.2, 0.6]])
    exact = (consumed, consumed, consumed), (produced, produced, produced)
    result = backtest_advice(consumed, produced, *exact, feed_in=0.05, retail=0.20)
    # No advice: 1.0 kWh bought at 0.20, 1.4 kWh exported at 0.05.
    assert result.cost_no_advice == pytest.approx(0.20 - 0.07)
    # Perfect: everything at 0.125.
    assert result.cost_perfect == pytest.approx(0.125 * (1.0 - 1.4))
    assert result.cost_advised == pytest.approx(result.cost_perfect)
    assert result.share_of_perfect == pytest.approx(1.0)
    # A forecast of no production and no consumption advises nothing: no gain.
    zero = np.zeros_like(consumed)
    silent = backtest_advice(consumed, produced, (zero,) * 3, (zero,) * 3, feed_in=0.05, retail=0.20)
    assert silent.gain == pytest.approx(0.0)


def test_backtest_charges_an_undelivered_sale_at_retail():
    from backend.forecast.advice import backtest_advice

    consumed = np.array([[0.2]])
    produced = np.array([[0.3]])  # surplus 0.1 kWh
    optimistic = (consumed, consumed, consumed), (produced + 0.5, produced + 0.5, produced + 0.5)
    result = backtest_advice(consumed, produced, *optimistic, feed_in=0.05, retail=0.20)
    # Sold 0.6 kWh at 0.125, bought back 0.5 kWh at 0.20: worse than exporting 0.1 at feed-in.
    assert result.cost_advised == pytest.approx(-0.6 * 0.125 + 0.5 * 0.20)
    assert result.gain < 0 and result.shortfall_hours == 1 and result.sell_hours == 1


def test_backtest_splits_the_gain_between_sales_and_purchases():
    from backend.forecast.advice import backtest_advice

    consumed = np.array([[0.5, 0.2]])
    produced = np.array([[0.0, 1.2]])
    exact = (consumed, consumed, consumed), (produced, produced, produced)
    result = backtest_advice(consumed, produced, *exact, feed_in=0.05, retail=0.20)
    assert result.gain_from_purchases == pytest.approx(0.5 * (0.20 - 0.125))
    assert result.gain_from_sales == pytest.approx(1.0 * (0.125 - 0.05))
    assert result.gain == pytest.approx(result.gain_from_sales + result.gain_from_purchases)
    assert (result.sell_hours, result.buy_hours) == (1, 1)
