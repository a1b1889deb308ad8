"""The pay-as-clear solver: hand-worked examples and properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.market.chunking import split_settlement
from backend.market.orderbook import Account, MeteredEntry, RestingOrder, Side, Tariffs, cost
from backend.market.solver import clear_interval

TARIFFS = Tariffs(retail_price=200_000, feed_in_price=50_000)
A, B, C, D = ("0x" + c * 40 for c in "abcd")


def test_auto_orders_clear_at_the_midpoint_with_pro_rata_rationing():
    # Seller A: 1,000 Wh surplus, asks >= 0.08. Buyers B (600 Wh) and C (800 Wh) bid <= 0.15.
    # Demand 1,400 > supply 1,000 at every price in [0.08, 0.15]: volume 1,000, imbalance 400
    # everywhere, so the price is the midpoint (80,000 + 150,000) / 2 = 115,000.
    # Buyers share 1,000 Wh pro rata: B 600*1000/1400 = 428.57, C 571.43 -> floors 428 + 571 = 999;
    # the spare Wh goes to the largest remainder (B, .57) -> B 429, C 571.
    entries = [MeteredEntry(A, 1_000, 0), MeteredEntry(B, 0, 600), MeteredEntry(C, 0, 800)]
    accounts = {A: Account(0, 80_000, 0), B: Account(10**9, 0, 150_000), C: Account(10**9, 0, 150_000)}
    clearing = clear_interval(7, entries, [], accounts, TARIFFS)
    assert clearing.clearing_price == 115_000
    bought = {o.household: o.bought_wh for o in clearing.outcomes.values()}
    assert bought == {B: 429, C: 571, A: 0}
    assert clearing.outcomes[A].received == 1_000 * 115  # 1,000 Wh at 115 units per Wh
    assert clearing.outcomes[B].grid_import_wh == 171 and clearing.outcomes[C].grid_import_wh == 229


def test_resting_orders_have_time_priority_over_auto_orders_at_the_same_price():
    # Asks: resting order 1 from D at 0.09 for 500 Wh, A's auto-sell at 0.09 with 500 Wh surplus.
    # Bid: B's auto-buy at 0.09 for 600 Wh. Only 600 Wh trade: order 1 first (time), A gets 100.
    entries = [MeteredEntry(A, 500, 0), MeteredEntry(B, 0, 600)]
    accounts = {A: Account(0, 90_000, 0), B: Account(10**9, 0, 90_000)}
    orders = [RestingOrder(1, D, Side.ASK, 90_000, 500)]
    clearing = clear_interval(3, entries, orders, accounts, TARIFFS)
    assert clearing.clearing_price == 90_000
    sold = {o.household: o.sold_wh for o in clearing.outcomes.values()}
    assert sold[D] == 500 and sold[A] == 100
    assert clearing.outcomes[A].credited_wh == 400  # unsold surplus stays as credit


def test_no_crossing_means_no_trade():
    entries = [MeteredEntry(A, 1_000, 0), MeteredEntry(B, 0, 600)]
    accounts = {A: Account(0, 150_000, 0), B: Account(10**9, 0, 100_000)}
    clearing = clear_interval(1, entries, [], accounts, TARIFFS)
    assert clearing.clearing_price == 0 and clearing.fills == []
    assert clearing.outcomes[A].credited_wh == 1_000 and clearing.outcomes[B].grid_import_wh == 600


def test_budget_caps_auto_buy():
    # B has 20,000 units: at 0.10 EUR/kWh that buys 200 Wh of its 600 Wh deficit.
    entries = [MeteredEntry(A, 1_000, 0), MeteredEntry(B, 0, 600)]
    accounts = {A: Account(0, 100_000, 0), B: Account(20_000, 0, 100_000)}
    clearing = clear_interval(1, entries, [], accounts, TARIFFS)
    assert clearing.clearing_price == 100_000
    assert clearing.outcomes[B].bought_wh == 200 and clearing.outcomes[B].paid == 20_000


def test_expired_closed_and_future_orders_do_not_trade():
    entries = [MeteredEntry(A, 1_000, 0)]
    accounts = {A: Account(0, 60_000, 0)}
    orders = [
        RestingOrder(1, B, Side.BID, 150_000, 500, escrow=75_000, valid_from=0, valid_to=4),
        RestingOrder(2, B, Side.BID, 150_000, 500, escrow=75_000, valid_from=6, valid_to=9),
        RestingOrder(3, B, Side.BID, 150_000, 500, escrow=75_000, open=False),
        RestingOrder(4, B, Side.BID, 150_000, 500, filled_wh=500),
    ]
    assert clear_interval(5, entries, orders, accounts, TARIFFS).fills == []


@pytest.mark.parametrize(
    "bad",
    [
        [MeteredEntry(A, 1, 0), MeteredEntry(A.upper().replace("0X", "0x"), 1, 0)],
        [MeteredEntry(A, -1, 0)],
    ],
)
def test_bad_entries_raise(bad):
    with pytest.raises(ValueError):
        clear_interval(1, bad, [], {}, TARIFFS)


def test_tariffs_off_the_tick_raise():
    with pytest.raises(ValueError, match="tick"):
        clear_interval(1, [MeteredEntry(A, 1, 0)], [], {A: Account(0, 60_000, 0)}, Tariffs(200_500, 50_000))


# --- properties ---------------------------------------------------------------

addresses = st.integers(min_value=1, max_value=2**160 - 1).map(lambda n: f"0x{n:040x}")
prices = st.integers(min_value=50, max_value=200).map(lambda k: k * 1000 + 0)
raw_prices = st.integers(min_value=50_000, max_value=200_000)


@st.composite
def markets(draw):
    households = draw(st.lists(addresses, min_size=1, max_size=12, unique=True))
    entries, accounts = [], {}
    for household in households:
        entries.append(MeteredEntry(household, draw(st.integers(0, 3_000)), draw(st.integers(0, 3_000))))
        accounts[household] = Account(
            balance=draw(st.integers(0, 10**6)),
            auto_sell_price=draw(st.one_of(st.just(0), raw_prices)),
            auto_buy_price=draw(st.one_of(st.just(0), raw_prices)),
        )
    orders = []
    for order_id in range(1, draw(st.integers(0, 10)) + 1):
        side = draw(st.sampled_from([Side.BID, Side.ASK]))
        limit, amount = draw(raw_prices), draw(st.integers(1, 5_000))
        filled = draw(st.integers(0, amount))
        escrow = -(-(amount - filled) * limit // 1000) if side == Side.BID else 0
        orders.append(
            RestingOrder(
                order_id, draw(st.sampled_from(households)), side, limit, amount, filled_wh=filled, escrow=escrow
            )
        )
    return entries, orders, accounts


@settings(max_examples=300, deadline=None)
@given(markets())
def test_clearing_respects_limits_and_conserves_energy_and_money(market):
    entries, orders, accounts = market
    clearing = clear_interval(10, entries, orders, accounts, TARIFFS)
    price = clearing.clearing_price
    by_id = {o.order_id: o for o in orders}
    sold = bought = paid = received = 0
    metered = {e.household: e for e in clearing.entries}
    for fill in clearing.fills:
        assert fill.amount_wh > 0
        if fill.order_id:
            order = by_id[fill.order_id]
            assert fill.amount_wh <= order.remaining_wh
            limit, side = order.limit_price, order.side
        else:
            entry = clearing.entries[fill.auto_entry]
            account = accounts[entry.household]
            side = Side.ASK if entry.surplus_wh else Side.BID
            limit = account.auto_sell_price if side == Side.ASK else account.auto_buy_price
            assert fill.amount_wh <= max(entry.surplus_wh, entry.deficit_wh)
            if side == Side.BID:
                assert cost(fill.amount_wh, price) <= account.balance
        if side == Side.BID:
            assert price <= limit
            bought += fill.amount_wh
            paid += cost(fill.amount_wh, price)
        else:
            assert price >= limit
            sold += fill.amount_wh
            received += cost(fill.amount_wh, price)
    assert sold == bought and paid == received
    if clearing.fills:
        assert TARIFFS.feed_in_price <= price <= TARIFFS.retail_price and price % 1000 == 0
    for outcome in clearing.outcomes.values():
        entry = metered.get(outcome.household)
        if entry and entry.deficit_wh:
            assert outcome.burned_wh + outcome.grid_import_wh <= entry.deficit_wh


@settings(max_examples=100, deadline=None)
@given(markets(), st.randoms(use_true_random=False))
def test_same_input_same_output_whatever_the_order(market, rnd):
    entries, orders, accounts = market
    first = clear_interval(10, entries, orders, accounts, TARIFFS)
    shuffled_entries, shuffled_orders = entries[:], orders[:]
    rnd.shuffle(shuffled_entries)
    rnd.shuffle(shuffled_orders)
    second = clear_interval(10, shuffled_entries, shuffled_orders, accounts, TARIFFS)
    assert (first.clearing_price, first.fills, first.entries) == (second.clearing_price, second.fills, second.entries)


@settings(max_examples=100, deadline=None)
@given(markets())
def test_no_better_price_trades_more(market):
    """The chosen price trades the most energy of any price on the tick."""
    entries, orders, accounts = market
    clearing = clear_interval(10, entries, orders, accounts, TARIFFS)
    volume = clearing.traded_wh
    for price in range(TARIFFS.feed_in_price, TARIFFS.retail_price + 1, 5_000):
        demand = supply = 0
        for o in orders:
            if o.tradable_in(10):
                if o.side == Side.BID and o.limit_price >= price:
                    demand += o.remaining_wh
                if o.side == Side.ASK and o.limit_price <= price:
                    supply += o.remaining_wh
        for e in entries:
            a = accounts[e.household]
            if e.deficit_wh and a.auto_buy_price and a.auto_buy_price >= price:
                demand += min(e.deficit_wh, a.balance * 1000 // price)
            if e.surplus_wh and a.auto_sell_price and a.auto_sell_price <= price:
                supply += e.surplus_wh
        assert min(demand, supply) <= volume


def test_chunks_cover_every_entry_and_fill_once():
    rng = random.Random(5)
    households = [f"0x{rng.getrandbits(160):040x}" for _ in range(60)]
    entries = [MeteredEntry(h, rng.randint(0, 1500), rng.randint(0, 1500)) for h in households]
    accounts = {h: Account(10**9, 60_000, 180_000) for h in households}
    orders = [RestingOrder(i, households[i], Side.BID, 190_000, 300, escrow=57_000) for i in range(1, 6)]
    orders += [RestingOrder(6, "0x" + "f" * 40, Side.ASK, 55_000, 900)]
    clearing = clear_interval(1, entries, orders, accounts, TARIFFS)
    chunks = split_settlement(clearing, {o.order_id: o for o in orders}, gas_budget=200_000)
    assert len(chunks) > 3
    assert [e for c in chunks for e in c.entries] == clearing.entries
    assert sorted(f.amount_wh for c in chunks for f in c.fills) == sorted(f.amount_wh for f in clearing.fills)
    for chunk in chunks:
        for fill in chunk.fills:
            if fill.order_id == 0:
                assert fill.auto_entry < len(chunk.entries)
