"""Pooled mechanisms: one community buy price and one sell price per interval.

Mid-market rate and bill sharing follow Long et al. 2017 ("Peer-to-peer energy
trading in a community microgrid", IEEE PES General Meeting); the supply-demand
ratio follows Zhou et al. 2018 ("Evaluation of peer-to-peer energy sharing
mechanisms based on a multiagent simulation framework", Applied Energy 222).

Notation (per interval, over the households in the pool):
  S = sum of net surpluses, D = sum of net deficits (Wh),
  λ_buy = retail price, λ_sell = feed-in price (units/kWh).
Every buyer pays ``deficit * P_buy / 1000`` and every seller receives
``surplus * P_sell / 1000``, exactly; the prices are chosen so that buyers' and
sellers' money differ by exactly the pool's net cost against the grid:
``D * P_buy - S * P_sell = λ_buy * max(0, D - S) - λ_sell * max(0, S - D)``.

Limit prices: the papers have no bids, so a limit only decides membership. A
buyer whose bid is below P_buy, or a seller whose ask is above P_sell, leaves
the pool and trades alone with the grid. All violators leave together, prices
are recomputed without them, and nobody re-enters, so the result is
deterministic, ends within n rounds and leaves a pool whose members all accept
its prices (a stable pool, not necessarily the largest one). A ``None`` limit
accepts any pool price.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from backend.market.community_types import HouseholdBill, Position, Tariffs, validate_interval
from backend.market.mechanisms.rounding import WH_PER_KWH, apportion_wh, exact_grid_cost, round_bills


@dataclass(frozen=True)
class PoolPrices:
    """Exact community prices of one interval, in payment units/kWh."""

    buy: Fraction
    sell: Fraction


PricingRule = Callable[[int, int, Tariffs], PoolPrices]


def mid_market_prices(supply_wh: int, demand_wh: int, tariffs: Tariffs) -> PoolPrices:
    """Price a pool by the mid-market rate (Long et al. 2017, MMR).

    P_mm = (λ_buy + λ_sell) / 2. Community energy trades at P_mm; the side that
    is left over trades its rest with the grid, and its average price mixes
    P_mm with the grid tariff:
      S < D: P_sell = P_mm, P_buy = (P_mm * S + λ_buy * (D - S)) / D
      S > D: P_buy = P_mm,  P_sell = (P_mm * D + λ_sell * (S - D)) / S
      S = D: P_buy = P_sell = P_mm
    Both prices lie within [λ_sell, λ_buy], so no member does worse than alone.
    """
    mid = Fraction(tariffs.retail_price + tariffs.feed_in_price, 2)
    if supply_wh < demand_wh:
        buy = (mid * supply_wh + tariffs.retail_price * (demand_wh - supply_wh)) / demand_wh
        return PoolPrices(buy=buy, sell=mid)
    if supply_wh > demand_wh:
        sell = (mid * demand_wh + tariffs.feed_in_price * (supply_wh - demand_wh)) / supply_wh
        return PoolPrices(buy=mid, sell=sell)
    return PoolPrices(buy=mid, sell=mid)


def bill_sharing_prices(supply_wh: int, demand_wh: int, tariffs: Tariffs) -> PoolPrices:
    """Price a pool by bill sharing (Long et al. 2017, BS).

    The pool's grid import cost is shared by buyers in proportion to their
    deficits, and its export revenue by sellers in proportion to their
    surpluses:
      P_buy  = λ_buy  * max(0, D - S) / D
      P_sell = λ_sell * max(0, S - D) / S
    When the pool imports, sellers therefore receive nothing (P_sell = 0), and
    when it exports, buyers pay nothing: bill sharing does not protect sellers.
    """
    buy = Fraction(tariffs.retail_price * max(0, demand_wh - supply_wh), demand_wh) if demand_wh else Fraction(0)
    sell = Fraction(tariffs.feed_in_price * max(0, supply_wh - demand_wh), supply_wh) if supply_wh else Fraction(0)
    return PoolPrices(buy=buy, sell=sell)


def supply_demand_ratio_prices(supply_wh: int, demand_wh: int, tariffs: Tariffs) -> PoolPrices:
    """Price a pool by its supply-demand ratio (Zhou et al. 2018, SDR).

    SDR = S / D. For 0 <= SDR <= 1:
      P_sell = (λ_buy * λ_sell) / ((λ_buy - λ_sell) * SDR + λ_sell)
      P_buy  = P_sell * SDR + λ_buy * (1 - SDR)
    For SDR > 1 (and with no buyers): P_sell = P_buy = λ_sell.
    P_sell falls from λ_buy (scarce supply) to λ_sell (SDR = 1). With no
    supply (SDR = 0) P_sell is its limit λ_buy, which also covers λ_sell = 0.
    """
    retail, feed_in = tariffs.retail_price, tariffs.feed_in_price
    if demand_wh == 0 or supply_wh > demand_wh or retail == feed_in:
        # SDR > 1, or a flat tariff where every formula gives λ_sell.
        return PoolPrices(buy=Fraction(feed_in), sell=Fraction(feed_in))
    if supply_wh == 0:
        return PoolPrices(buy=Fraction(retail), sell=Fraction(retail))
    ratio = Fraction(supply_wh, demand_wh)
    sell = Fraction(retail * feed_in) / ((retail - feed_in) * ratio + feed_in)
    buy = sell * ratio + retail * (1 - ratio)
    return PoolPrices(buy=buy, sell=sell)


def _rejects(position: Position, prices: PoolPrices) -> bool:
    """Tell whether a household's limit refuses the pool's price for its side."""
    if position.deficit_wh:
        return position.bid_price is not None and position.bid_price < prices.buy
    return position.ask_price is not None and position.ask_price > prices.sell


def settle_pool(positions: Sequence[Position], tariffs: Tariffs, pricing: PricingRule) -> list[HouseholdBill]:
    """Settle one interval with a pooled pricing rule; bills come in input order.

    Energy: the matched energy min(S, D) is split among the buyers in
    proportion to their deficits and among the sellers in proportion to their
    surpluses (largest remainder, see :mod:`.rounding`); what a buyer does not
    get is grid import, what a seller does not sell is grid export. Money:
    exact bills are rounded once to the community's grid cost.
    """
    validate_interval(positions, tariffs)
    members = [index for index, position in enumerate(positions) if position.deficit_wh or position.surplus_wh]
    while True:
        supply_wh = sum(positions[index].surplus_wh for index in members)
        demand_wh = sum(positions[index].deficit_wh for index in members)
        prices = pricing(supply_wh, demand_wh, tariffs)
        leaving = {index for index in members if _rejects(positions[index], prices)}
        if not leaving:
            break
        members = [index for index in members if index not in leaving]

    matched_wh = min(supply_wh, demand_wh)
    buyers = [index for index in members if positions[index].deficit_wh]
    sellers = [index for index in members if positions[index].surplus_wh]
    bought = dict(zip(buyers, apportion_wh(matched_wh, [positions[index].deficit_wh for index in buyers]), strict=True))
    sold = dict(zip(sellers, apportion_wh(matched_wh, [positions[index].surplus_wh for index in sellers]), strict=True))

    exact_bills: list[Fraction] = []
    for index, position in enumerate(positions):
        if index in bought:
            exact_bills.append(position.deficit_wh * prices.buy / WH_PER_KWH)
        elif index in sold:
            exact_bills.append(-position.surplus_wh * prices.sell / WH_PER_KWH)
        else:  # not trading, or left the pool: alone with the grid
            exact_bills.append(exact_grid_cost(position.deficit_wh, position.surplus_wh, tariffs))

    imports = [position.deficit_wh - bought.get(index, 0) for index, position in enumerate(positions)]
    exports = [position.surplus_wh - sold.get(index, 0) for index, position in enumerate(positions)]
    bills = round_bills(exact_bills, sum(imports), sum(exports), tariffs)
    return [
        HouseholdBill(
            household=position.household,
            bought_community_wh=bought.get(index, 0),
            sold_community_wh=sold.get(index, 0),
            grid_import_wh=imports[index],
            grid_export_wh=exports[index],
            bill=bills[index],
        )
        for index, position in enumerate(positions)
    ]


def mid_market_rate(positions: Sequence[Position], tariffs: Tariffs) -> list[HouseholdBill]:
    """Settle one interval at the mid-market rate (Long et al. 2017)."""
    return settle_pool(positions, tariffs, mid_market_prices)


def bill_sharing(positions: Sequence[Position], tariffs: Tariffs) -> list[HouseholdBill]:
    """Settle one interval by bill sharing (Long et al. 2017)."""
    return settle_pool(positions, tariffs, bill_sharing_prices)


def supply_demand_ratio(positions: Sequence[Position], tariffs: Tariffs) -> list[HouseholdBill]:
    """Settle one interval by the supply-demand ratio (Zhou et al. 2018)."""
    return settle_pool(positions, tariffs, supply_demand_ratio_prices)
