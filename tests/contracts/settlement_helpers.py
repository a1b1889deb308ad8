"""Reading the market's state into the solver's types, and sending its answer."""

from __future__ import annotations

from backend.market.orderbook import Account, MeteredEntry, RestingOrder, Side, Tariffs
from backend.market.solver import clear_interval


def chain_orders(market) -> list[RestingOrder]:
    orders = []
    for order_id in range(1, market.nextOrderId()):
        o = market.getOrder(order_id)
        orders.append(
            RestingOrder(
                order_id=order_id,
                owner=o.owner,
                side=Side(o.side),
                limit_price=o.limitPrice,
                amount_wh=o.amountWh,
                filled_wh=o.filledWh,
                escrow=o.escrow,
                valid_from=o.validFrom,
                valid_to=o.validTo,
                open=o.open,
            )
        )
    return orders


def chain_accounts(market, households) -> dict[str, Account]:
    result = {}
    for household in households:
        a = market.getAccount(household)
        result[str(household.address if hasattr(household, "address") else household)] = Account(
            balance=a.balance, auto_sell_price=a.autoSellPrice, auto_buy_price=a.autoBuyPrice
        )
    return result


def solve(market, registry, token, households, interval_id, metered):
    """Clears `interval_id` from the chain's orders and `metered` {household: (produced, consumed)}."""
    entries = [MeteredEntry(str(h), p, c) for h, (p, c) in metered.items()]
    balances = {str(h): token.balanceOf(h) for h in households}
    feed_in, retail = registry.priceBounds(interval_id)  # the bounds of the interval's band
    return clear_interval(
        interval_id,
        entries,
        chain_orders(market),
        chain_accounts(market, households),
        Tariffs(retail, feed_in),
        balances,
    )


def settle_args(clearing, root: bytes = b"\x11" * 32):
    return (
        clearing.interval_id,
        root,
        [e.as_tuple() for e in clearing.entries],
        [f.as_tuple() for f in clearing.fills],
        clearing.clearing_price,
    )
