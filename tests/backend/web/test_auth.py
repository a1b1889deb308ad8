"""Sign-In with Ethereum against the real registry: roles, replay, domain, chain, expiry, signatures, sessions."""

from __future__ import annotations

import time

from eth_account import Account
from eth_account.messages import encode_defunct
from web_helpers import sign, sign_in, siwe_text

from backend.chain.deploy import Deployer
from backend.web.app import SESSION_COOKIE
from backend.web.siwe import SECP256K1_N


def test_household_signs_in_and_sees_its_roles(client, community):
    response = sign_in(client, community.alice)
    assert response.status_code == 200, response.get_json()
    me = client.get("/api/auth/me").get_json()
    assert me["address"] == community.alice.address
    assert me["roles"] == ["household"] and me["active"] and not me["admin"]
    assert me["chainId"] == 31337


def test_session_cookie_is_httponly_and_samesite(client, community):
    sign_in(client, community.alice)
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie.http_only and cookie.same_site == "Lax"


def test_admin_and_unregistered_roles_come_from_the_chain(make_app, community):
    app = make_app()
    admin = app.test_client()
    assert sign_in(admin, community.admin).get_json()["roles"] == ["admin"]
    stranger = app.test_client()
    body = sign_in(stranger, community.carol).get_json()
    assert body["roles"] == [] and not body["household"]


def test_me_without_session_is_200_signed_out(client, community):
    """Not being signed in is no error: an anonymous page load must not log a failed request."""
    response = client.get("/api/auth/me")
    assert response.status_code == 200
    assert response.get_json() == {"signedIn": False}
    sign_in(client, community.alice)
    assert client.get("/api/auth/me").get_json()["signedIn"] is True


def test_logout_ends_the_server_side_session(client, community):
    sign_in(client, community.alice)
    stolen = client.get_cookie(SESSION_COOKIE).value
    assert client.post("/api/auth/logout").get_json() == {"signedIn": False}
    assert client.get("/api/auth/me").get_json() == {"signedIn": False}
    client.set_cookie(SESSION_COOKIE, stolen)  # a copy of the old cookie is dead too
    assert client.get("/api/auth/me").get_json() == {"signedIn": False}


def test_replayed_nonce_is_refused(app, community):
    client = app.test_client()
    nonce = client.get("/api/auth/nonce").get_json()["nonce"]
    cookie_with_nonce = client.get_cookie(SESSION_COOKIE).value
    text = siwe_text(community.alice, nonce)
    body = {"message": text, "signature": sign(community.alice, text)}
    assert client.post("/api/auth/verify", json=body).status_code == 200

    replay = app.test_client()  # same message, same signature, the cookie that carried the nonce
    replay.set_cookie(SESSION_COOKIE, cookie_with_nonce)
    response = replay.post("/api/auth/verify", json=body)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "nonce_used"
    assert replay.get("/api/auth/me").get_json() == {"signedIn": False}


def test_nonce_of_another_browser_is_refused(app, community):
    issued_to_other = app.test_client().get("/api/auth/nonce").get_json()["nonce"]
    client = app.test_client()
    client.get("/api/auth/nonce")
    text = siwe_text(community.alice, issued_to_other)
    response = client.post("/api/auth/verify", json={"message": text, "signature": sign(community.alice, text)})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unknown_nonce"


def test_made_up_nonce_is_refused(app, community):
    client = app.test_client()
    client.get("/api/auth/nonce")
    with client.session_transaction() as cookie_session:
        cookie_session["siwe_nonce"] = "deadbeefdeadbeef"  # even if it were in the cookie, the server never issued it
    text = siwe_text(community.alice, "deadbeefdeadbeef")
    response = client.post("/api/auth/verify", json={"message": text, "signature": sign(community.alice, text)})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "nonce_used"


def test_expired_nonce_is_refused(make_app, community):
    client = make_app(nonce_ttl_s=1).test_client()
    nonce = client.get("/api/auth/nonce").get_json()["nonce"]
    text = siwe_text(community.alice, nonce)
    time.sleep(2.1)
    response = client.post("/api/auth/verify", json={"message": text, "signature": sign(community.alice, text)})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "expired"


def test_wrong_domain_is_refused(client, community):
    response = sign_in(client, community.alice, domain="evil.example")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "wrong_domain"


def test_wrong_chain_is_refused(client, community):
    response = sign_in(client, community.alice, chain_id=1)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "wrong_chain"


def test_expired_message_is_refused(client, community):
    now = int(time.time())
    response = sign_in(client, community.alice, issued_at=now - 60, expiration_time=now - 1)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "expired"


def test_message_from_the_future_is_refused(client, community):
    response = sign_in(client, community.alice, issued_at=int(time.time()) + 3600)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "not_yet_valid"


def test_signature_by_another_key_is_refused_and_keeps_the_nonce(client, community):
    nonce = client.get("/api/auth/nonce").get_json()["nonce"]
    text = siwe_text(community.alice, nonce)
    response = client.post("/api/auth/verify", json={"message": text, "signature": sign(community.bob, text)})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "bad_signature"
    assert client.get("/api/auth/me").get_json() == {"signedIn": False}
    # nothing changed: the real owner can still use the nonce
    good = client.post("/api/auth/verify", json={"message": text, "signature": sign(community.alice, text)})
    assert good.status_code == 200


def test_malformed_signatures_and_messages(client, community):
    nonce = client.get("/api/auth/nonce").get_json()["nonce"]
    text = siwe_text(community.alice, nonce)
    for signature in ("0x", "0x" + "00" * 65, "0x" + "zz" * 65, 12, None):
        response = client.post("/api/auth/verify", json={"message": text, "signature": signature})
        assert response.status_code == 401, signature
        assert response.get_json()["error"]["code"] == "bad_signature"
    lowercase_address = text.replace(community.alice.address, community.alice.address.lower())
    for message in (
        "hello",
        "",
        None,
        text.replace("Version: 1", "Version: 2"),
        lowercase_address,
        text.replace("\n", "\r\n"),
        text + "\nExtra: line",
        "x" * 10_000,
    ):
        response = client.post("/api/auth/verify", json={"message": message, "signature": sign(community.alice, text)})
        assert response.status_code == 400, message
        assert response.get_json()["error"]["code"] == "invalid_message"
    assert client.post("/api/auth/verify", data="message=1").status_code == 415
    assert client.post("/api/auth/verify", data="{", content_type="application/json").status_code == 400
    assert client.get("/api/auth/me").get_json() == {"signedIn": False}


def test_sign_in_is_rate_limited(make_app, community):
    client = make_app(rate_limits_enabled=True, rate_limit_signin="3 per minute").test_client()
    statuses = [client.get("/api/auth/nonce").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    body = client.get("/api/auth/nonce").get_json()
    assert body["error"]["code"] == "rate_limited"


def test_roles_are_reread_when_old(make_app, community):
    app = make_app(role_ttl_s=1)
    client = app.test_client()
    newcomer, meter = Account.create(), Account.create()
    sign_in(client, newcomer)
    registry = community.deployment.contract(community.web3, "CommunityRegistry")
    Deployer(community.web3, community.admin).call(
        registry.functions.registerHousehold(newcomer.address, meter.address, 5_000)
    )
    assert client.get("/api/auth/me").get_json()["roles"] == []  # the session's copy is fresh
    time.sleep(2.1)
    assert client.get("/api/auth/me").get_json()["roles"] == ["household"]


def _high_s(signature: str) -> str:
    """The malleable twin of a signature: s -> n - s, v flipped; it recovers the same address."""
    raw = bytes.fromhex(signature[2:])
    s, v = int.from_bytes(raw[32:64], "big"), raw[64]
    return "0x" + (raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v if v >= 27 else 1 - v])).hex()


def test_lenient_sign_in_messages_are_refused(client, community):
    alice = community.alice
    uri, statement = "\nURI: http://localhost\n", "\nSign in to Vatio.\n"  # as siwe_text writes them
    cases = [
        ("wrong_uri", uri, "\nURI: https://evil.example\n"),
        ("wrong_uri", uri, "\nURI: javascript://localhost/%0Aalert(1)\n"),
        ("wrong_uri", uri, "\nURI: http://evil@localhost\n"),
        ("wrong_uri", uri, "\nURI: http://localhost.evil.example/\n"),
        ("invalid_message", statement, "\nSign in\x00 to Vatio.\n"),
        ("invalid_message", statement, "\nSign in \x1b[2Jto Vatio.\n"),
        ("invalid_message", statement, "\nSign in to \u202eoitaV.\n"),
        ("invalid_message", "localhost wants", "javascript://localhost wants"),
    ]
    for code, old, new in cases:
        nonce = client.get("/api/auth/nonce").get_json()["nonce"]
        text = siwe_text(alice, nonce)
        assert old in text
        text = text.replace(old, new)
        response = client.post("/api/auth/verify", json={"message": text, "signature": sign(alice, text)})
        assert response.get_json()["error"]["code"] == code, new
        assert response.status_code == (400 if code == "invalid_message" else 401), new
        assert client.get("/api/auth/me").get_json() == {"signedIn": False}, new


def test_high_s_signature_is_refused(client, community):
    nonce = client.get("/api/auth/nonce").get_json()["nonce"]
    text = siwe_text(community.alice, nonce)
    twin = _high_s(sign(community.alice, text))
    assert Account.recover_message(encode_defunct(text=text), signature=twin) == community.alice.address
    response = client.post("/api/auth/verify", json={"message": text, "signature": twin})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "bad_signature"
    assert "EIP-2" in response.get_json()["error"]["message"]
    # the low-s original still signs in with the same nonce
    good = client.post("/api/auth/verify", json={"message": text, "signature": sign(community.alice, text)})
    assert good.status_code == 200
