"""The market as the chain recorded it: open orders, the book by price level, clearing history; order previews.

Orders come from the indexer's OrderPlaced, OrderClosed and Filled events.
An order stays open on-chain after a full fill (nothing to refund), so
"open" here means not closed, not expired and with energy left to trade.
"""

from __future__ import annotations

import time
from collections import defaultdict

from flask import Blueprint, jsonify, request
from sqlalchemy import BigInteger, cast, select
from sqlalchemy.orm import Session

from backend.db.models import ChainEvent
from backend.web.access import require_user
from backend.web.context import chain_call, config, db, rate_limited
from backend.web.errors import ApiError
from backend.web.events import arg_int, arg_text
from backend.web.settlements import interval_seconds
from backend.web.validation import (
    MAX_UINT64,
    json_body,
    parse_address,
    parse_amount_wh,
    parse_int,
    parse_page,
    parse_price,
)

__all__ = ["all_orders", "bp", "current_interval", "fills_of_orders", "household_fills", "open_orders", "order_book"]

bp = Blueprint("market", __name__, url_prefix="/api/market")

SIDES = {0: "bid", 1: "ask"}
MAX_INTERVAL_ID = 2**40 - 1  # the contract's uint40 validFrom/validTo
WH_PER_KWH = 1000


def current_interval() -> int:
    return int(time.time()) // interval_seconds()


def _order_json(event, filled_wh: int, closed: bool) -> dict:
    """An OrderPlaced event (anything with args, block_number, tx_hash) as an order."""
    args = event.args
    amount = arg_int(args, "amountWh")
    return {
        "orderId": arg_int(args, "orderId"),
        "owner": args.get("owner"),
        "side": SIDES.get(arg_int(args, "side"), "unknown"),
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
    query = (select(ChainEvent.args, ChainEvent.block_number, ChainEvent.tx_hash)
             .where(ChainEvent.event == "OrderPlaced").order_by(ChainEvent.id))
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
        chunk = [str(order_id) for order_id in order_ids[start:start + 500]]
        closed |= {arg_int(args, "orderId") for args in session.scalars(query.where(arg_text("orderId").in_(chunk)))}
    return closed


def fills_of_orders(order_ids: list[int]):
    """SQL: the arguments of the Filled events of these resting orders (indexed by migration 0004)."""
    return select(ChainEvent.args).where(ChainEvent.event == "Filled",
                                         arg_text("orderId").in_([str(order_id) for order_id in order_ids]))


def _filled_wh(session: Session, order_ids: list[int]) -> dict[int, int]:
    """Energy filled per resting order: an index lookup per order, not a scan of every (auto) fill."""
    filled: dict[int, int] = defaultdict(int)
    for start in range(0, len(order_ids), 500):
        for args in session.scalars(fills_of_orders(order_ids[start:start + 500])):
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
    candidates = [e for e in placed
                  if arg_int(e.args, "orderId") not in closed and arg_int(e.args, "validTo") >= at_interval]
    filled = _filled_wh(session, [arg_int(e.args, "orderId") for e in candidates])
    orders = [_order_json(e, filled[arg_int(e.args, "orderId")], False) for e in candidates]
    return sorted((o for o in orders if o["remainingWh"] > 0), key=lambda o: o["orderId"], reverse=True)


def order_book(orders: list[dict]) -> dict:
    """Aggregate open orders by side and price level: bids highest first, asks lowest first."""
    levels: dict[tuple[str, int], dict] = {}
    for order in orders:
        level = levels.setdefault((order["side"], order["limitPrice"]),
                                  {"price": order["limitPrice"], "amountWh": 0, "orders": 0})
        level["amountWh"] += order["remainingWh"]
        level["orders"] += 1
    bids = sorted((v for (side, _), v in levels.items() if side == "bid"), key=lambda v: -v["price"])
    asks = sorted((v for (side, _), v in levels.items() if side == "ask"), key=lambda v: v["price"])
    return {"bids": bids, "asks": asks}


def household_fills(session: Session, household: str, limit: int, cursor: int | None) -> tuple[list[dict], int | None]:
    """Return a household's fills (auto and resting orders), newest first, and the next cursor."""
    query = (select(ChainEvent)
             .where(ChainEvent.event == "Filled", arg_text("household").in_([household, household.lower()]))
             .order_by(ChainEvent.id.desc()).limit(limit + 1))
    if cursor is not None:
        query = query.where(ChainEvent.id < cursor)
    events = list(session.scalars(query))
    more = len(events) > limit
    events = events[:limit]
    fills = [{
        "intervalId": arg_int(e.args, "intervalId"),
        "orderId": arg_int(e.args, "orderId"),
        "auto": arg_int(e.args, "orderId") == 0,
        "side": SIDES.get(arg_int(e.args, "side"), "unknown"),
        "amountWh": arg_int(e.args, "amountWh"),
        "value": arg_int(e.args, "value"),
        "blockNumber": e.block_number,
        "txHash": e.tx_hash,
        "id": e.id,
    } for e in events]
    return fills, (events[-1].id if more else None)


@bp.get("/orders")
def list_open_orders():
    """List open orders, newest first; filter by side and owner."""
    settings = config()
    page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
    side = request.args.get("side")
    if side is not None and side not in ("bid", "ask"):
        raise ApiError(400, "invalid_parameter", "side must be bid or ask")
    owner = parse_address(request.args["owner"], "owner") if "owner" in request.args else None
    orders = [o for o in open_orders(db(), current_interval(), owner)
              if (side is None or o["side"] == side) and (page.cursor is None or o["orderId"] < page.cursor)]
    items = orders[:page.limit]
    return jsonify({"items": items,
                    "nextCursor": items[-1]["orderId"] if len(orders) > page.limit else None})


@bp.get("/book")
def book():
    """Return the order book by price level for the current interval."""
    at = current_interval()
    return jsonify({"intervalId": at, **order_book(open_orders(db(), at))})


@bp.get("/clearing")
def clearing_history():
    """Return the clearing price and volumes of settled intervals, newest first."""
    settings = config()
    page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
    query = (select(ChainEvent).where(ChainEvent.event == "IntervalSettled")
             .order_by(ChainEvent.id.desc()).limit(page.limit + 1))
    if page.cursor is not None:
        query = query.where(ChainEvent.id < page.cursor)
    events = list(db().scalars(query))
    more = len(events) > page.limit
    events = events[:page.limit]
    return jsonify({
        "items": [{
            "intervalId": arg_int(e.args, "intervalId"),
            "clearingPrice": arg_int(e.args, "clearingPrice"),
            "tradedWh": arg_int(e.args, "tradedWh"),
            "surplusWh": arg_int(e.args, "surplusWh"),
            "coveredWh": arg_int(e.args, "coveredWh"),
            "gridImportWh": arg_int(e.args, "gridImportWh"),
            "blockNumber": e.block_number,
            "txHash": e.tx_hash,
        } for e in events],
        "nextCursor": events[-1].id if more else None,
    })


@bp.post("/orders/preview")
@rate_limited("write")
def preview_order():
    """Check an order against the tariffs and the wallet, and return the transactions to sign."""
    user = require_user()
    if not user.roles.active:
        raise ApiError(403, "forbidden", "only an active registered household may place orders")
    body = json_body()
    side = body.get("side")
    if side not in ("bid", "ask"):
        raise ApiError(400, "invalid_parameter", "side must be bid or ask")
    amount = parse_amount_wh(body.get("amountWh"))
    tariffs = chain_call(lambda gateway: gateway.tariffs())
    price = parse_price(body.get("limitPrice"), "limitPrice", minimum=tariffs["feedInPrice"],
                        maximum=tariffs["retailPrice"])
    now_interval = chain_call(lambda gateway: gateway.current_interval())
    valid_from = parse_int(body.get("validFrom", now_interval), "validFrom", minimum=now_interval,
                           maximum=MAX_INTERVAL_ID, code="invalid_window")
    valid_to = parse_int(body.get("validTo", valid_from), "validTo", minimum=valid_from,
                         maximum=MAX_INTERVAL_ID, code="invalid_window")
    escrow = -(-amount * price // WH_PER_KWH) if side == "bid" else amount
    if side == "bid" and escrow > MAX_UINT64:
        raise ApiError(400, "invalid_amount", "the bid's escrow does not fit the contract (uint64)")
    balances = chain_call(lambda gateway: gateway.balances(user.address))
    held = balances["walletEuro"] if side == "bid" else balances["energyWh"]
    if escrow > held:
        asset = "euro base units" if side == "bid" else "Wh of kWh tokens"
        raise ApiError(400, "insufficient_balance", f"the order escrows {escrow} {asset}; the wallet holds {held}",
                       required=escrow, available=held)

    def transactions(gateway) -> list[dict]:
        token = "Euro" if side == "bid" else "EnergyToken"
        return [
            {"description": f"approve the market to escrow {escrow}",
             **gateway.transaction(token, "approve", [gateway.market.address, escrow])},
            {"description": "place the order",
             **gateway.transaction("EnergyMarket", "placeOrder",
                                   [0 if side == "bid" else 1, price, amount, valid_from, valid_to])},
        ]

    return jsonify({
        "order": {"side": side, "limitPrice": price, "amountWh": amount, "validFrom": valid_from,
                  "validTo": valid_to},
        "escrow": {"asset": "euro" if side == "bid" else "energy", "amount": escrow},
        "valueAtLimit": amount * price // WH_PER_KWH,
        "transactions": chain_call(transactions),
    })
