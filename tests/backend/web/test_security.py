"""The API's defences: nested JSON, cross-site writes, security headers, long URLs, JSON types, shared rate limits."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import socket
import threading
from urllib.parse import urlsplit

import pytest
from eth_account import Account
from web_helpers import sign_in
from werkzeug.serving import make_server

from backend.web import app as app_module
from backend.web.app import run_server
from backend.web.frontend import DIST_DIR
from backend.web.openapi import openapi_spec
from backend.web.security import STATE_CHANGING_METHODS, JsonErrorRequestHandler

EVIL = "https://evil.example"


# A value for each path argument of a write route (the checks here come before the view reads it).
EXAMPLE_ARGUMENTS = {"address": "0x" + "ab" * 20, "token_id": "1"}


def _writes(app) -> list[tuple[str, str]]:
    """Every state-changing route the app serves (new ones included), as (method, path a request can name)."""
    writes = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & STATE_CHANGING_METHODS):
            assert rule.arguments <= set(EXAMPLE_ARGUMENTS), f"give {rule.rule} an example path here"
            writes.append(
                (
                    method,
                    rule.build({name: EXAMPLE_ARGUMENTS[name] for name in rule.arguments}, append_unknown=False)[1],
                )
            )
    assert {
        "/api/auth/logout",
        "/api/auth/verify",
        "/api/market/orders/preview",
        "/api/admin/households",
        "/api/admin/tariffs",
    } <= {path for _, path in writes}
    return sorted(writes)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# 1. JSON nested about 1,000 levels deep


@pytest.mark.parametrize("depth", [33, 500, 1000, 5000])
def test_deeply_nested_json_is_refused_on_every_write(app, community, caplog, depth):
    client = app.test_client()
    sign_in(client, community.alice)  # past the sign-in checks too: the limit applies before any view
    caplog.set_level(logging.ERROR)
    for method, path in _writes(app):
        response = client.open(path, method=method, data=_nested(depth), content_type="application/json")
        assert response.status_code == 400, (path, response.get_json())
        assert response.get_json()["error"]["code"] == "invalid_json", path
    anonymous = app.test_client()
    body = '{"message": ' + _nested(depth) + "}"
    response = anonymous.post("/api/auth/verify", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback logged per request
    assert client.get("/api/auth/me").get_json()["signedIn"] is True  # not signed out on the way


def test_brackets_inside_strings_do_not_count_as_nesting(client, community):
    nonce = client.get("/api/auth/nonce").get_json()["nonce"]
    assert nonce
    body = json.dumps({"message": "[" * 5000 + '\\"{' * 100, "signature": "0x"})
    response = client.post("/api/auth/verify", data=body, content_type="application/json")
    assert response.get_json()["error"]["code"] == "invalid_message"  # parsed, and refused for what it says


# 2. Writes from another site


def test_every_write_refuses_a_cross_site_form(app, community):
    victim = app.test_client()
    sign_in(victim, community.admin)
    for method, path in _writes(app):
        for headers in (
            {"Origin": EVIL},
            {"Origin": "null"},
            {"Origin": "http://localhost.evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            response = victim.open(
                path,
                method=method,
                data="wallet=0x1&message=x",
                headers=headers,
                content_type="application/x-www-form-urlencoded",
            )
            assert response.status_code == 403, (path, headers, response.status_code)
            assert response.get_json()["error"]["code"] == "cross_origin"
            # a cross-site fetch may also send JSON (text/plain cannot be JSON, but a form cannot be either)
            response = victim.open(path, method=method, json={}, headers=headers)
            assert response.status_code == 403, (path, headers)
        for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"):
            response = victim.open(path, method=method, data="{}", content_type=content_type)  # an old browser's form
            assert response.status_code == 415, (path, content_type)
            assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert victim.get("/api/auth/me").get_json()["signedIn"] is True  # still signed in


def test_logout_from_this_site_still_works(app, community):
    for headers in (
        {"Origin": "http://localhost"},
        {"Origin": "https://localhost", "Sec-Fetch-Site": "same-origin"},
        {},
    ):
        client = app.test_client()
        sign_in(client, community.alice)
        assert client.post("/api/auth/logout", json={}, headers=headers).get_json() == {"signedIn": False}
        assert client.get("/api/auth/me").get_json() == {"signedIn": False}


def test_configured_origins_may_write(make_app, community):
    app = make_app(siwe_domains=("localhost", "vatio.example:8443"), cors_origins=("https://admin.example",))
    for origin in ("https://vatio.example:8443", "https://admin.example"):
        client = app.test_client()
        sign_in(client, community.alice)
        assert client.post("/api/auth/logout", json={}, headers={"Origin": origin}).status_code == 200, origin


# 3. Security headers


def test_security_headers_on_pages_api_and_errors(client):
    for path in ("/", "/api/health", "/api/nope", "/config.json"):
        response = client.get(path)
        policy = response.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy and "*" not in policy
        assert directives["connect-src"].startswith("'self'")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP: HSTS would be ignored


def test_hsts_over_tls_only(client):
    secure = client.get("/api/health", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # a client's own X-Forwarded-Proto is not trusted (no ProxyFix configured)
    spoofed = client.get("/api/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers


def test_the_chain_rpc_is_the_only_other_origin_the_page_may_reach(app, community, client):
    policy = client.get("/").headers["Content-Security-Policy"]
    connect = re.search(r"connect-src ([^;]+)", policy)[1].split()
    rpc = urlsplit(community.url)
    assert connect == ["'self'", "ws://localhost", "wss://localhost", f"{rpc.scheme}://{rpc.netloc}"]


def test_docs_page_runs_under_its_policy(client):
    response = client.get("/api/docs")
    page = response.data.decode()
    policy = response.headers["Content-Security-Policy"]
    for tag in ("script", "style"):
        blocks = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", page, re.DOTALL)
        assert len(blocks) == 1, tag
        digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
        assert re.search(rf"{tag}-src 'sha256-{re.escape(digest)}'(;|$)", policy), tag
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy


def test_built_page_has_no_inline_code(client):
    index = DIST_DIR / "index.html"
    if not index.is_file():
        pytest.skip("frontend/dist is not built")
    html = index.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # every script is a file of this origin
    assert "<style" not in html and " style=" not in html and not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


# 4. Long URLs


def test_long_query_string_gets_the_json_error(client):
    response = client.get("/api/intervals?limit=1&x=" + "a" * 100_000)
    assert response.status_code == 414 and response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == "uri_too_long"


def test_server_answers_its_own_414_in_json(app, monkeypatch):
    handlers = []
    monkeypatch.setattr(
        type(app_module.socketio_of(app)),
        "run",
        lambda self, app, **kwargs: handlers.append(kwargs.get("request_handler")),
    )
    run_server(app)
    assert handlers == [JsonErrorRequestHandler]  # what `vatio serve` runs with
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handlers[0])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as connection:
            connection.sendall(b"GET /api/intervals?x=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
            raw = b""
            while chunk := connection.recv(65536):
                raw += chunk
    finally:
        server.shutdown()
        thread.join(5)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414") or head.startswith(b"HTTP/1.0 414"), head
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == "uri_too_long"


# 5. JSON types as the description states


def _valid_bodies(community) -> dict[str, tuple[object, dict]]:
    """Per write with a body: who signs in, and a body of the right types."""
    return {
        "/api/auth/verify": (None, {"message": "x", "signature": "0x"}),
        "/api/market/orders/preview": (
            community.alice,
            {"side": "ask", "limitPrice": 100_000, "amountWh": 100, "validFrom": 0, "validTo": 0},
        ),
        "/api/admin/households": (
            community.admin,
            {"wallet": Account.create().address, "meter": Account.create().address, "capacityW": 5000},
        ),
        "/api/admin/tariffs": (community.admin, {"retailPrice": 200_000, "feedInPrice": 50_000}),
        "/api/admin/meters/{address}/credentials": (community.admin, {}),
        "/api/households/{address}/tokens": (community.alice, {"label": "home assistant"}),
        "/api/admin/tariff-schedules": (community.admin, {"schedule": "name = 'x'"}),
    }


def test_amount_as_a_string_is_refused(client, community):
    sign_in(client, community.alice)
    body = {"side": "ask", "limitPrice": 100_000, "amountWh": "1000"}
    response = client.post("/api/market/orders/preview", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_amount"
    assert "JSON integer" in response.get_json()["error"]["message"]


def test_every_body_field_must_have_its_described_type(make_app, community):
    app = make_app()
    bodies = _valid_bodies(community)
    described = {
        path: item["post"]["requestBody"]["content"]["application/json"]["schema"]
        for path, item in openapi_spec()["paths"].items()
        if "requestBody" in item.get("post", {})
    }
    assert set(described) == set(bodies)
    wrong = {"integer": ["1000", 1000.5, True, [1]], "string": [12, True, {"a": 1}]}
    for path, schema in described.items():
        account, body = bodies[path]
        path = path.replace("{address}", community.alice.address)  # the household signed in (or any, for the admin)
        client = app.test_client()
        if account is not None:
            sign_in(client, account)
        for name, field in schema["properties"].items():
            for value in wrong.get(field.get("type"), ["not-" + "-".join(field.get("enum", []))]):
                response = client.post(path, json={**body, name: value})
                expected = field["x-error"]
                assert (response.status_code, response.get_json()["error"]["code"]) == (
                    expected["status"],
                    expected["code"],
                ), (path, name, value)


# 6. The zero address


@pytest.mark.parametrize("field", ["wallet", "meter"])
def test_zero_address_cannot_be_registered(client, community, field):
    sign_in(client, community.admin)
    body = {
        "wallet": Account.create().address,
        "meter": Account.create().address,
        "capacityW": 5000,
        field: "0x" + "0" * 40,
    }
    response = client.post("/api/admin/households", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_address"
    assert "zero address" in response.get_json()["error"]["message"]


# 8. Rate limits, shared as docs/api.md says


def test_nonce_and_verify_share_the_sign_in_limit(make_app, community):
    client = make_app(rate_limits_enabled=True, rate_limit_signin="3 per minute").test_client()
    assert client.get("/api/auth/nonce").status_code == 200
    assert client.post("/api/auth/verify", json={"message": "x", "signature": "0x"}).status_code == 400
    assert client.get("/api/auth/nonce").status_code == 200
    response = client.post("/api/auth/verify", json={"message": "x", "signature": "0x"})
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "rate_limited"
    assert client.get("/api/auth/nonce").status_code == 429


def test_writes_share_the_write_limit(make_app, community):
    app = make_app(rate_limits_enabled=True, rate_limit_write="3 per minute", rate_limit_signin="50 per minute")
    client = app.test_client()
    sign_in(client, community.alice)
    assert client.post("/api/market/orders/preview", json={}).status_code == 400
    assert client.post("/api/admin/tariffs", json={}).status_code == 403
    assert client.post("/api/admin/households", json={}).status_code == 403
    assert client.post("/api/market/orders/preview", json={}).status_code == 429
    assert client.post("/api/auth/logout", json={}).status_code == 429
    assert client.get("/api/auth/me").get_json()["signedIn"] is True  # the refused logout did not run
