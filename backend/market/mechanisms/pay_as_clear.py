"""Pay-as-clear in the comparison: the on-chain solver on simulated positions.

Every position becomes a household with standing auto orders at its limits
(price takers bid retail and ask feed-in) and ample budget, cleared by
backend.market.solver exactly as on-chain. The simulation then sends unsold
surplus to the grid at feed-in and uncovered deficit from it at retail
(on-chain, unsold surplus would stay as token credit instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from backend.market.community_types import HouseholdBill, Position, Tariffs, validate_interval
from backend.market.mechanisms.rounding import round_bills
from backend.market.orderbook import PRICE_TICK, Account, MeteredEntry, Side
from backend.market.solver import clear_interval

AMPLE_BUDGET = 10**18


def pay_as_clear(positions: Sequence[Position], tariffs: Tariffs) -> list[HouseholdBill]:
    validate_interval(positions, tariffs)
    # Synthetic addresses in input order: the solver's address tie-break
    # becomes "earlier household first", as in the other mechanisms.
    addresses = [f"0x{index + 1:040x}" for index in range(len(positions))]
    entries = [MeteredEntry(a, p.produced_wh, p.consumed_wh) for a, p in zip(addresses, positions, strict=True)]
    # An auto price of 0 means "off" on-chain, so a zero limit becomes the
    # smallest price unit (free energy is then priced at 1 unit/kWh).
    lowest = min(1, tariffs.retail_price)
    accounts = {
        a: Account(
            balance=AMPLE_BUDGET,
            auto_sell_price=max(p.ask_price if p.ask_price is not None else tariffs.feed_in_price, lowest),
            auto_buy_price=max(p.bid_price if p.bid_price is not None else tariffs.retail_price, lowest),
        )
        for a, p in zip(addresses, positions, strict=True)
    }
    on_tick = tariffs.retail_price % PRICE_TICK == 0 and tariffs.feed_in_price % PRICE_TICK == 0
    clearing = clear_interval(0, entries, [], accounts, tariffs, price_tick=PRICE_TICK if on_tick else 1)

    traded = [0] * len(positions)
    for fill in clearing.fills:
        traded[fill.auto_entry] += fill.amount_wh
    price = Fraction(clearing.clearing_price, 1000)
    exact, bills_wh = [], []
    total_import = total_export = 0
    for index, position in enumerate(positions):
        entry = clearing.entries[index]  # synthetic addresses keep input order
        side = Side.ASK if entry.surplus_wh else Side.BID
        sold = traded[index] if side == Side.ASK else 0
        bought = traded[index] if side == Side.BID else 0
        grid_export = position.surplus_wh - sold
        grid_import = position.deficit_wh - bought
        total_import += grid_import
        total_export += grid_export
        exact.append(
            price * (bought - sold)
            + Fraction(grid_import * tariffs.retail_price, 1000)
            - Fraction(grid_export * tariffs.feed_in_price, 1000)
        )
        bills_wh.append((bought, sold, grid_import, grid_export))
    rounded = round_bills(exact, total_import, total_export, tariffs)
    return [
        HouseholdBill(
            household=p.household,
            bought_community_wh=b,
            sold_community_wh=s,
            grid_import_wh=i,
            grid_export_wh=e,
            bill=bill,
        )
        for p, (b, s, i, e), bill in zip(positions, bills_wh, rounded, strict=True)
    ]
