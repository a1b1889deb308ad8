"""Property-based: random sequences of orders, cancels, deposits, withdrawals
and settlements (cleared by the real solver) keep the market's books exact.

Invariants checked after every step:
  * kWh token supply == sum over settled intervals of (surplus - covered)
  * euros held by the market == open bids' escrow + households' accounts
  * kWh tokens held by the market == open asks' unfilled Wh
  * no order is ever filled beyond its amount, or at a price beyond its limit
  * a settled interval cannot be settled again
"""

from __future__ import annotations

import ape
from conftest import ASK, BID, EURO, advance_intervals
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from settlement_helpers import chain_orders, settle_args, solve

HOUSEHOLDS = 4
prices = st.integers(min_value=50, max_value=200).map(lambda k: k * 1000)
raw_prices = st.integers(min_value=50_000, max_value=200_000)

actions = st.one_of(
    st.tuples(
        st.just("order"),
        st.integers(0, HOUSEHOLDS - 1),
        st.sampled_from([BID, ASK]),
        raw_prices,
        st.integers(1, 3_000),
        st.integers(0, 2),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("deposit"), st.integers(0, HOUSEHOLDS - 1), st.integers(1, 50 * EURO)),
    st.tuples(st.just("withdraw"), st.integers(0, HOUSEHOLDS - 1), st.integers(1, 50 * EURO)),
    st.tuples(
        st.just("auto"), st.integers(0, HOUSEHOLDS - 1), st.one_of(st.just(0), prices), st.one_of(st.just(0), prices)
    ),
    st.tuples(
        st.just("settle"),
        st.lists(st.tuples(st.integers(0, 2_500), st.integers(0, 2_500)), min_size=HOUSEHOLDS, max_size=HOUSEHOLDS),
    ),
)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(actions, min_size=2, max_size=10))
def test_random_sequences_keep_the_books(chain, market, registry, token, euro, oracle, households, steps):
    members = households[:HOUSEHOLDS]
    snapshot = chain.snapshot()
    try:
        _run(chain, market, registry, token, euro, oracle, members, steps)
    finally:
        chain.restore(snapshot)


def _run(chain, market, registry, token, euro, oracle, members, steps):
    expected_supply = 0
    settled: list[int] = []
    for step in steps:
        kind = step[0]
        now = market.currentInterval()
        if kind == "order":
            _, who, side, limit, amount, length = step
            household = members[who]
            if side == ASK and token.balanceOf(household) < amount:
                with ape.reverts():
                    market.placeOrder(side, limit, amount, now, now + length, sender=household)
            else:
                market.placeOrder(side, limit, amount, now, now + length, sender=household)
        elif kind == "cancel":
            order_id = step[1]
            if 0 < order_id < market.nextOrderId() and market.getOrder(order_id).open:
                market.cancelOrder(order_id, sender=market.getOrder(order_id).owner)
            elif order_id >= market.nextOrderId() or order_id == 0:
                with ape.reverts(market.MarketUnknownOrder):
                    market.cancelOrder(order_id, sender=members[0])
        elif kind == "deposit":
            market.deposit(step[2], sender=members[step[1]])
        elif kind == "withdraw":
            household, amount = members[step[1]], step[2]
            if amount <= market.getAccount(household).balance:
                market.withdraw(amount, sender=household)
            else:
                with ape.reverts(market.MarketInsufficientBalance):
                    market.withdraw(amount, sender=household)
        elif kind == "auto":
            _, who, sell, buy = step
            market.setAutoSell(sell, sender=members[who])
            market.setAutoBuy(buy, sender=members[who])
        else:
            advance_intervals(chain, 1)
            metered = {h: values for h, values in zip(members, step[1], strict=True)}
            clearing = solve(market, registry, token, members, now, metered)
            limits = {o.order_id: o for o in chain_orders(market)}
            receipt = market.settleInterval(*settle_args(clearing), sender=oracle)
            closing = receipt.events.filter(market.IntervalSettled)[0]
            expected_supply += closing.surplusWh - closing.coveredWh
            for fill in receipt.events.filter(market.Filled):
                if fill.orderId:
                    order = limits[fill.orderId]
                    assert (
                        (clearing.clearing_price <= order.limit_price)
                        if fill.side == BID
                        else (clearing.clearing_price >= order.limit_price)
                    )
            settled.append(now)
            with ape.reverts(market.MarketIntervalAlreadySettled):
                market.settleInterval(*settle_args(clearing), sender=oracle)
        _check_books(market, token, euro, members, expected_supply)


def _check_books(market, token, euro, members, expected_supply):
    orders = chain_orders(market)
    assert token.totalSupply() == expected_supply
    bids_escrow = sum(o.escrow for o in orders if o.open and o.side == BID)
    accounts = sum(market.getAccount(h).balance for h in members)
    assert euro.balanceOf(market) == bids_escrow + accounts
    assert token.balanceOf(market) == sum(o.amount_wh - o.filled_wh for o in orders if o.open and o.side == ASK)
    for order in orders:
        assert 0 <= order.filled_wh <= order.amount_wh
