"""Reading the market's on-chain state into the solver's types (web3.py).

The oracle clears each interval from this, and auditors re-run the solver on
it: nothing comes from the backend's database.
"""

from __future__ import annotations

from collections.abc import Iterable

from web3.contract import Contract

from backend.market.orderbook import Account, RestingOrder, Side, Tariffs


def read_orders(market: Contract, block: int | str = "latest") -> list[RestingOrder]:
    """Every order ever placed (ids 1..nextOrderId-1), open or not."""
    next_id = market.functions.nextOrderId().call(block_identifier=block)
    orders = []
    for order_id in range(1, next_id):
        owner, valid_from, valid_to, side, is_open, amount, filled, limit, escrow = market.functions.getOrder(
            order_id
        ).call(block_identifier=block)
        orders.append(
            RestingOrder(
                order_id=order_id,
                owner=owner,
                side=Side(side),
                limit_price=limit,
                amount_wh=amount,
                filled_wh=filled,
                escrow=escrow,
                valid_from=valid_from,
                valid_to=valid_to,
                open=is_open,
            )
        )
    return orders


def read_accounts(market: Contract, households: Iterable[str], block: int | str = "latest") -> dict[str, Account]:
    result = {}
    for household in households:
        balance, sell, buy = market.functions.getAccount(household).call(block_identifier=block)
        result[household] = Account(balance=balance, auto_sell_price=sell, auto_buy_price=buy)
    return result


def read_token_balances(token: Contract, households: Iterable[str], block: int | str = "latest") -> dict[str, int]:
    return {h: token.functions.balanceOf(h).call(block_identifier=block) for h in households}


def read_common_bounds(registry: Contract, block: int | str = "latest") -> Tariffs:
    """The price range inside every band of the newest tariff version: the highest feed-in bound and
    the lowest retail bound. An interval-free limit (an auto order) chosen in it is valid, and can
    trade, in whichever band an interval falls."""
    count = registry.functions.tariffVersionCount().call(block_identifier=block)
    version = count - 1
    band_count = registry.functions.tariffVersion(version).call(block_identifier=block)[2]
    bounds = [registry.functions.bandBounds(version, band).call(block_identifier=block) for band in range(band_count)]
    return Tariffs(retail_price=min(b[1] for b in bounds), feed_in_price=max(b[0] for b in bounds))


def read_tariffs(registry: Contract, block: int | str = "latest", interval_id: int | None = None) -> Tariffs:
    """The price bounds of `interval_id`'s tariff band (CommunityRegistry.priceBounds), or of the
    current interval's when None."""
    if interval_id is None:
        return Tariffs(
            retail_price=registry.functions.retailPrice().call(block_identifier=block),
            feed_in_price=registry.functions.feedInPrice().call(block_identifier=block),
        )
    feed_in, retail = registry.functions.priceBounds(interval_id).call(block_identifier=block)
    return Tariffs(retail_price=retail, feed_in_price=feed_in)
