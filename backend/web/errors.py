"""JSON errors: one shape, {"error": {"code": ..., "message": ...}}, for every failure of the API."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

__all__ = ["ApiError", "error_response", "register_error_handlers"]

log = logging.getLogger(__name__)

# Codes for the HTTP errors Flask raises itself (unknown route, wrong method, ...).
_HTTP_CODES = {
    400: "bad_request",
    401: "not_signed_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """A failure to report to the client: HTTP status, a stable machine code, and a sentence."""

    def __init__(self, status: int, code: str, message: str, **details: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, **details: Any) -> Response:
    """Return the JSON error response every endpoint uses."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    response = jsonify({"error": body})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Turn ApiError, HTTP errors and crashes into JSON errors."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, **error.details)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 429:
            message = f"too many requests: at most {error.description}; retry later"
        elif status == 404 and request.path.startswith("/api/"):
            message = f"no such endpoint: {request.method} {request.path}"
        else:
            message = error.description or error.name
        response = error_response(status, _HTTP_CODES.get(status, "http_error"), message)
        for header in ("Retry-After", "Allow"):
            if error.get_response().headers.get(header):
                response.headers[header] = error.get_response().headers[header]
        return response

    @app.errorhandler(Exception)
    def _crash(error: Exception) -> Response:
        # Logged in full here; the client learns nothing about the internals.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the server failed to answer this request")
