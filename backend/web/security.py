"""What every request and response passes through: the cross-site check on writes, body limits, security headers.

- **Writes** (POST, PUT, PATCH, DELETE) must come from this site: an
  `Origin` header, when sent (browsers send it on every such request), must
  name this host, a configured SIWE domain or a configured CORS origin;
  without one, `Sec-Fetch-Site` must not say cross-site or same-site. A body
  must be JSON, which no HTML form can send. Either check alone stops a
  cross-site form or `fetch` from signing a user out or acting for them.
- **JSON bodies** nested deeper than `MAX_JSON_DEPTH` are refused (400
  `invalid_json`) before anything parses them: Python's parser recurses.
- **Query strings** longer than `MAX_QUERY_BYTES` get a JSON 414; the
  server's own limit on the request line (64 KiB) answers JSON too
  (`JsonErrorRequestHandler`), not an HTML page.
- **Headers** on every response: a strict Content-Security-Policy (the app
  loads nothing from elsewhere), `X-Content-Type-Options: nosniff`, no
  framing, a `Referrer-Policy`, and HSTS when the request came over TLS.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler

from backend.web.context import config
from backend.web.errors import ApiError
from backend.web.validation import MAX_JSON_DEPTH, check_json_depth

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_QUERY_BYTES",
    "STATE_CHANGING_METHODS",
    "JsonErrorRequestHandler",
    "content_security_policy",
    "init_app",
]

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_QUERY_BYTES = 8 * 1024
HSTS_MAX_AGE_S = 365 * 86400
_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")


def init_app(app: Flask) -> None:
    """Check every request before the rate limits and the views run, and add the headers to every response."""
    app.before_request(_guard_request)
    app.after_request(_add_security_headers)


def _guard_request() -> None:
    if len(request.query_string) > MAX_QUERY_BYTES:
        raise ApiError(414, "uri_too_long", f"the query string is longer than {MAX_QUERY_BYTES} bytes")
    if request.method not in STATE_CHANGING_METHODS or request.routing_exception is not None:
        return  # reads change nothing; an unknown route or method answers its own 404 or 405
    _check_same_site()
    if request.content_type is not None and not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    if request.is_json:
        check_json_depth(request.get_data(cache=True))


def _check_same_site() -> None:
    """Refuse a write that a page of another site made the browser send."""
    origin = request.headers.get("Origin")
    if origin is not None:
        if not _is_own_origin(origin):
            raise ApiError(403, "cross_origin", f"requests from {origin[:100]!r} may not change anything here")
    elif request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site"):
        raise ApiError(403, "cross_origin", "requests from another site may not change anything here")


def _is_own_origin(origin: str) -> bool:
    settings = config()
    if origin in settings.cors_origins:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment:
        return False  # "null" (sandboxed pages, privacy redirects) included
    # The browser sets Host to the server it talks to: an origin naming that same host is this site.
    return parts.netloc.lower() == request.host.lower() or parts.netloc.lower() in (
        domain.lower() for domain in settings.siwe_domains
    )


def content_security_policy(script_src: str = "'self'", style_src: str = "'self'") -> str:
    """Return the policy: only this origin's scripts, styles, images and connections, plus the chain's RPC."""
    connect = ["'self'"]
    if _HOST.fullmatch(request.host):  # WebSocket on this host, spelled out for browsers whose 'self' omits ws:
        connect += [f"ws://{request.host}", f"wss://{request.host}"]
    rpc_url = config().rpc_url
    if rpc_url:  # the page reads the chain directly (viem's public client)
        rpc = urlsplit(rpc_url)
        connect.append(f"{rpc.scheme}://{rpc.netloc}")
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {script_src}",
            f"style-src {style_src}",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


def _add_security_headers(response: Response) -> Response:
    headers = response.headers
    if "Content-Security-Policy" not in headers:  # a page with its own inline code sets a policy naming it
        headers["Content-Security-Policy"] = content_security_policy()
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:  # over TLS (or behind a proxy that ProxyFix was told to trust)
        headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE_S}; includeSubDomains")
    return response


class JsonErrorRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, answering its own errors (request line or headers too long) in JSON."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.INTERNAL_SERVER_ERROR
        codes = {414: "uri_too_long", 431: "headers_too_large"}
        body = json.dumps(
            {"error": {"code": codes.get(code, "bad_request"), "message": message or status.phrase}}
        ).encode()
        self.log_error("code %d, message %s", code, message)
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)
