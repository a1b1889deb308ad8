"""The market as the chain recorded it: open orders, the book by price level, a household's fills.

Orders come from the indexer's OrderPlaced, OrderClosed and Filled events.
An order stays open on-chain after a full fill (nothing to refund), so
"open" here means not closed, not expired and with energy left to trade.

The book and a household's fills have the same JSON over HTTP
(backend/web/market.py) and in the live events (publish.py).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import BigInteger, Select, cast, select
from sqlalchemy.orm import Session

from backend.db.models import ChainEvent
from backend.readmodel.args import arg_int, arg_text
from backend.readmodel.payloads import fill_payload, side_name

__all__ = ["all_orders", "fills_of_orders", "household_fills", "open_orders", "order_book", "order_book_json"]


def _order_json(event, filled_wh: int, closed: bool) -> dict:
    """An OrderPlaced event as an order."""
    args = event.args
    amount = arg_int(args, "amountWh")
    return {
        "orderId": arg_int(args, "orderId"),
        "owner": args.get("owner"),
        "side": side_name(args),
        "limitPrice": arg_int(args, "limitPrice"),
        "amountWh": amount,
        "filledWh": filled_wh,
        "remainingWh": amount - filled_wh,
        "validFrom": arg_int(args, "validFrom"),
        "validTo": arg_int(args, "validTo"),
        "escrow": arg_int(args, "escrow"),
        "closed": closed,
        "blockNumber": event.block_number,
        "txHash": event.tx_hash,
    }


def _placed(session: Session, owner: str | None, at_interval: int | None = None) -> list:
    """OrderPlaced events as rows (args, block_number, tx_hash); with at_interval, only those not expired by then.

    The expiry is compared in SQL, so a long history of expired orders is
    neither sent nor decoded.
    """
    query = (
        select(ChainEvent.args, ChainEvent.block_number, ChainEvent.tx_hash)
        .where(ChainEvent.event == "OrderPlaced")
        .order_by(ChainEvent.id)
    )
    if owner is not None:
        query = query.where(arg_text("owner").in_([owner, owner.lower()]))
    if at_interval is not None:
        query = query.where(cast(arg_text("validTo"), BigInteger) >= at_interval)
    return list(session.execute(query))


def _closed(session: Session, order_ids: list[int] | None = None) -> set[int]:
    """The ids of closed orders (of these orders only, when given)."""
    query = select(ChainEvent.args).where(ChainEvent.event == "OrderClosed")
    if order_ids is None:
        return {arg_int(args, "orderId") for args in session.scalars(query)}
    closed: set[int] = set()
    for start in range(0, len(order_ids), 500):
        chunk = [str(order_id) for order_id in order_ids[start : start + 500]]
        closed |= {arg_int(args, "orderId") for args in session.scalars(query.where(arg_text("orderId").in_(chunk)))}
    return closed


def fills_of_orders(order_ids: list[int]) -> Select:
    """SQL: the arguments of the Filled events of these resting orders (indexed by migration 0004)."""
    return select(ChainEvent.args).where(
        ChainEvent.event == "Filled", arg_text("orderId").in_([str(order_id) for order_id in order_ids])
    )


def _filled_wh(session: Session, order_ids: list[int]) -> dict[int, int]:
    """Energy filled per resting order: an index lookup per order, not a scan of every (auto) fill."""
    filled: dict[int, int] = defaultdict(int)
    for start in range(0, len(order_ids), 500):
        for args in session.scalars(fills_of_orders(order_ids[start : start + 500])):
            filled[arg_int(args, "orderId")] += arg_int(args, "amountWh")
    return filled


def all_orders(session: Session, owner: str | None = None) -> list[dict]:
    """Return every order placed (optionally by one owner), with its filled amount and whether it closed."""
    placed = _placed(session, owner)
    closed = _closed(session) if placed else set()
    filled = _filled_wh(session, [arg_int(e.args, "orderId") for e in placed])
    return [_order_json(e, filled[arg_int(e.args, "orderId")], arg_int(e.args, "orderId") in closed) for e in placed]


def open_orders(session: Session, at_interval: int, owner: str | None = None) -> list[dict]:
    """Return the orders that can still trade: not closed, not expired, energy left; newest first."""
    placed = _placed(session, owner, at_interval)
    closed = _closed(session, [arg_int(e.args, "orderId") for e in placed])
    candidates = [
        e for e in placed if arg_int(e.args, "orderId") not in closed and arg_int(e.args, "validTo") >= at_interval
    ]
    filled = _filled_wh(session, [arg_int(e.args, "orderId") for e in candidates])
    orders = [_order_json(e, filled[arg_int(e.args, "orderId")], False) for e in candidates]
    return sorted((o for o in orders if o["remainingWh"] > 0), key=lambda o: o["orderId"], reverse=True)


def order_book(orders: list[dict]) -> dict:
    """Aggregate open orders by side and price level: bids highest first, asks lowest first."""
    levels: dict[tuple[str, int], dict] = {}
    for order in orders:
        level = levels.setdefault(
            (order["side"], order["limitPrice"]), {"price": order["limitPrice"], "amountWh": 0, "orders": 0}
        )
        level["amountWh"] += order["remainingWh"]
        level["orders"] += 1
    bids = sorted((v for (side, _), v in levels.items() if side == "bid"), key=lambda v: -v["price"])
    asks = sorted((v for (side, _), v in levels.items() if side == "ask"), key=lambda v: v["price"])
    return {"bids": bids, "asks": asks}


def order_book_json(session: Session, interval_id: int) -> dict:
    """The order book of interval_id's open orders, with the interval it is for."""
    return {"intervalId": interval_id, **order_book(open_orders(session, interval_id))}


def household_fills(session: Session, household: str, limit: int, cursor: int | None) -> tuple[list[dict], int | None]:
    """Return a household's fills (auto and resting orders), newest first, and the next cursor."""
    query = (
        select(ChainEvent)
        .where(ChainEvent.event == "Filled", arg_text("household").in_([household, household.lower()]))
        .order_by(ChainEvent.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(ChainEvent.id < cursor)
    events = list(session.scalars(query))
    more = len(events) > limit
    events = events[:limit]
    return [{**fill_payload(e), "id": e.id} for e in events], (events[-1].id if more else None)
