"""Sign-In with Ethereum: a nonce, a signed EIP-4361 message, a session with roles from the chain.

The nonce is single-use and expires: it is kept server-side (Redis or the
process) and taken atomically on a successful sign-in, and it is also bound
to the browser that asked for it (the session cookie), so a message signed
in one browser cannot be replayed from another.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, jsonify, request, session

from backend.web.access import current_user, end_session, start_session
from backend.web.context import chain_call, config, now, rate_limited, web_state
from backend.web.errors import ApiError
from backend.web.siwe import SiweError, check_message, format_timestamp, parse_message, recover_signer
from backend.web.validation import json_body

__all__ = ["bp"]

bp = Blueprint("auth", __name__, url_prefix="/api/auth")

_BAD_REQUEST_CODES = {"invalid_message"}


@bp.get("/nonce")
@rate_limited("signin")
def nonce():
    """Issue a fresh nonce and the fields the wallet's message must carry."""
    settings = config()
    if settings.chain_id is None:
        raise ApiError(503, "chain_unavailable", "this server has no chain deployment configured")
    value = secrets.token_hex(16)
    issued = now()
    web_state().nonces.put(value, str(issued), settings.nonce_ttl_s)
    session["siwe_nonce"] = value
    domain = request.host if request.host in settings.siwe_domains else settings.siwe_domains[0]
    return jsonify(
        {
            "nonce": value,
            "domain": domain,
            "uri": f"{request.scheme}://{domain}",
            "version": "1",
            "chainId": settings.chain_id,
            "statement": settings.siwe_statement,
            "issuedAt": format_timestamp(issued),
            "expirationTime": format_timestamp(issued + settings.nonce_ttl_s),
        }
    )


@bp.post("/verify")
@rate_limited("signin")
def verify():
    """Check a signed sign-in message and open a session with the wallet's roles."""
    body = json_body()
    text, signature = body.get("message"), body.get("signature")
    settings = config()
    if settings.chain_id is None:
        raise ApiError(503, "chain_unavailable", "this server has no chain deployment configured")
    try:
        message = parse_message(text)
        check_message(
            message,
            domains=settings.siwe_domains,
            chain_id=settings.chain_id,
            now=now(),
            max_age_s=settings.nonce_ttl_s,
            clock_skew_s=settings.clock_skew_s,
        )
        if session.get("siwe_nonce") != message.nonce:
            raise SiweError("unknown_nonce", "this nonce was not issued to this browser; ask for a new one")
        signer = recover_signer(text, signature)
        if signer != message.address:
            raise SiweError("bad_signature", "the signature is not by the message's address")
    except SiweError as exc:
        raise ApiError(400 if exc.code in _BAD_REQUEST_CODES else 401, exc.code, str(exc)) from exc
    # Roles before the nonce is spent: a node that is down must not burn the user's nonce.
    roles = chain_call(lambda gateway: gateway.roles(message.address))
    if web_state().nonces.take(message.nonce) is None:
        raise ApiError(401, "nonce_used", "this nonce was already used or has expired; ask for a new one")
    user = start_session(message.address, roles, settings.chain_id)
    return jsonify(user.to_json())


@bp.post("/logout")
@rate_limited("write")
def logout():
    """End the session (server-side too)."""
    end_session()
    session.clear()
    return jsonify({"signedIn": False})


@bp.get("/me")
def me():
    """Return the signed-in wallet and its roles, or {"signedIn": false}: being signed out is no error (200)."""
    user = current_user()
    return jsonify({"signedIn": False} if user is None else user.to_json())


def signed_in_address() -> str | None:
    """The signed-in wallet, for rate-limit keys."""
    user = current_user()
    return None if user is None else user.address
