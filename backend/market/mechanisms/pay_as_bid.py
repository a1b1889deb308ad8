"""Pay-as-bid: a discriminatory double auction for one interval.

Bids are sorted by price, highest first, and asks by price, lowest first;
equal prices keep input order (earlier first). The best remaining bid and ask
trade ``min(remaining deficit, remaining surplus)`` Wh while bid >= ask. Each
pair trades at the buyer's bid, and the seller receives exactly what the buyer
pays: ``q * bid // 1000`` payment units, rounded down per pair (the contract's
integer division), so internal payments cancel in integers. Energy left
unmatched goes to the grid. A ``None`` bid is the retail price and a ``None``
ask the feed-in price: what the household would get from the grid anyway.
"""

from collections.abc import Sequence
from fractions import Fraction

from backend.market.community_types import HouseholdBill, Position, Tariffs, validate_interval
from backend.market.mechanisms.rounding import WH_PER_KWH, exact_grid_cost, round_bills


def pay_as_bid(positions: Sequence[Position], tariffs: Tariffs) -> list[HouseholdBill]:
    """Settle one interval by pay-as-bid matching; bills come in input order."""
    validate_interval(positions, tariffs)
    count = len(positions)
    bids = {index: tariffs.retail_price if p.bid_price is None else p.bid_price for index, p in enumerate(positions)}
    asks = {index: tariffs.feed_in_price if p.ask_price is None else p.ask_price for index, p in enumerate(positions)}
    buyers = sorted((index for index in range(count) if positions[index].deficit_wh), key=lambda i: (-bids[i], i))
    sellers = sorted((index for index in range(count) if positions[index].surplus_wh), key=lambda i: (asks[i], i))

    need = [position.deficit_wh for position in positions]
    offer = [position.surplus_wh for position in positions]
    traded = [0] * count
    internal = [0] * count  # payment units, positive = paid to the community
    buyer_rank = seller_rank = 0
    while buyer_rank < len(buyers) and seller_rank < len(sellers):
        buyer, seller = buyers[buyer_rank], sellers[seller_rank]
        if bids[buyer] < asks[seller]:
            break
        quantity_wh = min(need[buyer], offer[seller])
        payment = quantity_wh * bids[buyer] // WH_PER_KWH
        need[buyer] -= quantity_wh
        offer[seller] -= quantity_wh
        traded[buyer] += quantity_wh
        traded[seller] += quantity_wh
        internal[buyer] += payment
        internal[seller] -= payment
        buyer_rank += need[buyer] == 0
        seller_rank += offer[seller] == 0

    exact_bills = [internal[index] + exact_grid_cost(need[index], offer[index], tariffs) for index in range(count)]
    bills = round_bills([Fraction(bill) for bill in exact_bills], sum(need), sum(offer), tariffs)
    return [
        HouseholdBill(
            household=position.household,
            bought_community_wh=traded[index] if position.deficit_wh else 0,
            sold_community_wh=traded[index] if position.surplus_wh else 0,
            grid_import_wh=need[index],
            grid_export_wh=offer[index],
            bill=bills[index],
        )
        for index, position in enumerate(positions)
    ]
