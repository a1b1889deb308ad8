"""EnergyMarket household actions: orders with escrow, cancels, expiry,
deposits, withdrawals and standing auto orders."""

import ape
import pytest
from conftest import ASK, BID, EURO, FEED_IN_PRICE, RETAIL_PRICE, advance_intervals


def test_place_bid_escrows_rounded_up_cost(market, euro, households, interval):
    buyer = households[0]
    before = euro.balanceOf(buyer)
    receipt = market.placeOrder(BID, 123_457, 1_001, interval, interval + 3, sender=buyer)
    # 1001 Wh * 123457 units/kWh / 1000 = 123580.457 -> 123581 escrowed
    escrow = 123_581
    assert receipt.events.filter(market.OrderPlaced)[0].escrow == escrow
    assert euro.balanceOf(buyer) == before - escrow
    assert euro.balanceOf(market) == escrow
    order = market.getOrder(1)
    assert (order.owner, order.side, order.amountWh, order.filledWh, order.escrow, order.open) == (
        buyer.address,
        BID,
        1_001,
        0,
        escrow,
        True,
    )
    assert (order.validFrom, order.validTo, order.limitPrice) == (interval, interval + 3, 123_457)
    assert market.nextOrderId() == 2


def test_place_ask_escrows_tokens(market, token, admin, households, interval):
    seller = households[1]
    token.grantRole(token.SETTLEMENT_ROLE(), admin, sender=admin)
    token.mint(seller, 5_000, sender=admin)
    market.placeOrder(ASK, 90_000, 2_000, interval, interval, sender=seller)
    assert token.balanceOf(seller) == 3_000
    assert token.balanceOf(market) == 2_000
    with ape.reverts(token.ERC20InsufficientBalance):
        market.placeOrder(ASK, 90_000, 3_001, interval, interval, sender=seller)


@pytest.mark.parametrize("price", [FEED_IN_PRICE - 1, RETAIL_PRICE + 1, 0])
def test_order_price_must_lie_within_tariffs(market, households, interval, price):
    with ape.reverts(
        market.MarketPriceOutOfBand,
        price=price,
        intervalId=interval,
        feedInPrice=FEED_IN_PRICE,
        retailPrice=RETAIL_PRICE,
    ):
        market.placeOrder(BID, price, 1000, interval, interval, sender=households[0])


def test_order_rejects_zero_amount_and_bad_windows(market, households, interval):
    buyer = households[0]
    with ape.reverts(market.MarketZeroAmount):
        market.placeOrder(BID, 100_000, 0, interval, interval, sender=buyer)
    with ape.reverts(market.MarketInvalidWindow, validFrom=interval + 2, validTo=interval + 1):
        market.placeOrder(BID, 100_000, 10, interval + 2, interval + 1, sender=buyer)
    with ape.reverts(market.MarketInvalidWindow, validFrom=interval - 1):
        market.placeOrder(BID, 100_000, 10, interval - 1, interval, sender=buyer)


def test_order_rejects_unknown_and_inactive_households(market, registry, admin, households, outsider, interval):
    with ape.reverts(market.MarketNotHousehold, caller=outsider):
        market.placeOrder(BID, 100_000, 10, interval, interval, sender=outsider)
    registry.setHouseholdActive(households[0], False, sender=admin)
    with ape.reverts(market.MarketNotHousehold, caller=households[0]):
        market.placeOrder(BID, 100_000, 10, interval, interval, sender=households[0])
    with ape.reverts(market.MarketNotHousehold):
        market.setAutoSell(100_000, sender=households[0])
    with ape.reverts(market.MarketNotHousehold):
        market.deposit(10, sender=households[0])


def test_order_needs_allowance(market, euro, households, interval):
    buyer = households[0]
    euro.approve(market, 0, sender=buyer)
    with ape.reverts(euro.ERC20InsufficientAllowance):
        market.placeOrder(BID, 100_000, 10, interval, interval, sender=buyer)
    assert market.nextOrderId() == 1


def test_cancel_refunds_escrow_once(market, euro, households, interval):
    buyer = households[0]
    before = euro.balanceOf(buyer)
    market.placeOrder(BID, 100_000, 10_000, interval, interval + 5, sender=buyer)
    with ape.reverts(market.MarketNotOrderOwner, orderId=1, caller=households[1]):
        market.cancelOrder(1, sender=households[1])
    receipt = market.cancelOrder(1, sender=buyer)
    assert receipt.events.filter(market.OrderClosed)[0].refundedEuro == 1_000_000
    assert euro.balanceOf(buyer) == before
    assert euro.balanceOf(market) == 0
    assert not market.getOrder(1).open
    with ape.reverts(market.MarketOrderNotOpen, orderId=1):
        market.cancelOrder(1, sender=buyer)
    with ape.reverts(market.MarketUnknownOrder, orderId=2):
        market.cancelOrder(2, sender=buyer)


def test_cancel_ask_returns_tokens(market, token, admin, households, interval):
    seller = households[1]
    token.grantRole(token.SETTLEMENT_ROLE(), admin, sender=admin)
    token.mint(seller, 700, sender=admin)
    market.placeOrder(ASK, 90_000, 700, interval, interval, sender=seller)
    receipt = market.cancelOrder(1, sender=seller)
    assert receipt.events.filter(market.OrderClosed)[0].refundedWh == 700
    assert token.balanceOf(seller) == 700 and token.balanceOf(market) == 0


def test_expired_order_can_be_reclaimed_by_anyone_once_settled(
    chain, market, euro, oracle, households, outsider, interval
):
    buyer = households[0]
    before = euro.balanceOf(buyer)
    market.placeOrder(BID, 100_000, 2_000, interval, interval + 1, sender=buyer)
    with ape.reverts(market.MarketOrderNotExpired, orderId=1, validTo=interval + 1):
        market.reclaimExpired(1, sender=outsider)
    advance_intervals(chain, 2)
    # Its last interval has ended but is not settled yet: the settlement may still fill it.
    with ape.reverts(market.MarketOrderNotExpired, orderId=1, validTo=interval + 1):
        market.reclaimExpired(1, sender=outsider)
    market.settleInterval(interval + 1, b"\x01" * 32, [], [], 0, sender=oracle)
    market.reclaimExpired(1, sender=outsider)
    assert euro.balanceOf(buyer) == before
    with ape.reverts(market.MarketOrderNotOpen):
        market.reclaimExpired(1, sender=outsider)
    with ape.reverts(market.MarketUnknownOrder):
        market.reclaimExpired(99, sender=outsider)


def test_unsettled_expired_order_is_reclaimable_after_the_grace_period(
    chain, market, euro, households, outsider, interval
):
    buyer = households[0]
    before = euro.balanceOf(buyer)
    market.placeOrder(BID, 100_000, 2_000, interval, interval, sender=buyer)
    grace = market.RECLAIM_GRACE_INTERVALS()
    advance_intervals(chain, grace)
    with ape.reverts(market.MarketOrderNotExpired):
        market.reclaimExpired(1, sender=outsider)
    advance_intervals(chain, 1)
    market.reclaimExpired(1, sender=outsider)
    assert euro.balanceOf(buyer) == before


def test_deposit_and_withdraw(market, euro, households, outsider):
    household = households[2]
    before = euro.balanceOf(household)
    receipt = market.deposit(300 * EURO, sender=household)
    assert receipt.events.filter(market.Deposited)[0].amount == 300 * EURO
    assert market.getAccount(household).balance == 300 * EURO
    with ape.reverts(market.MarketInsufficientBalance, household=household, requested=300 * EURO + 1):
        market.withdraw(300 * EURO + 1, sender=household)
    market.withdraw(100 * EURO, sender=household)
    assert market.getAccount(household).balance == 200 * EURO
    assert euro.balanceOf(household) == before - 200 * EURO
    with ape.reverts(market.MarketZeroAmount):
        market.withdraw(0, sender=household)
    with ape.reverts(market.MarketZeroAmount):
        market.deposit(0, sender=household)
    with ape.reverts(market.MarketInsufficientBalance):
        market.withdraw(1, sender=outsider)


def test_auto_orders(market, households):
    household = households[3]
    receipt = market.setAutoSell(80_000, sender=household)
    assert receipt.events == [market.AutoOrderSet(household=household, side=ASK, limitPrice=80_000)]
    market.setAutoBuy(150_000, sender=household)
    account = market.getAccount(household)
    assert (account.autoSellPrice, account.autoBuyPrice) == (80_000, 150_000)
    market.setAutoSell(0, sender=household)
    assert market.getAccount(household).autoSellPrice == 0
    with ape.reverts(market.MarketPriceOutOfTariffs):
        market.setAutoBuy(RETAIL_PRICE + 1_000, sender=household)
    with ape.reverts(market.MarketPriceOutOfTariffs):
        market.setAutoSell(FEED_IN_PRICE - 1_000, sender=household)
