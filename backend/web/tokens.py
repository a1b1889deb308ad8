"""Households' read-only API tokens: created, listed and revoked by the household signed in with its wallet.

A token (``vatio_hh_`` + 43 URL-safe characters, 256 random bits) is shown once, when made; the database
keeps only its SHA-256. ``Authorization: Bearer <token>`` then reads that household's own private data
(backend/web/access.py decides), for `vatio bridge ha-publish --token-file` and the like: never a write,
never another household's data.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from flask import Blueprint, jsonify
from sqlalchemy import func, select

from backend.db.models import MAX_TOKEN_LABEL_CHARS, HouseholdToken
from backend.web.access import require_user
from backend.web.context import db, now, rate_limited
from backend.web.errors import ApiError
from backend.web.validation import json_body, parse_address, parse_int

__all__ = ["MAX_TOKENS_PER_HOUSEHOLD", "TOKEN_PREFIX", "bp", "household_of_token", "is_token_shaped"]

bp = Blueprint("tokens", __name__, url_prefix="/api")

TOKEN_PREFIX = "vatio_hh_"
MAX_TOKENS_PER_HOUSEHOLD = 20
LAST_USED_RESOLUTION_S = 60  # last_used_at is written at most once a minute per token
_TOKEN = re.compile(rf"{TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}")


def is_token_shaped(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


def _hash(token: str) -> str:
    return "0x" + hashlib.sha256(token.encode()).hexdigest()


def household_of_token(token: str) -> str | None:
    """The household a well-formed, unrevoked token reads for (noting its use), else None."""
    session = db()
    row = session.scalars(select(HouseholdToken).where(HouseholdToken.token_hash == _hash(token))).one_or_none()
    if row is None:
        return None
    moment = now()
    if row.last_used_at is None or moment - row.last_used_at >= LAST_USED_RESOLUTION_S:
        row.last_used_at = moment
        session.commit()
    return row.household


def _own_household(address: str) -> str:
    """The household in the path, which must be the wallet signed in (tokens manage no tokens)."""
    household = parse_address(address, "household")
    user = require_user()
    if user.address != household:
        raise ApiError(403, "forbidden", "only the household itself, signed in with its wallet, manages its tokens")
    return household


def _token_json(row: HouseholdToken) -> dict:
    return {"id": row.id, "label": row.label, "createdAt": row.created_at, "lastUsedAt": row.last_used_at}


@bp.get("/households/<address>/tokens")
def list_tokens(address: str):
    """Return the household's tokens (never the tokens themselves), newest first."""
    household = _own_household(address)
    rows = db().scalars(
        select(HouseholdToken).where(HouseholdToken.household == household).order_by(HouseholdToken.id.desc())
    )
    return jsonify({"items": [_token_json(row) for row in rows]})


@bp.post("/households/<address>/tokens")
@rate_limited("write")
def create_token(address: str):
    """Make a read-only token for the household; return it once (Cache-Control: no-store)."""
    household = _own_household(address)
    body = json_body()
    label = body.get("label", "")
    if not isinstance(label, str) or len(label.strip()) > MAX_TOKEN_LABEL_CHARS or not label.isprintable():
        raise ApiError(
            400, "invalid_label", f"label must be printable text of at most {MAX_TOKEN_LABEL_CHARS} characters"
        )
    session = db()
    count = session.scalar(
        select(func.count()).select_from(HouseholdToken).where(HouseholdToken.household == household)
    )
    if count >= MAX_TOKENS_PER_HOUSEHOLD:
        raise ApiError(
            409, "too_many_tokens", f"a household holds at most {MAX_TOKENS_PER_HOUSEHOLD} tokens: revoke one first"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = HouseholdToken(household=household, token_hash=_hash(token), label=label.strip(), created_at=now())
    session.add(row)
    session.commit()
    response = jsonify({**_token_json(row), "household": household, "token": token})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/households/<address>/tokens/<token_id>")
@rate_limited("write")
def revoke_token(address: str, token_id: str):
    """Revoke (delete) one of the household's tokens: a request with it is refused from now on."""
    household = _own_household(address)
    identifier = parse_int(token_id, "token_id", minimum=1)
    session = db()
    row = session.get(HouseholdToken, identifier)
    if row is None or row.household != household:
        raise ApiError(404, "not_found", f"the household has no token {identifier}")
    session.delete(row)
    session.commit()
    return jsonify({"revoked": identifier})
