"""Admin: the transactions that register a household and set the tariffs, the oracle's rejections, meter logins.

The server holds no admin key: it checks the request and returns the
unsigned transaction, which the admin's wallet signs and sends. A meter's
broker login is the one thing it changes itself, in the broker's auth folder
(VATIO_BROKER_AUTH_DIR), as `vatio meter credentials` does.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from backend.db.models import Rejection, rejection_counts
from backend.web.access import require_admin
from backend.web.context import chain_call, config, db, rate_limited
from backend.web.errors import ApiError
from backend.web.validation import json_body, parse_address, parse_int, parse_page, parse_price

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/api/admin")
log = logging.getLogger(__name__)

PRICE_TICK = 1000  # CommunityRegistry.PRICE_TICK
MAX_UINT32 = 2**32 - 1


@bp.post("/households")
@rate_limited("write")
def register_household():
    """Return the registerHousehold transaction for the admin's wallet to send."""
    require_admin()
    body = json_body()
    wallet = parse_address(body.get("wallet"), "wallet", allow_zero=False)
    meter = parse_address(body.get("meter"), "meter", allow_zero=False)
    if wallet == meter:
        raise ApiError(400, "invalid_address", "the wallet and the meter must be different keys")
    capacity = parse_int(body.get("capacityW"), "capacityW", minimum=1, maximum=MAX_UINT32, code="invalid_amount")
    if chain_call(lambda gateway: gateway.roles(wallet)).household:
        raise ApiError(409, "already_registered", f"{wallet} is already a registered household")
    transaction = chain_call(
        lambda gateway: gateway.transaction("CommunityRegistry", "registerHousehold", [wallet, meter, capacity])
    )
    return jsonify({"transaction": transaction, "wallet": wallet, "meter": meter, "capacityW": capacity})


@bp.post("/tariffs")
@rate_limited("write")
def set_tariffs():
    """Return the setTariffs transaction: 0 < feed-in <= retail, both on the 1000-unit tick."""
    require_admin()
    body = json_body()
    retail = parse_price(body.get("retailPrice"), "retailPrice", minimum=PRICE_TICK)
    feed_in = parse_price(body.get("feedInPrice"), "feedInPrice", minimum=PRICE_TICK, maximum=retail)
    for name, price in (("retailPrice", retail), ("feedInPrice", feed_in)):
        if price % PRICE_TICK:
            raise ApiError(400, "invalid_price", f"{name} must be a multiple of {PRICE_TICK} (0.001 EUR/kWh)")
    transaction = chain_call(lambda gateway: gateway.transaction("CommunityRegistry", "setTariffs", [retail, feed_in]))
    return jsonify({"transaction": transaction, "retailPrice": retail, "feedInPrice": feed_in})


@bp.get("/rejections")
def rejections():
    """Return the oracle's rejection counts per reason and the latest rejections, newest first."""
    require_admin()
    settings = config()
    page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
    query = select(Rejection).order_by(Rejection.id.desc()).limit(page.limit + 1)
    if page.cursor is not None:
        query = query.where(Rejection.id < page.cursor)
    rows = list(db().scalars(query))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return jsonify(
        {
            "counts": rejection_counts(db()),
            "items": [
                {
                    "id": r.id,
                    "receivedAt": r.received_at,
                    "topic": r.topic,
                    "meter": r.meter,
                    "reason": r.reason,
                    "detail": r.detail,
                    "payloadSize": r.payload_size,
                    "payload": r.payload.decode("utf-8", "replace"),
                }
                for r in rows
            ],
            "nextCursor": rows[-1].id if more else None,
        }
    )


@bp.post("/meters/<address>/credentials")
@rate_limited("write")
def meter_credentials(address: str):
    """Create or rotate a meter's broker login; return its new password, once, and tell the broker to reread."""
    from backend.broker_auth import BrokerAuth, CredentialsError, canonical_meter_user, reload_broker

    admin = require_admin()
    meter = parse_address(address, "meter", allow_zero=False)
    json_body()  # no fields yet; a JSON object all the same, as every write here
    folder = config().broker_auth_dir
    if folder is None:
        raise ApiError(
            409,
            "broker_auth_not_configured",
            "this server manages no broker logins: set VATIO_BROKER_AUTH_DIR to the broker's auth folder, "
            "or run `vatio meter credentials` on the broker's host",
        )
    community = BrokerAuth(folder, "unknown").acl_community() if folder.is_dir() else None
    if community is None:
        raise ApiError(
            409,
            "broker_auth_not_configured",
            f"the broker's auth folder has no ACL yet: run `vatio meter credentials {meter} "
            "--community <name>` once on the broker's host",
        )
    try:
        auth = BrokerAuth(folder, community)
        username = canonical_meter_user(meter)
        rotated = auth.password_file.exists() and any(
            line.split(":", 1)[0] == username for line in auth.password_file.read_text().splitlines()
        )
        password = auth.set_password(username, keep=False)
    except CredentialsError as error:
        raise ApiError(503, "broker_auth_unavailable", str(error)) from None
    pid = reload_broker(auth.directory.parent / "mosquitto.pid")
    log.info(
        "%s the broker login of meter %s (admin %s)", "rotated" if rotated else "created", username, admin.address
    )  # never the password
    response = jsonify(
        {
            "meter": username,
            "username": username,
            "password": password,
            "rotated": rotated,
            "community": community,
            "topic": f"vatio/{community}/meters/{username}/readings",
            "brokerReloaded": pid is not None,
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
