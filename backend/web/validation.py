"""Checking what a client sends: addresses, ids, amounts, prices, time ranges, pages.

Each parser returns a clean value or raises ApiError(400) naming the field,
before anything is read or written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import is_checksum_address, to_checksum_address
from flask import request

from backend.db.types import MAX_STORED_INT
from backend.protocol.json_depth import nests_deeper_than
from backend.web.errors import ApiError

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_UINT64",
    "Page",
    "TimeRange",
    "check_json_depth",
    "json_body",
    "parse_address",
    "parse_amount_wh",
    "parse_int",
    "parse_interval_id",
    "parse_page",
    "parse_price",
    "parse_time_range",
]

MAX_UINT64 = 2**64 - 1
# No request body of this API nests deeper than 3; Python's JSON parser recurses, so depth is bounded before it runs.
MAX_JSON_DEPTH = 32
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DECIMAL = re.compile(r"-?[0-9]{1,30}")
# Named resolutions of a time series, in seconds; any whole number of seconds works too.
RESOLUTIONS = {"raw": 0, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}


def parse_address(value: Any, field: str = "address", *, allow_zero: bool = True) -> str:
    """Return the EIP-55 form of a 0x address; a mixed-case address must carry a valid checksum.

    `allow_zero=False` refuses 0x000...0, which no key controls (a new household or meter must be a real key).
    """
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ApiError(400, "invalid_address", f"{field} must be a 0x-prefixed 20-byte hex address")
    hex_part = value[2:]
    if hex_part != hex_part.lower() and hex_part != hex_part.upper() and not is_checksum_address(value):
        raise ApiError(400, "invalid_address", f"{field} has a wrong EIP-55 checksum (mixed case)")
    if not allow_zero and int(hex_part, 16) == 0:
        raise ApiError(400, "invalid_address", f"{field} must not be the zero address: no key controls it")
    return to_checksum_address(value)


def parse_int(
    value: Any, field: str, *, minimum: int = 0, maximum: int = MAX_STORED_INT, code: str = "invalid_parameter"
) -> int:
    """Return an integer given as a JSON integer or a decimal string, within [minimum, maximum]."""
    if isinstance(value, bool):
        raise ApiError(400, code, f"{field} must be an integer")
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise ApiError(400, code, f"{field} must be an integer")
    if not minimum <= value <= maximum:
        raise ApiError(400, code, f"{field} must be between {minimum} and {maximum}, got {value}")
    return value


def parse_interval_id(value: Any) -> int:
    """Return an interval id (a non-negative integer a database column holds)."""
    return parse_int(value, "intervalId", code="invalid_interval_id")


def parse_amount_wh(value: Any, field: str = "amountWh") -> int:
    """Return a positive energy amount in Wh that fits the contracts' uint64."""
    return parse_int(value, field, minimum=1, maximum=MAX_UINT64, code="invalid_amount")


def parse_price(value: Any, field: str = "price", *, minimum: int = 0, maximum: int = MAX_UINT64) -> int:
    """Return a price in payment base units per kWh within [minimum, maximum]."""
    price = parse_int(value, field, minimum=0, maximum=MAX_UINT64, code="invalid_price")
    if not minimum <= price <= maximum:
        raise ApiError(
            400,
            "invalid_price",
            f"{field} must be between {minimum} and {maximum} per kWh, got {price}",
            minimum=minimum,
            maximum=maximum,
        )
    return price


@dataclass(frozen=True)
class TimeRange:
    start: int  # unix seconds, inclusive
    end: int  # unix seconds, exclusive
    resolution_s: int  # 0 = raw readings

    @property
    def span_s(self) -> int:
        return self.end - self.start


def parse_time_range(
    args: Mapping[str, str],
    *,
    now: int,
    default_span_s: int,
    default_resolution: str,
    max_points: int,
    max_span_s: int,
    max_raw_span_s: int,
) -> TimeRange:
    """Read from/to (unix seconds) and resolution (raw, 1m, 5m, 15m, 1h, 1d or seconds) and enforce the limits."""
    end = parse_int(args["to"], "to", code="invalid_range") if "to" in args else now
    start = parse_int(args["from"], "from", code="invalid_range") if "from" in args else max(0, end - default_span_s)
    if start >= end:
        raise ApiError(400, "invalid_range", f"from ({start}) must be before to ({end})")
    name = args.get("resolution", default_resolution)
    if name in RESOLUTIONS:
        resolution = RESOLUTIONS[name]
    else:
        resolution = parse_int(name, "resolution", minimum=1, maximum=366 * 86400, code="invalid_resolution")
    span = end - start
    if resolution == 0:
        if span > max_raw_span_s:
            raise ApiError(
                400,
                "range_too_large",
                f"raw readings cover at most {max_raw_span_s} s per query, asked {span} s",
                maxSpanS=max_raw_span_s,
            )
    else:
        if span > max_span_s:
            raise ApiError(
                400, "range_too_large", f"a series covers at most {max_span_s} s, asked {span} s", maxSpanS=max_span_s
            )
        points = -(-span // resolution)
        if points > max_points:
            raise ApiError(
                400,
                "range_too_large",
                f"{points} points asked; at most {max_points}: shorten the range or coarsen the resolution",
                maxPoints=max_points,
            )
    return TimeRange(start=start, end=end, resolution_s=resolution)


@dataclass(frozen=True)
class Page:
    limit: int
    cursor: int | None  # exclusive bound of the keyset, as the previous page's nextCursor said


def parse_page(args: Mapping[str, str], *, default_limit: int, max_limit: int) -> Page:
    """Read limit and cursor (an integer from a previous page's nextCursor)."""
    limit = parse_int(
        args.get("limit", default_limit), "limit", minimum=1, maximum=max_limit, code="invalid_pagination"
    )
    cursor = args.get("cursor")
    if cursor is not None:
        cursor = parse_int(cursor, "cursor", code="invalid_pagination")
    return Page(limit=limit, cursor=cursor)


def check_json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ApiError(400, 'invalid_json') when arrays and objects in `raw` nest deeper than `limit`."""
    if nests_deeper_than(raw, limit):
        raise ApiError(400, "invalid_json", f"the body nests deeper than {limit} levels")


def json_body() -> dict[str, Any]:
    """Return the request's JSON object, its fields of the types the OpenAPI description gives them.

    415 for another media type; 400 for bad JSON, a non-object, or a field of the wrong JSON type (a string
    where the description says integer is refused, not converted).
    """
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    check_json_depth(request.get_data(cache=True))
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # cannot happen below the depth limit; kept so it never becomes a 500
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    _check_field_types(body, _body_schema())
    return body


def _body_schema() -> dict[str, Any]:
    from backend.web.openapi import request_body_schema

    rule = request.url_rule
    return {} if rule is None else request_body_schema(rule.rule, request.method)


def _check_field_types(body: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Refuse a field whose JSON type (or enum value) is not the description's, with the field's own error."""
    for name, field in schema.get("properties", {}).items():
        value = body.get(name)
        if value is None:
            continue  # missing or null: the field's own parser says what it needs
        error = field.get("x-error", {})
        status, code = error.get("status", 400), error.get("code", "invalid_parameter")
        if "enum" in field and value not in field["enum"]:
            raise ApiError(status, code, f"{name} must be one of {', '.join(str(c) for c in field['enum'])}")
        types = field.get("type")
        if types is None:
            continue
        allowed = (types,) if isinstance(types, str) else tuple(types)
        if _json_type(value) not in allowed:
            raise ApiError(status, code, f"{name} must be a JSON {' or '.join(allowed)}, got {_json_type(value)}")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    for name, python_types in _JSON_TYPES.items():
        if isinstance(value, python_types):
            return name
    return "number"
