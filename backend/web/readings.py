"""Readings history: per household (private) and for the community, over a time range at a resolution."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, jsonify, request

from backend.web.access import require_private_access
from backend.web.context import config, db, now
from backend.web.errors import ApiError
from backend.web.series import community_series_from_entries, meter_series, raw_readings
from backend.web.settlements import interval_seconds
from backend.web.validation import TimeRange, parse_address, parse_page, parse_time_range

__all__ = ["bp"]

bp = Blueprint("readings", __name__, url_prefix="/api")

DEFAULT_SPAN_S = 86400


def _time_range(default_resolution: str) -> TimeRange:
    settings = config()
    return parse_time_range(
        request.args,
        now=now() + 1,
        default_span_s=DEFAULT_SPAN_S,
        default_resolution=default_resolution,
        max_points=settings.max_series_points,
        max_span_s=settings.max_series_span_s,
        max_raw_span_s=settings.max_raw_span_s,
    )


@bp.get("/households/<address>/readings")
def household_readings(address: str):
    """Return a household's energy per bucket, or its raw signed readings page by page (resolution=raw)."""
    household = parse_address(address, "household")
    require_private_access(household)
    span = _time_range("15m")
    body = {"household": household, "from": span.start, "to": span.end, "resolution": span.resolution_s}
    if span.resolution_s == 0:
        settings = config()
        page = parse_page(request.args, default_limit=settings.default_page_size, max_limit=settings.max_page_size)
        body["items"], body["nextCursor"] = raw_readings(db(), household, span, page.limit, page.cursor)
    else:
        body["points"] = meter_series(db(), span, household)
    return jsonify(body)


@bp.get("/households/<address>/readings.csv")
def household_readings_csv(address: str):
    """Export a household's raw readings in a range as CSV (at most the raw span limit)."""
    household = parse_address(address, "household")
    require_private_access(household)
    span = _time_range("raw")
    if span.resolution_s != 0:
        raise ApiError(400, "invalid_resolution", "the CSV export lists raw readings; leave resolution out")
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["meter", "seq", "ts", "producedWh", "consumedWh", "powerW", "signature"]
    )
    writer.writeheader()
    cursor = None
    while True:  # the span limit bounds the rows; pages keep each query small
        rows, cursor = raw_readings(db(), household, span, config().max_page_size, cursor)
        writer.writerows(rows)
        if cursor is None:
            break
    filename = f"vatio-readings-{household}-{span.start}-{span.end}.csv"
    return Response(
        buffer.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@bp.get("/community/readings")
def community_readings():
    """Return the community's energy per bucket: from closed intervals when the resolution allows, else readings."""
    span = _time_range("1h")
    if span.resolution_s == 0:
        raise ApiError(400, "invalid_resolution", "raw readings are per household; choose a resolution")
    seconds = interval_seconds()
    source = request.args.get("source", "auto")
    if source not in ("auto", "intervals", "readings"):
        raise ApiError(400, "invalid_parameter", "source must be auto, intervals or readings")
    aligned = span.resolution_s % seconds == 0 and span.start % seconds == 0
    if source == "intervals" and not aligned:
        raise ApiError(
            400, "invalid_resolution", f"interval totals need from and resolution in whole intervals of {seconds} s"
        )
    use_intervals = source == "intervals" or (source == "auto" and aligned)
    points = community_series_from_entries(db(), span, seconds) if use_intervals else meter_series(db(), span)
    return jsonify(
        {
            "from": span.start,
            "to": span.end,
            "resolution": span.resolution_s,
            "source": "intervals" if use_intervals else "readings",
            "points": points,
        }
    )
