"""Tariff versions with time bands on-chain: bounds per band, a change only from a future interval,
orders and clearing prices checked against the interval's band, and a hypothesis property."""

from __future__ import annotations

import ape
import pytest
from conftest import ASK, BID, FEED_IN_PRICE, INTERVAL_SECONDS, RETAIL_PRICE, advance_intervals, sort_households
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from settlement_helpers import settle_args, solve

HASH = b"\x5c" * 32
OFF, PEAK = (60_000, 120_000), (90_000, 250_000)  # (feed-in, retail) of band 0 and band 1
PEAK_HOURS = range(8, 20)


def word(band_of_hour) -> int:
    """A calendar word: byte h = 1 + band index of UTC hour h."""
    return sum((band_of_hour(h) + 1) << (8 * h) for h in range(24))


DAY_WORD = word(lambda h: 1 if h in PEAK_HOURS else 0)


def day_of(interval_id: int) -> int:
    return interval_id * INTERVAL_SECONDS // 86400


def hour_of(interval_id: int) -> int:
    return interval_id * INTERVAL_SECONDS % 86400 // 3600


@pytest.fixture
def banded(chain, registry, admin, market, interval):
    """Version 1 (two bands) from two intervals on, its calendar set for three days; returns its first interval."""
    effective = interval + 2
    registry.addTariffVersion(HASH, effective, [OFF, PEAK], sender=admin)
    registry.setBandCalendar(1, day_of(interval), [DAY_WORD] * 3, sender=admin)
    return effective


def expected_bounds(interval_id: int) -> tuple[int, int]:
    return PEAK if hour_of(interval_id) in PEAK_HOURS else OFF


def test_a_version_applies_from_its_interval_and_not_before(registry, banded):
    assert registry.tariffVersionCount() == 2
    version = registry.tariffVersion(1)
    assert (version.scheduleHash, version.effectiveFrom, version.bandCount) == (HASH, banded, 2)
    assert (version.minFeedInPrice, version.maxRetailPrice) == (60_000, 250_000)
    assert registry.priceBounds(banded - 1) == (FEED_IN_PRICE, RETAIL_PRICE)
    assert registry.bandOf(banded - 1) == (0, 0)
    assert registry.priceBounds(banded) == expected_bounds(banded)
    assert registry.bandOf(banded)[0] == 1


def test_order_limits_are_checked_against_the_band_of_the_first_interval(market, households, banded):
    buyer = households[0]
    # 55,000 is inside the flat tariff (from 50,000) but below every band of version 1 (from 60,000).
    market.placeOrder(BID, 55_000, 1_000, banded - 1, banded - 1, sender=buyer)
    feed_in, retail = expected_bounds(banded)
    with ape.reverts(
        market.MarketPriceOutOfBand, price=55_000, intervalId=banded, feedInPrice=feed_in, retailPrice=retail
    ):
        market.placeOrder(BID, 55_000, 1_000, banded, banded, sender=buyer)
    with ape.reverts(market.MarketPriceOutOfBand, price=retail + 1_000):
        market.placeOrder(ASK, retail + 1_000, 1_000, banded, banded, sender=buyer)
    market.placeOrder(BID, retail, 1_000, banded, banded, sender=buyer)


def test_auto_order_limits_use_the_current_versions_envelope(market, households):
    with ape.reverts(
        market.MarketPriceOutOfTariffs, price=RETAIL_PRICE + 1_000, feedInPrice=FEED_IN_PRICE, retailPrice=RETAIL_PRICE
    ):
        market.setAutoBuy(RETAIL_PRICE + 1_000, sender=households[0])


def _auto_pair(market, households):
    seller, buyer = sort_households(households[:2])
    market.setAutoSell(60_000, sender=seller)
    market.setAutoBuy(200_000, sender=buyer)
    market.deposit(10**7, sender=buyer)
    return seller, buyer


@pytest.mark.parametrize("offset", [-1, 1])
def test_clearing_outside_the_intervals_band_reverts_and_inside_settles(
    chain, market, oracle, households, banded, offset
):
    seller, buyer = _auto_pair(market, households)
    target = banded
    advance_intervals(chain, target - market.currentInterval() + 1)
    feed_in, retail = expected_bounds(target)
    entries = [(seller.address, 1_500, 500), (buyer.address, 0, 700)]
    fills = [(0, 0, 700), (0, 1, 700)]
    bad = feed_in - 1_000 if offset < 0 else retail + 1_000
    with ape.reverts(
        market.MarketPriceOutOfBand, price=bad, intervalId=target, feedInPrice=feed_in, retailPrice=retail
    ):
        market.settleInterval(target, b"\x11" * 32, entries, fills, bad, sender=oracle)
    with ape.reverts(market.MarketPriceOutOfBand):
        market.settleChunk(target, b"\x11" * 32, entries, fills, bad, sender=oracle)
    market.settleInterval(target, b"\x11" * 32, entries, fills, max(feed_in, 60_000), sender=oracle)
    assert market.isSettled(target)


def test_versions_must_start_in_the_future_and_after_the_last(registry, admin, interval):
    now = registry.currentInterval()
    with ape.reverts(registry.RegistryTariffNotInFuture, effectiveFrom=now, earliest=now + 1):
        registry.addTariffVersion(HASH, now, [OFF], sender=admin)
    registry.addTariffVersion(HASH, now + 10, [OFF], sender=admin)
    with ape.reverts(registry.RegistryTariffNotInFuture, effectiveFrom=now + 5, earliest=now + 11):
        registry.addTariffVersion(HASH, now + 5, [OFF], sender=admin)


@pytest.mark.parametrize(
    "bands, index", [([], 0), ([(130_000, 120_000)], 0), ([OFF, (90_500, 250_000)], 1), ([OFF, (0, 0)], 1)]
)
def test_bad_band_bounds_are_refused(registry, admin, interval, bands, index):
    with ape.reverts(registry.RegistryInvalidBandBounds, band=index):
        registry.addTariffVersion(HASH, registry.currentInterval() + 1, bands, sender=admin)
    assert registry.tariffVersionCount() == 1


def test_only_the_admin_sets_tariffs_and_calendars(registry, outsider, interval):
    with ape.reverts(registry.AccessControlUnauthorizedAccount):
        registry.addTariffVersion(HASH, registry.currentInterval() + 1, [OFF], sender=outsider)
    with ape.reverts(registry.AccessControlUnauthorizedAccount):
        registry.setBandCalendar(0, 0, [DAY_WORD], sender=outsider)


def test_calendar_checks_bands_days_and_never_rewrites_a_started_day(chain, registry, admin, banded):
    today = day_of(registry.currentInterval())
    with ape.reverts(registry.RegistryUnknownTariffVersion, version=7):
        registry.setBandCalendar(7, today, [DAY_WORD], sender=admin)
    with ape.reverts(registry.RegistryInvalidCalendar, day=today + 5, hour=3, value=3):
        registry.setBandCalendar(1, today + 5, [word(lambda h: 2 if h == 3 else 0)], sender=admin)
    with ape.reverts(registry.RegistryInvalidCalendar, day=today + 5, hour=0, value=0):
        registry.setBandCalendar(1, today + 5, [DAY_WORD - 1], sender=admin)
    with ape.reverts(registry.RegistryInvalidCalendar, hour=24):
        registry.setBandCalendar(1, today + 5, [DAY_WORD | (1 << 200)], sender=admin)
    with ape.reverts(registry.RegistryCalendarDayFixed, version=1, day=today):
        registry.setBandCalendar(1, today, [word(lambda h: 0)], sender=admin)
    # A future day already set may still change: it has not begun.
    receipt = registry.setBandCalendar(1, today + 2, [word(lambda h: 0)], sender=admin)
    assert receipt.events == [registry.BandCalendarSet(version=1, firstDay=today + 2, dayWords=[word(lambda h: 0)])]
    assert registry.bandCalendar(1, today + 2) == word(lambda h: 0)


def test_an_interval_without_a_calendar_day_has_no_band(registry, banded):
    late = (day_of(banded) + 3) * 86400 // INTERVAL_SECONDS
    with ape.reverts(registry.RegistryNoBand, intervalId=late, version=1):
        registry.priceBounds(late)


band_prices = st.tuples(st.integers(1, 150), st.integers(0, 150)).map(lambda t: (t[0] * 1000, (t[0] + t[1]) * 1000))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    bands=st.lists(band_prices, min_size=1, max_size=4),
    hours=st.lists(st.integers(0, 3), min_size=24, max_size=24),
    bids=st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 2_000)), max_size=4),
    metered=st.lists(st.tuples(st.integers(0, 2_000), st.integers(0, 2_000)), min_size=4, max_size=4),
)
def test_clearing_is_always_inside_the_intervals_band(
    chain, registry, market, token, admin, oracle, households, bands, hours, bids, metered
):
    """Any band table, bids placed at random prices inside their band, any metering: the solver's
    clearing price, accepted by the contract, lies in the bounds of the settled interval's band."""
    snapshot = chain.snapshot()
    try:
        members = households[:4]
        now = registry.currentInterval()
        target = now + 1
        version = registry.addTariffVersion(HASH, target, bands, sender=admin).return_value
        band_word = word(lambda h: hours[h] % len(bands))
        registry.setBandCalendar(version, day_of(target), [band_word, band_word], sender=admin)
        feed_in, retail = registry.priceBounds(target)
        assert (feed_in, retail) == bands[hours[hour_of(target)] % len(bands)]
        # One household buys and one sells automatically at the envelope's extremes; the others bid.
        low, high = registry.tariffEnvelope()
        market.deposit(10**8, sender=members[0])
        market.setAutoBuy(high, sender=members[0])
        market.setAutoSell(low, sender=members[1])
        for index, (share, amount) in enumerate(bids):
            price = (feed_in + (retail - feed_in) * share // 1000) // 1000 * 1000
            market.placeOrder(BID, max(price, feed_in), amount, target, target, sender=members[2 + index % 2])
        advance_intervals(chain, target - market.currentInterval() + 1)
        clearing = solve(market, registry, token, members, target, dict(zip(members, metered, strict=True)))
        receipt = market.settleInterval(*settle_args(clearing), sender=oracle)
        if clearing.fills:
            assert feed_in <= clearing.clearing_price <= retail
            assert receipt.events.filter(market.IntervalSettled)[0].clearingPrice == clearing.clearing_price
    finally:
        chain.restore(snapshot)
