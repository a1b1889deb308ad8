"""The OpenAPI 3.1 description of the API (/api/openapi.json) and a docs page that renders it (/api/docs).

Written by hand, next to nothing else: a test checks that every route the
app serves under /api is described here with its method, so the two cannot
drift apart. The docs page is self-contained (no CDN): it fetches the JSON
and lists the operations.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify

__all__ = ["bp", "openapi_spec", "request_body_schema"]

bp = Blueprint("openapi", __name__, url_prefix="/api")

_ERROR = {"$ref": "#/components/responses/Error"}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_INTS = {"type": "array", "items": {"type": "integer"}}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INTS = {"type": "array", "items": _NULLABLE_INT}
_ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$", "description": "EIP-55 or single-case hex address"}


def _param(name: str, where: str, schema: dict, description: str, required: bool = False) -> dict:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


_HOUSEHOLD = _param("address", "path", _ADDRESS, "the household's wallet address")
_INTERVAL = _param("interval_id", "path", {"type": "integer", "minimum": 0}, "interval id = start // intervalSeconds")
_LIMIT = _param("limit", "query", {"type": "integer", "minimum": 1}, "page size (at most the server's maximum, 500)")
_CURSOR = _param("cursor", "query", _INT, "the previous page's nextCursor")
_FROM = _param("from", "query", _INT, "start, unix seconds (inclusive); default: 24 h before `to`")
_TO = _param("to", "query", _INT, "end, unix seconds (exclusive); default: now")
_RESOLUTION = _param(
    "resolution", "query", _STR, "raw, 1m, 5m, 15m, 1h, 1d or seconds; at most 2000 points per response"
)
_PAGE = [_LIMIT, _CURSOR]
_METER = _param("address", "path", _ADDRESS, "the meter's address (its broker username, checksummed)")
_TOKEN_ID = _param("token_id", "path", {"type": "integer", "minimum": 1}, "the token's id (from the list)")
_HORIZON = _param("horizon", "query", {"enum": [24, 168]}, "forecast horizon in hours (default 24)")
_AT = _param("at", "query", _INT, "the newest run issued at or before this time (unix s); default: the latest")
_KPI_PERIOD = _param("period", "query", {"enum": ["month", "day"]}, "a local month (default) or day")
_KPI_DATE = _param(
    "date",
    "query",
    {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])(-[0-3][0-9])?$"},
    "YYYY-MM for a month, YYYY-MM-DD for a day, in the community's time zone (default: now's)",
)
_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_DECIMAL = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
_TARIFF_WEEK = {
    "type": "object",
    "properties": {
        "from": _INT,
        "to": _INT,
        "intervalSeconds": _INT,
        "versions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "version": _INT,
                    "scheduleHash": _STR,
                    "effectiveFrom": _INT,
                    "effectiveFromTime": _INT,
                    "flat": {"type": "boolean"},
                    "name": _NULLABLE_STR,
                    "timeZone": _NULLABLE_STR,
                    "fileFound": {"type": "boolean"},
                    "bands": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "index": _INT,
                                "name": _STR,
                                "feedInPrice": _INT,
                                "retailPrice": _INT,
                                "prices": {
                                    "type": ["object", "null"],
                                    "properties": {
                                        k: _DECIMAL for k in ("retailImport", "feedIn", "gridAccess", "gridCharges")
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
        "hours": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"start": _INT, "version": _NULLABLE_INT, "band": _NULLABLE_INT},
            },
        },
    },
}
_KPI_ANSWER = {
    "type": "object",
    "properties": {
        "period": {"enum": ["month", "day"]},
        "date": _STR,
        "timeZone": _STR,
        "final": {"type": "boolean"},
        "intervals": _INT,
        "households": _INT,
        "note": _STR,
        "kpis": {
            "type": ["object", "null"],
            "properties": {
                "selfSufficiency": _SHARE,
                "selfConsumption": _SHARE,
                **{
                    name: _INT
                    for name in ("consumedWh", "producedWh", "boughtWh", "soldWh", "gridImportWh", "gridExportWh")
                },
                "peakImportKw": _DECIMAL,
                "co2AvoidedKg": _DECIMAL,
                **{name: {"type": ["string", "null"]} for name in ("billWithEur", "billWithoutEur", "savingEur")},
            },
        },
    },
}
_STATEMENT_MONTH = _param(
    "month",
    "path",
    {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"},
    "the local month, YYYY-MM, in the community's time zone",
)
_LANG = _param("lang", "query", {"enum": ["es", "en"]}, "the statement's language (default: Accept-Language)")
_BINARY = {"type": "string", "format": "binary"}
_ALPHA = _param(
    "alpha",
    "query",
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
    "the household's shortfall rate: each suggested order's amount is what it has (sell) or lacks (buy) with "
    "probability 1 - alpha (default 0.1)",
)
_PAST = _param(
    "past",
    "query",
    {"type": "integer", "minimum": 0, "maximum": 168},
    "also return the actual Wh of this many hours before the run (default 0)",
)


def _op(
    summary: str,
    *,
    tags: list[str],
    params: list[dict] | None = None,
    body: dict | None = None,
    auth: str | None = None,
    errors: tuple[int, ...] = (400,),
    response: dict | None = None,
    media: str = "application/json",
) -> dict:
    description = {
        "household": "Signed in as this household, or as the admin; or, for a GET, this household's "
        "read-only API token (Authorization: Bearer).",
        "self": "Signed in with this household's own wallet (not with a token).",
        "user": "Signed in.",
        "admin": "Signed in as the registry's admin.",
        None: "Public.",
    }[auth]
    operation: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "tags": tags,
        "parameters": params or [],
        "responses": {"200": {"description": "OK", "content": {media: {"schema": response or {"type": "object"}}}}},
    }
    if auth is not None:
        operation["security"] = [{"session": []}, {"householdToken": []}] if auth == "household" else [{"session": []}]
        errors = (*errors, 401, 403) if auth != "user" else (*errors, 401)
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        errors = (*errors, 403, 415, 429)  # 403 cross_origin: a write from another site's page
    for status in sorted(set(errors)):
        operation["responses"][str(status)] = _ERROR
    return operation


def _obj(**properties: Any) -> dict:
    return {"type": "object", "properties": properties}


def _body(required: tuple[str, ...], **fields: tuple[dict, str] | tuple[dict, str, int]) -> dict:
    """A request body: each field's schema with the error (code, status) a value of the wrong JSON type gets."""
    properties = {}
    for name, (schema, code, *status) in fields.items():
        properties[name] = {**schema, "x-error": {"code": code, "status": status[0] if status else 400}}
    return {"type": "object", "required": list(required), "properties": properties}


def _page(item: dict) -> dict:
    return _obj(items={"type": "array", "items": item}, nextCursor={"type": ["integer", "string", "null"]})


def openapi_spec() -> dict:
    """Return the OpenAPI document."""
    point = {"$ref": "#/components/schemas/SeriesPoint"}
    user = {"$ref": "#/components/schemas/User"}
    transaction = {"$ref": "#/components/schemas/Transaction"}
    paths: dict[str, dict] = {
        "/api/health": {
            "get": _op(
                "Each part's status: database, chain head, broker, Redis, settler leader, lag", tags=["meta"], errors=()
            )
        },
        "/api/openapi.json": {"get": _op("This description", tags=["meta"], errors=())},
        "/api/docs": {
            "get": _op(
                "A page that renders this description", tags=["meta"], errors=(), media="text/html", response=_STR
            )
        },
        "/api/auth/nonce": {
            "get": _op(
                "Issue a single-use sign-in nonce (expires) and the fields the EIP-4361 message must carry",
                tags=["auth"],
                errors=(429, 503),
                response=_obj(
                    nonce=_STR,
                    domain=_STR,
                    uri=_STR,
                    version=_STR,
                    chainId=_INT,
                    statement=_STR,
                    issuedAt=_STR,
                    expirationTime=_STR,
                ),
            )
        },
        "/api/auth/verify": {
            "post": _op(
                "Verify a signed EIP-4361 message and open a session (HttpOnly, SameSite=Lax cookie)",
                tags=["auth"],
                errors=(400, 401, 503),
                body=_body(
                    ("message", "signature"),
                    message=(
                        {"type": "string", "description": "the EIP-4361 text the wallet signed"},
                        "invalid_message",
                    ),
                    signature=({"type": "string", "description": "0x + 65 bytes, personal_sign"}, "bad_signature", 401),
                ),
                response=user,
            )
        },
        "/api/auth/logout": {
            "post": _op(
                "End the session (a body, if any, must be JSON)",
                tags=["auth"],
                errors=(403, 415, 429),
                response=_obj(signedIn={"type": "boolean"}),
            )
        },
        "/api/auth/me": {
            "get": _op(
                "The signed-in wallet and its roles; {signedIn: false} (200, not an error) when no one is signed in",
                tags=["auth"],
                errors=(),
                response={
                    "oneOf": [
                        user,
                        {
                            "type": "object",
                            "required": ["signedIn"],
                            "additionalProperties": False,
                            "properties": {"signedIn": {"const": False}},
                        },
                    ]
                },
            )
        },
        "/api/community/summary": {
            "get": _op(
                "Dashboard numbers: power now, the current interval's totals, average consumption, energy for sale, "
                "forecast totals for the next 24 h and 7 days (cached a few seconds)",
                tags=["community"],
                errors=(),
                response={"$ref": "#/components/schemas/Summary"},
            )
        },
        "/api/community/readings": {
            "get": _op(
                "Community energy per bucket (from closed intervals when aligned, else from readings)",
                tags=["readings"],
                params=[
                    _FROM,
                    _TO,
                    _RESOLUTION,
                    _param(
                        "source", "query", {"enum": ["auto", "intervals", "readings"]}, "where the numbers come from"
                    ),
                ],
                response=_obj(points={"type": "array", "items": point}, source=_STR),
            )
        },
        "/api/community/forecast": {
            "get": _op(
                "The community's own forecast (load, pv): P10/P50/P90 Wh per hour, with the actual Wh of hours "
                "already over; `at` picks an older run (real against predicted)",
                tags=["forecasts"],
                params=[_HORIZON, _AT, _PAST],
                response={"$ref": "#/components/schemas/ForecastRun"},
            )
        },
        "/api/community/outlook": {
            "get": _op(
                "Forecast surplus and deficit per hour (P50, per household, not netted), energy for sale, and the "
                "households expected to be short, most short first (public: a household's metered energy is "
                "on-chain anyway)",
                tags=["forecasts"],
                params=[
                    _HORIZON,
                    _param(
                        "limit",
                        "query",
                        {"type": "integer", "minimum": 1},
                        "at most this many short households (default 100, at most 500)",
                    ),
                ],
                response={"$ref": "#/components/schemas/Outlook"},
            )
        },
        "/api/households/{address}/forecast": {
            "get": _op(
                "A household's forecast (load, and pv for a prosumer) with its actual Wh",
                tags=["forecasts"],
                params=[_HOUSEHOLD, _HORIZON, _AT, _PAST],
                auth="household",
                response={"$ref": "#/components/schemas/ForecastRun"},
            )
        },
        "/api/households/{address}/recommendations": {
            "get": _op(
                "A household's forecast net position, sell and buy windows (Wh) with limit price hints, and the "
                "orders they suggest (ready for /api/market/orders/preview)",
                tags=["forecasts"],
                params=[_HOUSEHOLD, _HORIZON, _ALPHA],
                auth="household",
                errors=(400, 503),
                response={"$ref": "#/components/schemas/Recommendations"},
            )
        },
        "/api/households": {
            "get": _op(
                "Every registered household (from the registry's events), ordered by address; "
                "hasReading is false until its meter's first accepted reading",
                tags=["community"],
                params=[_LIMIT, _param("cursor", "query", _ADDRESS, "previous nextCursor")],
                response=_page(
                    _obj(
                        address=_ADDRESS,
                        meter=_ADDRESS,
                        capacityW=_INT,
                        active={"type": "boolean"},
                        hasReading={"type": "boolean"},
                    )
                ),
            ),
        },
        "/api/households/{address}": {
            "get": _op(
                "One household: meter, live power, balances, recent intervals, the meter's source, last reading and "
                "bridge status (its KPIs and savings: /api/households/{address}/kpis)",
                tags=["community"],
                params=[_HOUSEHOLD],
                auth="household",
                errors=(400, 404),
                response=_obj(meter=_STR, meterStatus={"$ref": "#/components/schemas/MeterStatus"}),
            )
        },
        "/api/households/{address}/readings": {
            "get": _op(
                "A household's energy per bucket, or its raw signed readings page by page (resolution=raw)",
                tags=["readings"],
                params=[_HOUSEHOLD, _FROM, _TO, _RESOLUTION, *_PAGE],
                auth="household",
                response=_obj(
                    points={"type": "array", "items": point},
                    items={"type": "array", "items": {"$ref": "#/components/schemas/Reading"}},
                    nextCursor={"type": ["integer", "null"]},
                ),
            )
        },
        "/api/households/{address}/readings.csv": {
            "get": _op(
                "CSV export of a household's raw readings in a range (at most 7 days)",
                tags=["readings"],
                params=[_HOUSEHOLD, _FROM, _TO],
                auth="household",
                media="text/csv",
                response=_STR,
            )
        },
        "/api/households/{address}/intervals": {
            "get": _op(
                "A household's metered energy and settlement per interval, newest first",
                tags=["community"],
                params=[_HOUSEHOLD, *_PAGE],
                auth="household",
            )
        },
        "/api/households/{address}/fills": {
            "get": _op(
                "A household's fills, newest first",
                tags=["market"],
                params=[_HOUSEHOLD, *_PAGE],
                auth="household",
                response=_page({"$ref": "#/components/schemas/Fill"}),
            )
        },
        "/api/households/{address}/orders": {
            "get": _op(
                "A household's orders",
                tags=["market"],
                auth="household",
                params=[_HOUSEHOLD, _param("status", "query", {"enum": ["open", "all"]}, "default open")],
                response=_obj(items={"type": "array", "items": {"$ref": "#/components/schemas/Order"}}),
            )
        },
        "/api/households/{address}/tokens": {
            "get": _op(
                "The household's read-only API tokens (never the tokens themselves), newest first",
                tags=["tokens"],
                params=[_HOUSEHOLD],
                auth="self",
                response=_obj(items={"type": "array", "items": {"$ref": "#/components/schemas/HouseholdToken"}}),
            ),
            "post": _op(
                "Make a read-only API token for the household; the token is in this answer only "
                "(Cache-Control: no-store)",
                tags=["tokens"],
                params=[_HOUSEHOLD],
                auth="self",
                errors=(400, 409),
                body=_body((), label=({"type": "string", "maxLength": 100}, "invalid_label")),
                response={
                    "allOf": [
                        {"$ref": "#/components/schemas/HouseholdToken"},
                        _obj(household=_ADDRESS, token={"type": "string", "pattern": "^vatio_hh_"}),
                    ]
                },
            ),
        },
        "/api/households/{address}/tokens/{token_id}": {
            "delete": _op(
                "Revoke one of the household's API tokens",
                tags=["tokens"],
                params=[_HOUSEHOLD, _TOKEN_ID],
                auth="self",
                errors=(400, 404, 415, 429),
                response=_obj(revoked=_INT),
            )
        },
        "/api/households/{address}/statements": {
            "get": _op(
                "The household's monthly statements (months with closed settlements under a tariff schedule), newest "
                "first, with the total, the total without the community and the saving in EUR (decimal strings)",
                tags=["statements"],
                params=[_HOUSEHOLD],
                auth="household",
                errors=(400, 503),
                response=_obj(
                    items={
                        "type": "array",
                        "items": _obj(
                            month=_STR,
                            final={"type": "boolean"},
                            intervals=_INT,
                            totalEur=_STR,
                            withoutCommunityEur=_STR,
                            savingEur=_STR,
                            pdf=_STR,
                            csv=_STR,
                        ),
                    },
                    timeZone=_STR,
                    note=_STR,
                ),
            )
        },
        "/api/households/{address}/statements/{month}.pdf": {
            "get": _op(
                "The month's statement as a PDF (attachment), generated on demand, in `lang` or else the request's "
                "Accept-Language (es or en); 404 when the household has no billed interval that month",
                tags=["statements"],
                params=[_HOUSEHOLD, _STATEMENT_MONTH, _LANG],
                auth="household",
                errors=(400, 404, 503),
                media="application/pdf",
                response=_BINARY,
            )
        },
        "/api/households/{address}/statements/{month}.csv": {
            "get": _op(
                "The month's statement as CSV (attachment): one line per band and component, with and without the "
                "community, the KPIs and the settled intervals with their transactions (what vatio audit --statements "
                "re-derives)",
                tags=["statements"],
                params=[_HOUSEHOLD, _STATEMENT_MONTH],
                auth="household",
                errors=(400, 404, 503),
                media="text/csv",
                response=_STR,
            )
        },
        "/api/households/{address}/kpis": {
            "get": _op(
                "The household's KPIs (docs/kpis.md) for a local month (default: this month so far) or day: "
                "self-sufficiency, self-consumption, community purchases and sales, grid import and export, peak "
                "15-minute import, CO2 avoided, and the bill with the community against without it",
                tags=["statements"],
                params=[_HOUSEHOLD, _KPI_PERIOD, _KPI_DATE],
                auth="household",
                errors=(400, 503),
                response=_KPI_ANSWER,
            )
        },
        "/api/community/kpis": {
            "get": _op(
                "The community's KPIs for a local month (default: this month so far) or day: its members' "
                "quantities and bills summed, the peak their coincident 15-minute import (cached a minute)",
                tags=["statements"],
                params=[_KPI_PERIOD, _KPI_DATE],
                errors=(400, 503),
                response=_KPI_ANSWER,
            )
        },
        "/api/tariffs/week": {
            "get": _op(
                "A week of hours from `from` (default: now, to the hour), each with the tariff version in force at its "
                "start and its band index (from the version's schedule file; null where this server lacks the file or "
                "the hour is outside its years), and those versions with each band's on-chain bounds and the file's "
                "prices (docs/tariffs.md)",
                tags=["community"],
                params=[_param("from", "query", _INT, "the first hour, unix seconds (rounded down to the hour)")],
                errors=(400, 503),
                response=_TARIFF_WEEK,
            )
        },
        "/api/intervals": {
            "get": _op(
                "Intervals, newest first",
                tags=["settlements"],
                params=[
                    *_PAGE,
                    _param("status", "query", {"enum": ["open", "closed", "settling", "settled"]}, "only this status"),
                ],
                response=_page({"$ref": "#/components/schemas/Interval"}),
            )
        },
        "/api/intervals/{interval_id}": {
            "get": _op(
                "One interval: the oracle's record, its totals, the on-chain root and settlement events",
                tags=["settlements"],
                params=[_INTERVAL],
                errors=(400, 404),
            )
        },
        "/api/intervals/{interval_id}/archive": {
            "get": _op(
                "The readings archive document of a settled interval, exactly as published (docs/settlement.md)",
                tags=["settlements"],
                params=[_INTERVAL],
                errors=(400, 404),
            )
        },
        "/api/intervals/{interval_id}/proof/{address}": {
            "get": _op(
                "One household's leaf and Merkle proof, checked against the archive's and the chain's root",
                tags=["settlements"],
                params=[_INTERVAL, _HOUSEHOLD],
                errors=(400, 404),
            )
        },
        "/api/market/orders": {
            "get": _op(
                "Open orders (not closed, not expired, energy left), newest first",
                tags=["market"],
                params=[
                    *_PAGE,
                    _param("side", "query", {"enum": ["bid", "ask"]}, "only this side"),
                    _param("owner", "query", _ADDRESS, "only this owner"),
                ],
                response=_page({"$ref": "#/components/schemas/Order"}),
            )
        },
        "/api/market/book": {
            "get": _op(
                "The order book by price level: bids highest first, asks lowest first",
                tags=["market"],
                errors=(),
                response=_obj(
                    intervalId=_INT,
                    bids={"type": "array", "items": {"$ref": "#/components/schemas/Level"}},
                    asks={"type": "array", "items": {"$ref": "#/components/schemas/Level"}},
                ),
            )
        },
        "/api/market/clearing": {
            "get": _op("Clearing price and volumes per settled interval, newest first", tags=["market"], params=_PAGE)
        },
        "/api/market/orders/preview": {
            "post": _op(
                "Check an order (price within the tariffs, amount, window, balance) and return the transactions "
                "to sign: approve, then placeOrder",
                tags=["market"],
                auth="user",
                errors=(400, 403, 503),
                body=_body(
                    ("side", "limitPrice", "amountWh"),
                    side=({"enum": ["bid", "ask"]}, "invalid_parameter"),
                    limitPrice=(_INT, "invalid_price"),
                    amountWh=(_INT, "invalid_amount"),
                    validFrom=(_INT, "invalid_window"),
                    validTo=(_INT, "invalid_window"),
                ),
                response=_obj(transactions={"type": "array", "items": transaction}),
            )
        },
        "/api/admin/households": {
            "post": _op(
                "The registerHousehold transaction for the admin's wallet",
                tags=["admin"],
                auth="admin",
                errors=(400, 409, 503),
                body=_body(
                    ("wallet", "meter", "capacityW"),
                    wallet=(_ADDRESS, "invalid_address"),
                    meter=(_ADDRESS, "invalid_address"),
                    capacityW=(_INT, "invalid_amount"),
                ),
                response=_obj(transaction=transaction),
            )
        },
        "/api/admin/tariffs": {
            "post": _op(
                "The setTariffs transaction for the admin's wallet",
                tags=["admin"],
                auth="admin",
                errors=(400, 503),
                body=_body(
                    ("retailPrice", "feedInPrice"),
                    retailPrice=(_INT, "invalid_price"),
                    feedInPrice=(_INT, "invalid_price"),
                ),
                response=_obj(transaction=transaction),
            )
        },
        "/api/admin/tariff-schedules": {
            "post": _op(
                "Check a tariff schedule file as `vatio tariff add` does (its shape and meaning, a start in the future "
                "by the chain's clock, not the newest version's file, years covering the calendar) and return the "
                "addTariffVersion and setBandCalendar transactions for the admin's wallet, in order, with the week "
                "from its start; the file is kept under its hash (VATIO_TARIFFS_DIR). A refused file answers 400 "
                "invalid_schedule with every problem in details.problems, and nothing changes",
                tags=["admin"],
                auth="admin",
                errors=(400, 503),
                body=_body(
                    ("schedule",),
                    schedule=(_STR, "invalid_schedule"),
                    fromInterval=(_INT, "invalid_parameter"),
                    calendarDays=(_INT, "invalid_parameter"),
                ),
                response=_obj(
                    schedule=_obj(name=_STR, version=_INT, timeZone=_STR, validFrom=_STR, hash=_STR),
                    version=_INT,
                    effectiveFrom=_INT,
                    effectiveFromTime=_INT,
                    calendar={
                        "type": ["object", "null"],
                        "properties": {"firstDay": _INT, "lastDay": _INT, "days": _INT},
                    },
                    stored={"type": "boolean"},
                    transactions={
                        "type": "array",
                        "items": _obj(
                            function={"enum": ["addTariffVersion", "setBandCalendar"]},
                            firstDay=_INT,
                            days=_INT,
                            transaction=transaction,
                        ),
                    },
                    week=_TARIFF_WEEK,
                ),
            )
        },
        "/api/admin/meters/{address}/credentials": {
            "post": _op(
                "Create or rotate a meter's broker login (as `vatio meter credentials`) and tell the broker to reread "
                "it; the password is in this answer only (Cache-Control: no-store). 409 when this server manages no "
                "broker auth folder (VATIO_BROKER_AUTH_DIR)",
                tags=["admin"],
                params=[_METER],
                auth="admin",
                errors=(400, 409, 503),
                body=_body(()),
                response=_obj(
                    meter=_ADDRESS,
                    username=_STR,
                    password=_STR,
                    rotated={"type": "boolean"},
                    community=_STR,
                    topic=_STR,
                    brokerReloaded={"type": "boolean"},
                ),
            )
        },
        "/api/admin/rejections": {
            "get": _op(
                "The oracle's rejections: counts per reason and the latest messages",
                tags=["admin"],
                auth="admin",
                params=_PAGE,
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vatio API",
            "version": "1",
            "description": (
                "Energy community: readings, settlements, market. Units: energy in integer Wh, times in unix "
                "seconds (UTC), prices in payment base units per kWh (6 decimals). Errors are "
                '{"error": {"code", "message"}}. Live events: Socket.IO on the same origin (rooms community, '
                "household:<address>, admin; events reading, interval_settled, fill, order_book, forecast, "
                "rejection, bridge_status)."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "vatio_session",
                    "description": "set by POST /api/auth/verify",
                },
                "householdToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a household's read-only API token (GET only)",
                },
            },
            "responses": {
                "Error": {
                    "description": "an error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "schemas": {
                "Error": _obj(error=_obj(code=_STR, message=_STR, details={"type": "object"})),
                "User": _obj(
                    signedIn={"const": True},
                    address=_ADDRESS,
                    roles={"type": "array", "items": _STR},
                    household={"type": "boolean"},
                    active={"type": "boolean"},
                    admin={"type": "boolean"},
                    chainId=_INT,
                    signedInAt=_INT,
                ),
                "SeriesPoint": _obj(
                    start=_INT,
                    producedWh={"type": ["integer", "null"]},
                    consumedWh={"type": ["integer", "null"]},
                    surplusWh={"type": ["integer", "null"]},
                    deficitWh={"type": ["integer", "null"]},
                    readings={"type": ["integer", "null"]},
                    powerW={"type": ["integer", "null"]},
                ),
                "Reading": _obj(
                    meter=_ADDRESS, seq=_INT, ts=_INT, producedWh=_INT, consumedWh=_INT, powerW=_INT, signature=_STR
                ),
                # Until it closes an interval has no root; until it settles, no price, transaction or block.
                "Interval": _obj(
                    intervalId=_INT,
                    start=_INT,
                    end=_INT,
                    status={"enum": ["open", "closed", "settling", "settled"]},
                    readingsRoot=_NULLABLE_STR,
                    clearingPrice=_NULLABLE_INT,
                    closedAt=_NULLABLE_INT,
                    settledTx=_NULLABLE_STR,
                    settledBlock=_NULLABLE_INT,
                    households=_INT,
                ),
                "Order": _obj(
                    orderId=_INT,
                    owner=_ADDRESS,
                    side={"enum": ["bid", "ask"]},
                    limitPrice=_INT,
                    amountWh=_INT,
                    filledWh=_INT,
                    remainingWh=_INT,
                    validFrom=_INT,
                    validTo=_INT,
                    escrow=_INT,
                    closed={"type": "boolean"},
                ),
                "Level": _obj(price=_INT, amountWh=_INT, orders=_INT),
                "Fill": _obj(
                    intervalId=_INT,
                    orderId=_INT,
                    auto={"type": "boolean"},
                    side=_STR,
                    amountWh=_INT,
                    value=_INT,
                    txHash=_STR,
                ),
                "Transaction": _obj(chainId=_INT, to=_ADDRESS, data=_STR, value=_STR, description=_STR),
                "ForecastRun": _obj(
                    household={"type": ["string", "null"]},
                    asOf=_INT,
                    issuedAt={"type": ["integer", "null"]},
                    horizonH=_INT,
                    series={
                        "type": "array",
                        "items": _obj(
                            household={"type": ["string", "null"]},
                            kind={"enum": ["load", "pv"]},
                            modelVersion=_STR,
                            servedModel=_STR,
                            usesWeather={
                                "type": "boolean",
                                "description": "whether a weather forecast fed the values (only an LSTM trained "
                                "with weather does; a database run serves none today)",
                            },
                            hourStarts=_INTS,
                            p10Wh=_INTS,
                            p50Wh=_INTS,
                            p90Wh=_INTS,
                            actualWh={"type": "array", "items": {"type": ["integer", "null"]}},
                        ),
                    },
                    past={
                        "type": ["object", "null"],
                        "properties": {
                            "hourStarts": _INTS,
                            "consumedWh": _NULLABLE_INTS,
                            "producedWh": _NULLABLE_INTS,
                            "forecast": {
                                "type": "array",
                                "description": "per kind, what the newest run issued at or before each past hour "
                                "predicted for it (hours no run had forecast yet are left out)",
                                "items": _obj(
                                    kind={"enum": ["load", "pv"]},
                                    hourStarts=_INTS,
                                    issuedAt=_INTS,
                                    p10Wh=_INTS,
                                    p50Wh=_INTS,
                                    p90Wh=_INTS,
                                ),
                            },
                        },
                    },
                ),
                "Outlook": _obj(
                    issuedAt={"type": ["integer", "null"]},
                    horizonH=_INT,
                    asOf=_INT,
                    hourStarts=_INTS,
                    surplusWh=_INTS,
                    deficitWh=_INTS,
                    availableForSaleWh=_INT,
                    totalDeficitWh=_INT,
                    shortHouseholds={
                        "type": "array",
                        "items": _obj(
                            household=_ADDRESS,
                            totalDeficitWh=_INT,
                            hours={"type": "array", "items": _obj(start=_INT, deficitWh=_INT)},
                        ),
                    },
                    shortHouseholdsTotal=_INT,
                ),
                "Recommendations": _obj(
                    household=_ADDRESS,
                    issuedAt={"type": ["integer", "null"]},
                    horizonH=_INT,
                    asOf=_INT,
                    alpha={"type": "number", "description": "the shortfall rate the advice used"},
                    advice={
                        "type": ["object", "null"],
                        "properties": {
                            "household": _STR,
                            "hourStarts": _INTS,
                            "netP50Wh": _INTS,
                            "netLowWh": _INTS,
                            "netHighWh": _INTS,
                            "sellWindows": {"type": "array", "items": {"$ref": "#/components/schemas/TradeWindow"}},
                            "buyWindows": {"type": "array", "items": {"$ref": "#/components/schemas/TradeWindow"}},
                            "sellLimitPricePerKwh": _INT,
                            "buyLimitPricePerKwh": _INT,
                        },
                    },
                    orders={
                        "type": "array",
                        "items": _obj(
                            side={"enum": ["bid", "ask"]},
                            limitPrice=_INT,
                            amountWh=_INT,
                            validFrom=_INT,
                            validTo=_INT,
                            window=_obj(start=_INT, end=_INT),
                            value={
                                "type": "integer",
                                "description": "what the order is worth against the grid if it fills at its limit "
                                "price, base units: a sale's (limit - feed-in) or a purchase's (retail - limit) "
                                "times amountWh / 1000",
                            },
                        ),
                    },
                    tariffs={
                        "type": ["object", "null"],
                        "properties": {
                            "feedInPrice": _INT,
                            "retailPrice": _INT,
                            "source": {"enum": ["chain", "deployment"]},
                        },
                    },
                ),
                "HouseholdToken": _obj(id=_INT, label=_STR, createdAt=_INT, lastUsedAt=_NULLABLE_INT),
                "TradeWindow": _obj(
                    side={"enum": ["sell", "buy"]}, start=_INT, end=_INT, energyWh=_INT, confidentWh=_INT
                ),
                "ForecastTotals": {
                    "type": ["object", "null"],
                    "properties": {
                        "issuedAt": _INT,
                        "from": _INT,
                        "to": _INT,
                        "hours": _INT,
                        "consumedWh": _obj(p10=_INT, p50=_INT, p90=_INT),
                        "producedWh": _obj(p10=_INT, p50=_INT, p90=_INT),
                        "surplusWh": _INT,
                        "deficitWh": _INT,
                        "shortHouseholds": _INT,
                    },
                },
                "MeterStatus": {
                    **_obj(
                        source={
                            "type": ["string", "null"],
                            "description": "p1, sml, shelly, homeassistant (the bridge's), simulator, or null: "
                            "unknown, no bridge status",
                        },
                        lastReadingTs=_NULLABLE_INT,
                        lastReadingAgeS={"type": ["integer", "null"], "minimum": 0},
                        bridge={
                            "oneOf": [
                                {"type": "null"},
                                {
                                    **_obj(
                                        problems={
                                            "type": "object",
                                            "additionalProperties": {"type": "integer", "minimum": 0},
                                        },
                                        halted=_NULLABLE_STR,
                                        brokerError=_NULLABLE_STR,
                                        queueDepth=_INT,
                                        statusTs=_INT,
                                    ),
                                    "required": ["problems", "halted", "brokerError", "queueDepth", "statusTs"],
                                },
                            ]
                        },
                    ),
                    "required": ["source", "lastReadingTs", "lastReadingAgeS", "bridge"],
                },
                "Summary": _obj(
                    asOf=_INT,
                    intervalSeconds=_INT,
                    households=_INT,
                    reporting=_INT,
                    now=_obj(productionW=_INT, consumptionW=_INT, surplusW=_INT, deficitW=_INT),
                    currentInterval=_obj(
                        intervalId=_INT,
                        start=_INT,
                        end=_INT,
                        producedWh=_INT,
                        consumedWh=_INT,
                        surplusWh=_INT,
                        deficitWh=_INT,
                    ),
                    # null when no meter has readings 24 h apart (nothing to average)
                    averageConsumption=_obj(
                        households=_INT, perHouseholdWh24h=_NULLABLE_INT, perHouseholdW=_NULLABLE_INT
                    ),
                    availableForSale=_obj(
                        openAsksWh=_INT,
                        openAsks=_INT,
                        creditsWh={"type": ["integer", "null"]},
                        totalWh={"type": ["integer", "null"]},
                    ),
                    # the chain's newest IntervalSettled (as /api/market/clearing's first item);
                    # clearingPrice 0 and tradedWh 0 when nothing traded
                    lastSettled={
                        "oneOf": [
                            {"allOf": [{"$ref": "#/components/schemas/Interval"}, _obj(tradedWh=_INT)]},
                            {"type": "null"},
                        ]
                    },
                    # settlement against the wall clock: replaying while it is several intervals behind
                    catchUp=_obj(
                        settled=_INT,
                        total=_INT,
                        behind=_INT,
                        lastSettledStart={"type": ["integer", "null"]},
                        replaying={"type": "boolean"},
                    ),
                    forecast=_obj(
                        next24h={"$ref": "#/components/schemas/ForecastTotals"},
                        next7d={"$ref": "#/components/schemas/ForecastTotals"},
                    ),
                ),
            },
        },
    }


@cache
def _request_bodies() -> dict[tuple[str, str], dict]:
    return {
        (path, method.upper()): operation["requestBody"]["content"]["application/json"]["schema"]
        for path, item in openapi_spec()["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }


def request_body_schema(rule: str, method: str) -> dict:
    """Return the JSON schema of the body of a Flask route (its rule, e.g. /api/x/<id>) and method; {} if none."""
    path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
    return _request_bodies().get((path, method.upper()), {})


@bp.get("/openapi.json")
def spec():
    """Serve the OpenAPI description."""
    return jsonify(openapi_spec())


_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vatio API</title>
<style>
 body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1d2a22}
 h1{margin:.2rem 0} .op{border:1px solid #cfd8d2;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
 .m{display:inline-block;min-width:3.6rem;font-weight:700;text-transform:uppercase}
 .get{color:#1f6f43}.post{color:#8a4b00} code{background:#f1f4f2;padding:0 .25rem;border-radius:3px}
 table{border-collapse:collapse;margin:.3rem 0}td,th{border-bottom:1px solid #e4e9e6;padding:.15rem .5rem;
 text-align:left;vertical-align:top} .d{color:#55635a} h2{margin-top:1.6rem;text-transform:capitalize}
 code,td{overflow-wrap:anywhere} table{max-width:100%}
</style></head>
<body><h1>Vatio API</h1><p class="d" id="intro">Loading <a href="openapi.json">openapi.json</a>...</p>
<div id="ops"></div>
<script>
fetch("openapi.json").then(r => r.json()).then(spec => {
  const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
  document.getElementById("intro").textContent = spec.info.description;
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[op.tags[0]] ??= []).push([path, method, op]);
  let html = "";
  for (const [tag, ops] of Object.entries(byTag)) {
    html += `<h2>${esc(tag)}</h2>`;
    for (const [path, method, op] of ops) {
      const params = (op.parameters || []).map(p =>
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}${p.required ? ", required" : ""}</td>` +
        `<td>${esc(p.description)}</td></tr>`).join("");
      const body = op.requestBody ? Object.keys(op.requestBody.content["application/json"].schema.properties || {})
        .map(k => `<code>${esc(k)}</code>`).join(" ") : "";
      html += `<div class="op"><span class="m ${method}">${method}</span> <code>${esc(path)}</code>` +
        `<div>${esc(op.summary)}</div><div class="d">${esc(op.description)} Responses: ` +
        `${Object.keys(op.responses).join(", ")}.</div>` +
        (params ? `<table><tr><th>parameter</th><th>in</th><th></th></tr>${params}</table>` : "") +
        (body ? `<div>JSON body: ${body}</div>` : "") + `</div>`;
    }
  }
  document.getElementById("ops").innerHTML = html;
});
</script></body></html>
"""


def _inline_hash(tag: str) -> str:
    """The CSP source that allows exactly the page's one inline <script> or <style> block."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", _DOCS_PAGE, re.DOTALL)
    assert match is not None, tag
    return "'sha256-" + base64.b64encode(hashlib.sha256(match[1].encode()).digest()).decode() + "'"


_DOCS_SCRIPT, _DOCS_STYLE = _inline_hash("script"), _inline_hash("style")


@bp.get("/docs")
def docs():
    """Serve the docs page (self-contained; no CDN), its inline script and style allowed by hash alone."""
    from backend.web.security import content_security_policy

    response = Response(_DOCS_PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = content_security_policy(
        script_src=_DOCS_SCRIPT, style_src=_DOCS_STYLE
    )
    return response
