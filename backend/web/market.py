"""The market API: open orders, the book by price level, clearing history; order previews.

The orders, the book and the settled intervals are the read model's
(backend/readmodel/market.py, payloads.py): the same JSON as the live events.
"""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from backend.db.models import ChainEvent
from backend.readmodel.market import open_orders, order_book_json
from backend.readmodel.payloads import interval_settled_payload
from backend.web.access import require_user
from backend.web.context import chain_call, config, db, rate_limited
from backend.web.errors import ApiError
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

__all__ = ["PRICE_TICK", "bp", "current_interval", "on_price_tick"]

bp = Blueprint("market", __name__, url_prefix="/api/market")

MAX_INTERVAL_ID = 2**40 - 1  # the contract's uint40 validFrom/validTo
WH_PER_KWH = 1000
PRICE_TICK = 1000  # CommunityRegistry.PRICE_TICK: 0.001 EUR/kWh (docs/mechanisms.md, "Limit prices and the tick")


def on_price_tick(price: int) -> int:
    """A price rounded to the nearest tick (half up): what a suggested limit price is shown and placed at."""
    return (price + PRICE_TICK // 2) // PRICE_TICK * PRICE_TICK


def current_interval() -> int:
    return int(time.time()) // interval_seconds()


@bp.get("/orders")
def list_open_orders():
    """List open orders, newest first; filter by side and owner."""
    settings = config()
    page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
    side = request.args.get("side")
    if side is not None and side not in ("bid", "ask"):
        raise ApiError(400, "invalid_parameter", "side must be bid or ask")
    owner = parse_address(request.args["owner"], "owner") if "owner" in request.args else None
    orders = [
        o
        for o in open_orders(db(), current_interval(), owner)
        if (side is None or o["side"] == side) and (page.cursor is None or o["orderId"] < page.cursor)
    ]
    items = orders[: page.limit]
    return jsonify({"items": items, "nextCursor": items[-1]["orderId"] if len(orders) > page.limit else None})


@bp.get("/book")
def book():
    """Return the order book by price level for the current interval."""
    return jsonify(order_book_json(db(), current_interval()))


@bp.get("/clearing")
def clearing_history():
    """Return the clearing price and volumes of settled intervals, newest first."""
    settings = config()
    page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
    query = (
        select(ChainEvent)
        .where(ChainEvent.event == "IntervalSettled")
        .order_by(ChainEvent.id.desc())
        .limit(page.limit + 1)
    )
    if page.cursor is not None:
        query = query.where(ChainEvent.id < page.cursor)
    events = list(db().scalars(query))
    more = len(events) > page.limit
    events = events[: page.limit]
    return jsonify(
        {
            "items": [interval_settled_payload(e) for e in events],
            "nextCursor": events[-1].id if more else None,
        }
    )


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
    now_interval = chain_call(lambda gateway: gateway.current_interval())
    valid_from = parse_int(
        body.get("validFrom", now_interval),
        "validFrom",
        minimum=now_interval,
        maximum=MAX_INTERVAL_ID,
        code="invalid_window",
    )
    valid_to = parse_int(
        body.get("validTo", valid_from), "validTo", minimum=valid_from, maximum=MAX_INTERVAL_ID, code="invalid_window"
    )
    # placeOrder checks the limit against the band of the order's first interval, not the band of now.
    bounds = chain_call(lambda gateway: gateway.price_bounds(valid_from))
    if bounds is None:
        raise ApiError(
            400,
            "invalid_window",
            f"the registry has no tariff band for interval {valid_from} yet (its band calendar ends earlier)",
        )
    price = parse_price(
        body.get("limitPrice"), "limitPrice", minimum=bounds["feedInPrice"], maximum=bounds["retailPrice"]
    )
    if price % PRICE_TICK:
        raise ApiError(
            400,
            "invalid_price",
            f"limitPrice must be a multiple of {PRICE_TICK} (0.001 EUR/kWh, the "
            "market's price tick): the clearing price is always on it",
        )
    escrow = -(-amount * price // WH_PER_KWH) if side == "bid" else amount
    if side == "bid" and escrow > MAX_UINT64:
        raise ApiError(400, "invalid_amount", "the bid's escrow does not fit the contract (uint64)")
    balances = chain_call(lambda gateway: gateway.balances(user.address))
    held = balances["walletEuro"] if side == "bid" else balances["energyWh"]
    if escrow > held:
        asset = "euro base units" if side == "bid" else "Wh of kWh tokens"
        raise ApiError(
            400,
            "insufficient_balance",
            f"the order escrows {escrow} {asset}; the wallet holds {held}",
            required=escrow,
            available=held,
        )

    def transactions(gateway) -> list[dict]:
        token = "Euro" if side == "bid" else "EnergyToken"
        return [
            {
                "description": f"approve the market to escrow {escrow}",
                **gateway.transaction(token, "approve", [gateway.market.address, escrow]),
            },
            {
                "description": "place the order",
                **gateway.transaction(
                    "EnergyMarket", "placeOrder", [0 if side == "bid" else 1, price, amount, valid_from, valid_to]
                ),
            },
        ]

    return jsonify(
        {
            "order": {
                "side": side,
                "limitPrice": price,
                "amountWh": amount,
                "validFrom": valid_from,
                "validTo": valid_to,
            },
            "escrow": {"asset": "euro" if side == "bid" else "energy", "amount": escrow},
            "valueAtLimit": amount * price // WH_PER_KWH,
            "transactions": chain_call(transactions),
        }
    )
