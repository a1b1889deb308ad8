"""Advice with tariff bands: limits and values use the bounds of the bands the window's hours fall in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.forecast.advice import Tariffs, TradeWindow, window_value

NOON = datetime(2026, 12, 9, 11, tzinfo=UTC)


def peak_and_valley(hour: datetime) -> tuple[int, int]:
    """(feed-in, retail): 60k-165k from 09:00 to 13:00 UTC, 60k-95k otherwise."""
    return (60_000, 165_000) if 9 <= hour.hour < 13 else (60_000, 95_000)


BANDED = Tariffs(50_000, 200_000, bounds_at=peak_and_valley)


def test_the_bounds_over_hours_are_those_valid_in_every_band():
    assert BANDED.over([NOON]) == Tariffs(60_000, 165_000)
    assert BANDED.over([NOON, NOON + timedelta(hours=3)]) == Tariffs(60_000, 95_000)
    assert BANDED.over([]) == BANDED
    flat = Tariffs(50_000, 200_000)
    assert flat.over([NOON]) is flat


def test_disjoint_bands_fall_back_to_the_first_hours_band():
    disjoint = Tariffs(0, 300_000, bounds_at=lambda h: (10_000, 20_000) if h == NOON else (30_000, 40_000))
    assert disjoint.over([NOON, NOON + timedelta(hours=1)]) == Tariffs(10_000, 20_000)


def test_a_buy_window_is_valued_against_its_bands_retail():
    window = TradeWindow("buy", NOON, NOON + timedelta(hours=1), 2_000, 1_000)
    # 1 kWh bought at 100,000 saves 165,000 - 100,000 against the peak band's retail
    assert window_value(window, 100_000, BANDED) == 65_000
    assert window_value(window, 100_000, Tariffs(50_000, 200_000)) == 100_000
