"""Community settlement mechanisms: invariants, hand-worked examples, bad input."""

import json
import math
from fractions import Fraction

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.market.cli import market
from backend.market.community_types import HouseholdBill, Position, Tariffs
from backend.market.compare import NO_COMMUNITY, simulate_and_compare
from backend.market.mechanisms import MECHANISMS, grid_cost, no_community_bills
from backend.market.mechanisms.pooled import mid_market_prices, supply_demand_ratio_prices
from backend.market.mechanisms.rounding import apportion_wh, round_to_total

pytestmark = pytest.mark.slow  # every mechanism over many simulated communities: seconds of CPU

RETAIL, FEED_IN = 150_000, 50_000  # 0.15 and 0.05 €/kWh
TARIFFS = Tariffs(retail_price=RETAIL, feed_in_price=FEED_IN)
ALL_MECHANISMS = {**MECHANISMS, NO_COMMUNITY: no_community_bills}
INDIVIDUALLY_RATIONAL = ("mid-market-rate", "supply-demand-ratio")


def address(number: int) -> str:
    return f"0x{number:040x}"


def expected_net_grid_cost(positions: list[Position], tariffs: Tariffs) -> int:
    """ceil((retail * max(0, D - S) - feed_in * max(0, S - D)) / 1000), computed independently."""
    supply = sum(max(0, p.produced_wh - p.consumed_wh) for p in positions)
    demand = sum(max(0, p.consumed_wh - p.produced_wh) for p in positions)
    milli_units = tariffs.retail_price * max(0, demand - supply) - tariffs.feed_in_price * max(0, supply - demand)
    return math.ceil(Fraction(milli_units, 1000))


# --- strategies --------------------------------------------------------------

tariffs_strategy = st.integers(0, 400_000).flatmap(
    lambda feed_in: st.builds(Tariffs, retail_price=st.integers(feed_in, 500_000), feed_in_price=st.just(feed_in))
)
energy_wh = st.integers(0, 5_000)


@st.composite
def interval(draw, with_limits: bool):
    tariffs = draw(tariffs_strategy)
    size = draw(st.integers(0, 10))
    limit = st.integers(tariffs.feed_in_price, tariffs.retail_price)
    positions = []
    for number in range(size):
        bid = draw(st.none() | limit) if with_limits else None
        ask = draw(st.none() | limit) if with_limits else None
        positions.append(Position(address(number), draw(energy_wh), draw(energy_wh), bid, ask))
    return positions, tariffs


# --- properties --------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(interval(with_limits=False))
def test_mechanisms_price_takers_share_the_net_grid_cost(case):
    positions, tariffs = case
    expected = expected_net_grid_cost(positions, tariffs)
    for name, mechanism in MECHANISMS.items():
        assert sum(bill.bill for bill in mechanism(positions, tariffs)) == expected, name


@settings(max_examples=300, deadline=None)
@given(interval(with_limits=True))
def test_mechanisms_total_bill_is_cost_of_own_grid_flows(case):
    positions, tariffs = case
    for name, mechanism in MECHANISMS.items():
        bills = mechanism(positions, tariffs)
        imported = sum(bill.grid_import_wh for bill in bills)
        exported = sum(bill.grid_export_wh for bill in bills)
        exact = Fraction(imported * tariffs.retail_price - exported * tariffs.feed_in_price, 1000)
        assert sum(bill.bill for bill in bills) == math.ceil(exact), name
    # Without a community, each household is its own community of one.
    for bill in no_community_bills(positions, tariffs):
        exact = Fraction(bill.grid_import_wh * tariffs.retail_price - bill.grid_export_wh * tariffs.feed_in_price, 1000)
        assert bill.bill == math.ceil(exact)


@settings(max_examples=300, deadline=None)
@given(interval(with_limits=True))
def test_mechanisms_conserve_energy(case):
    positions, tariffs = case
    for name, mechanism in ALL_MECHANISMS.items():
        bills = mechanism(positions, tariffs)
        assert [bill.household for bill in bills] == [p.household for p in positions], name
        assert sum(b.bought_community_wh for b in bills) == sum(b.sold_community_wh for b in bills), name
        for position, bill in zip(positions, bills, strict=True):
            deficit = max(0, position.consumed_wh - position.produced_wh)
            surplus = max(0, position.produced_wh - position.consumed_wh)
            assert bill.bought_community_wh + bill.grid_import_wh == deficit, name
            assert bill.sold_community_wh + bill.grid_export_wh == surplus, name
            assert min(bill.bought_community_wh, bill.sold_community_wh, bill.grid_import_wh, bill.grid_export_wh) >= 0


@settings(max_examples=300, deadline=None)
@given(interval(with_limits=True))
def test_mechanisms_rational_ones_never_charge_more_than_alone(case):
    positions, tariffs = case
    alone = no_community_bills(positions, tariffs)
    for name in INDIVIDUALLY_RATIONAL:
        for own, baseline in zip(MECHANISMS[name](positions, tariffs), alone, strict=True):
            assert own.bill <= baseline.bill, (name, own, baseline)


@settings(max_examples=100, deadline=None)
@given(interval(with_limits=True))
def test_mechanisms_same_input_same_output(case):
    positions, tariffs = case
    copies = [Position(p.household, p.produced_wh, p.consumed_wh, p.bid_price, p.ask_price) for p in positions]
    for name, mechanism in ALL_MECHANISMS.items():
        same_tariffs = Tariffs(tariffs.retail_price, tariffs.feed_in_price)
        assert mechanism(positions, tariffs) == mechanism(tuple(copies), same_tariffs), name


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 100_000), st.integers(0, 100_000), tariffs_strategy)
def test_pool_prices_stay_within_tariffs_and_balance(supply_wh, demand_wh, tariffs):
    for pricing in (mid_market_prices, supply_demand_ratio_prices):
        prices = pricing(supply_wh, demand_wh, tariffs)
        assert tariffs.feed_in_price <= prices.sell <= tariffs.retail_price
        assert tariffs.feed_in_price <= prices.buy <= tariffs.retail_price
        # Buyers' money minus sellers' money is exactly the pool's grid cost (in milli-units).
        grid = tariffs.retail_price * max(0, demand_wh - supply_wh)
        grid -= tariffs.feed_in_price * max(0, supply_wh - demand_wh)
        assert demand_wh * prices.buy - supply_wh * prices.sell == grid


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fractions(min_value=-1000, max_value=1000, max_denominator=1000), max_size=12))
def test_round_to_total_rounds_each_amount_down_or_up(amounts):
    total = math.ceil(sum(amounts, Fraction(0)))
    rounded = round_to_total(amounts, total)
    assert sum(rounded) == total
    assert all(math.floor(a) <= r <= math.ceil(a) for a, r in zip(amounts, rounded, strict=True))


# --- hand-worked examples ----------------------------------------------------
# Community of 2 sellers and 3 buyers, retail 0.15 €/kWh, feed-in 0.05 €/kWh:
#   A: produced 3000, consumed 1000 -> surplus 2000 Wh
#   B: produced 1000, consumed    0 -> surplus 1000 Wh
#   C: produced    0, consumed 1500 -> deficit 1500 Wh
#   D: produced    0, consumed 2000 -> deficit 2000 Wh
#   E: produced  200, consumed 1200 -> deficit 1000 Wh
# S = 3000, D = 4500: the community imports 1500 Wh, 1500 * 150000 / 1000 = 225000 units.

A, B, C, D, E = (address(n) for n in range(1, 6))
FIVE = [
    Position(A, 3000, 1000),
    Position(B, 1000, 0),
    Position(C, 0, 1500),
    Position(D, 0, 2000),
    Position(E, 200, 1200),
]


def bill_amounts(bills: list[HouseholdBill]) -> list[int]:
    return [bill.bill for bill in bills]


def test_no_community_bills_hand_example():
    # A: -2000 * 50000 / 1000 = -100000; B: -50000; C: 1500 * 150 = 225000; D: 300000; E: 150000.
    assert bill_amounts(no_community_bills(FIVE, TARIFFS)) == [-100_000, -50_000, 225_000, 300_000, 150_000]


def test_mid_market_rate_hand_example():
    # P_mm = (150000 + 50000) / 2 = 100000. S < D, so sellers get P_mm and
    # P_buy = (100000 * 3000 + 150000 * 1500) / 4500 = 350000/3 = 116666.67.
    # A: -2000 * 100 = -200000; B: -100000
    # C: 1.5 * 350000/3 = 175000; D: 2 * 350000/3 = 233333.33; E: 350000/3 = 116666.67
    # Floors sum to 224999; the missing unit goes to the largest fraction (E, .67).
    bills = MECHANISMS["mid-market-rate"](FIVE, TARIFFS)
    assert bill_amounts(bills) == [-200_000, -100_000, 175_000, 233_333, 116_667]
    # 3000 Wh split over 1500:2000:1000 -> 1000, 1333.33, 666.67 -> 1000, 1333, 667 (E has the larger remainder).
    assert [b.bought_community_wh for b in bills] == [0, 0, 1000, 1333, 667]
    assert [b.grid_import_wh for b in bills] == [0, 0, 500, 667, 333]
    assert [b.sold_community_wh for b in bills] == [2000, 1000, 0, 0, 0]


def test_bill_sharing_hand_example():
    # Import cost 225000 shared by deficits: P_buy = 150000 * 1500 / 4500 = 50000.
    # C 75000, D 100000, E 50000. No export, so sellers get P_sell = 0.
    assert bill_amounts(MECHANISMS["bill-sharing"](FIVE, TARIFFS)) == [0, 0, 75_000, 100_000, 50_000]


def test_supply_demand_ratio_hand_example():
    # SDR = 3000 / 4500 = 2/3.
    # P_sell = 150000 * 50000 / (100000 * 2/3 + 50000) = 450000/7 = 64285.71
    # P_buy  = P_sell * 2/3 + 150000 * 1/3 = 650000/7 = 92857.14
    # A: -2 * 450000/7 = -128571.43 (floor -128572, fraction .57)
    # B: -1 * 450000/7 =  -64285.71 (floor  -64286, fraction .29)
    # C: 1.5 * 650000/7 = 139285.71 (floor  139285, fraction .71)
    # D: 2 * 650000/7   = 185714.29 (floor  185714, fraction .29)
    # E: 1 * 650000/7   =  92857.14 (floor   92857, fraction .14)
    # Floors sum to 224998: one unit each to C (.71) and A (.57).
    bills = MECHANISMS["supply-demand-ratio"](FIVE, TARIFFS)
    assert bill_amounts(bills) == [-128_571, -64_286, 139_286, 185_714, 92_857]


def test_pay_as_bid_price_takers_hand_example():
    # Every bid is retail (150000) and every ask feed-in (50000); ties keep input order.
    # C(1500) x A(2000): 1500 Wh @150000 = 225000; D(2000) x A(500 left): 500 Wh = 75000;
    # D(1500 left) x B(1000): 1000 Wh = 150000; D imports 500 (75000), E imports 1000 (150000).
    bills = MECHANISMS["pay-as-bid"](FIVE, TARIFFS)
    assert bill_amounts(bills) == [-300_000, -150_000, 225_000, 300_000, 150_000]
    assert [b.grid_import_wh for b in bills] == [0, 0, 0, 500, 1000]


def test_pay_as_bid_limits_hand_example():
    # Asks: S1 1000 Wh @60000, S2 2000 Wh @90000. Bids: B1 1500 @120000, B2 1000 @100000, B3 800 @80000.
    # B1 x S1: 1000 Wh @120000 = 120000    B1 x S2: 500 Wh @120000 = 60000
    # B2 x S2: 1000 Wh @100000 = 100000    B3 @80000 < S2 @90000: stop.
    # B3 imports 800 Wh (120000); S2 exports 500 Wh (-25000).
    # S1 -120000; S2 -160000 - 25000 = -185000; B1 180000; B2 100000; B3 120000.
    # Total 95000 = 800 * 150 - 500 * 50.
    s1, s2, b1, b2, b3 = (address(n) for n in range(10, 15))
    positions = [
        Position(b3, 0, 800, bid_price=80_000),
        Position(s1, 1000, 0, ask_price=60_000),
        Position(b1, 0, 1500, bid_price=120_000),
        Position(s2, 2000, 0, ask_price=90_000),
        Position(b2, 0, 1000, bid_price=100_000),
    ]
    bills = MECHANISMS["pay-as-bid"](positions, TARIFFS)
    assert bill_amounts(bills) == [120_000, -120_000, 180_000, -185_000, 100_000]
    assert [b.bought_community_wh for b in bills] == [0, 0, 1500, 0, 1000]
    assert [b.sold_community_wh for b in bills] == [0, 1000, 0, 1500, 0]
    assert sum(bill_amounts(bills)) == 95_000


def test_pay_as_bid_no_overlap_trades_nothing():
    positions = [Position(A, 1000, 0, ask_price=100_000), Position(C, 0, 1000, bid_price=90_000)]
    bills = MECHANISMS["pay-as-bid"](positions, TARIFFS)
    assert bills == no_community_bills(positions, TARIFFS)


def test_mid_market_rate_buyer_below_price_leaves_pool():
    # S1 1000 Wh; B1 3000 Wh bid 110000; B2 1000 Wh price taker.
    # Round 1: S = 1000, D = 4000, P_buy = (100000 * 1000 + 150000 * 3000) / 4000 = 137500 > 110000: B1 leaves.
    # Round 2: S = D = 1000, both at P_mm = 100000. B1 alone: 3000 * 150 = 450000.
    positions = [Position(A, 1000, 0), Position(B, 0, 3000, bid_price=110_000), Position(C, 0, 1000)]
    bills = MECHANISMS["mid-market-rate"](positions, TARIFFS)
    assert bill_amounts(bills) == [-100_000, 450_000, 100_000]
    assert [b.grid_import_wh for b in bills] == [0, 3000, 0]


def test_supply_demand_ratio_above_one_trades_at_feed_in():
    # S = 2000 > D = 500: SDR = 4 > 1, so P_buy = P_sell = 50000.
    # Buyer: 500 * 50 = 25000; seller: -2000 * 50 = -100000; total -75000 = -1500 * 50.
    positions = [Position(A, 2000, 0), Position(C, 0, 500)]
    assert bill_amounts(MECHANISMS["supply-demand-ratio"](positions, TARIFFS)) == [-100_000, 25_000]


def test_rounding_remainder_goes_to_largest_fraction_then_earlier():
    assert round_to_total([Fraction(1, 3)] * 3, 1) == [1, 0, 0]
    assert round_to_total([Fraction(1, 4), Fraction(3, 4), Fraction(-1, 2)], 1) == [0, 1, 0]
    assert apportion_wh(10, [1, 1, 1]) == [4, 3, 3]
    # The grid rounds in its own favour, once, on the net amount.
    assert grid_cost(1, 0, Tariffs(300, 0)) == 1  # 0.3 -> 1
    assert grid_cost(0, 1, Tariffs(600, 600)) == 0  # -0.6 -> 0
    assert grid_cost(3, 1, Tariffs(300, 300)) == 1  # 0.9 - 0.3 = 0.6 -> 1


def test_empty_and_idle_intervals_cost_nothing():
    idle = [Position(A, 500, 500), Position(B, 0, 0)]
    for name, mechanism in ALL_MECHANISMS.items():
        assert mechanism([], TARIFFS) == [], name
        assert bill_amounts(mechanism(idle, TARIFFS)) == [0, 0], name


def test_registry_names():
    assert list(MECHANISMS) == ["pay-as-clear", "pay-as-bid", "mid-market-rate", "bill-sharing", "supply-demand-ratio"]


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Position(A, -1, 0), "produced_wh must not be negative"),
        (lambda: Position(A, 0, -5), "consumed_wh must not be negative"),
        (lambda: Position(A, 1.5, 0), "integer number of Wh"),
        (lambda: Position(A, True, 0), "integer number of Wh"),
        (lambda: Position("", 0, 0), "non-empty address"),
        (lambda: Position(A, 0, 0, bid_price=-1), "bid_price must not be negative"),
        (lambda: Tariffs(retail_price=50_000, feed_in_price=60_000), "must not exceed retail_price"),
        (lambda: Tariffs(retail_price=-1, feed_in_price=0), "retail_price must not be negative"),
    ],
)
def test_types_reject_bad_values(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("name", list(ALL_MECHANISMS))
def test_mechanisms_reject_duplicate_household(name):
    with pytest.raises(ValueError, match="duplicate household"):
        ALL_MECHANISMS[name]([Position(A, 100, 0), Position(A, 0, 100)], TARIFFS)


@pytest.mark.parametrize("name", list(ALL_MECHANISMS))
def test_mechanisms_reject_limits_outside_tariffs(name):
    with pytest.raises(ValueError, match="outside the grid tariffs"):
        ALL_MECHANISMS[name]([Position(A, 0, 100, bid_price=RETAIL + 1)], TARIFFS)
    with pytest.raises(ValueError, match="outside the grid tariffs"):
        ALL_MECHANISMS[name]([Position(A, 100, 0, ask_price=FEED_IN - 1)], TARIFFS)


def test_position_stores_numpy_integers_as_int():
    numpy = pytest.importorskip("numpy")
    position = Position(A, numpy.int64(7), numpy.int32(3))
    assert type(position.produced_wh) is int and type(position.consumed_wh) is int


# --- comparison tool ---------------------------------------------------------


def test_compare_price_takers_community_bill_is_the_same_under_every_mechanism():
    comparison = simulate_and_compare(4, "2026-04-06", 1, seed=3)
    bills = {summary.mechanism: summary.community_bill for summary in comparison.mechanisms}
    assert set(bills) == {NO_COMMUNITY, *MECHANISMS}
    assert len({bills[name] for name in MECHANISMS}) == 1
    for summary in comparison.mechanisms:
        if summary.mechanism in INDIVIDUALLY_RATIONAL:
            assert summary.households_worse_off == 0, summary
    for result in comparison.households:
        assert result.bills["mid-market-rate"] <= result.bills[NO_COMMUNITY]


def test_compare_cli_prints_tables_and_writes_json(tmp_path):
    out = tmp_path / "compare.json"
    result = CliRunner().invoke(
        market, ["compare", "--households", "3", "--days", "1", "--seed", "2", "--limits", "random", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Community totals per mechanism" in result.output
    written = json.loads(out.read_text())
    assert written["parameters"]["households"] == 3
    assert [m["mechanism"] for m in written["mechanisms"]] == [NO_COMMUNITY, *MECHANISMS]


def test_compare_cli_rejects_feed_in_above_retail():
    result = CliRunner().invoke(market, ["compare", "--retail-price", "10", "--feed-in-price", "20"])
    assert result.exit_code != 0
    assert "must not exceed retail_price" in result.output
