"""Who is asking: the signed-in wallet behind the session cookie, and the checks on private data.

The cookie (signed by Flask, HttpOnly, SameSite=Lax) holds only a random
session id; the session itself (address, roles) lives server-side, so
logging out ends it everywhere, and a copied cookie dies with it.

A household's read-only API token (backend/web/tokens.py), sent as
``Authorization: Bearer <token>``, stands in for the session on GET requests
for that household's own private data, and for nothing else: a request that
carries one is judged by the token alone.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass

from flask import g, request, session

from backend.web.chain import ChainUnavailable, Roles
from backend.web.context import config, now, web_state
from backend.web.errors import ApiError

__all__ = [
    "User",
    "current_user",
    "end_session",
    "require_admin",
    "require_private_access",
    "require_user",
    "start_session",
]

log = logging.getLogger(__name__)
_NO_USER = object()


@dataclass(frozen=True)
class User:
    address: str
    roles: Roles
    chain_id: int
    signed_in_at: int

    def may_read(self, household: str) -> bool:
        """A household reads its own private data; the admin reads everyone's."""
        return self.address == household or self.roles.admin

    def to_json(self) -> dict:
        return {
            "signedIn": True,
            "address": self.address,
            "roles": self.roles.names(),
            "household": self.roles.household,
            "active": self.roles.active,
            "admin": self.roles.admin,
            "chainId": self.chain_id,
            "signedInAt": self.signed_in_at,
        }


def start_session(address: str, roles: Roles, chain_id: int) -> User:
    """Open a fresh server-side session for a verified wallet and point the cookie at it."""
    end_session()  # a new id on every sign-in: no session fixation
    sid = secrets.token_urlsafe(32)
    signed_in_at = now()
    record = {
        "address": address,
        "roles": asdict(roles),
        "chainId": chain_id,
        "signedInAt": signed_in_at,
        "rolesCheckedAt": signed_in_at,
    }
    web_state().logins.put(sid, json.dumps(record), config().session_ttl_s)
    session.clear()
    session["sid"] = sid
    session.permanent = True
    user = User(address=address, roles=roles, chain_id=chain_id, signed_in_at=signed_in_at)
    g.current_user = user
    return user


def end_session() -> None:
    """Forget the server-side session and clear the cookie."""
    sid = session.get("sid")
    if isinstance(sid, str):
        web_state().logins.delete(sid)
    session.pop("sid", None)
    g.current_user = None


def current_user() -> User | None:
    """Return the signed-in wallet, re-reading its roles from the chain when the copy is old."""
    cached = g.get("current_user", _NO_USER)
    if cached is not _NO_USER:
        return cached
    user = _load_user()
    g.current_user = user
    return user


def _load_user() -> User | None:
    sid = session.get("sid")
    if not isinstance(sid, str):
        return None
    state = web_state()
    raw = state.logins.get(sid)
    if raw is None:
        return None
    record = json.loads(raw)
    if record["chainId"] != state.config.chain_id:
        return None  # signed in on another community's chain
    roles = Roles(**record["roles"])
    if now() - record["rolesCheckedAt"] > state.config.role_ttl_s and state.chain is not None:
        try:
            roles = state.chain.roles(record["address"])
        except ChainUnavailable as exc:
            # Keep the last known roles for now rather than signing everyone out while the node is down.
            log.warning("roles of %s not refreshed: %s", record["address"], exc)
        else:
            record["roles"], record["rolesCheckedAt"] = asdict(roles), now()
            remaining = max(1, record["signedInAt"] + state.config.session_ttl_s - now())
            state.logins.put(sid, json.dumps(record), remaining)
    return User(address=record["address"], roles=roles, chain_id=record["chainId"], signed_in_at=record["signedInAt"])


def _bearer_token() -> str | None:
    """The household token the request carries, None without an Authorization header; 401 when malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    from backend.web.tokens import is_token_shaped

    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not is_token_shaped(token.strip()):
        raise ApiError(
            401,
            "invalid_token",
            "the Authorization header must be 'Bearer vatio_hh_...', a household "
            "API token as made on the household page",
        )
    return token.strip()


def require_user() -> User:
    """Return the signed-in wallet, or fail with 401 (403 for a request made with a household token)."""
    if _bearer_token() is not None:
        if request.method in ("GET", "HEAD"):
            raise ApiError(
                403,
                "token_not_allowed",
                "a household API token reads only the household's own private data; sign in with the wallet for this",
            )
        raise ApiError(
            403, "token_read_only", "a household API token only reads; sign in with the wallet to change anything"
        )
    user = current_user()
    if user is None:
        raise ApiError(401, "not_signed_in", "sign in with your wallet first")
    return user


def require_private_access(household: str) -> User | None:
    """Allow only the household itself or the admin; 401 when signed out, 403 for anyone else.

    A GET carrying the household's own token passes too (None is returned: no wallet is signed in).
    """
    token = _bearer_token()
    if token is not None and request.method in ("GET", "HEAD"):
        from backend.web.tokens import household_of_token

        owner = household_of_token(token)
        if owner is None:
            raise ApiError(401, "invalid_token", "this household API token is unknown or revoked")
        if owner != household:
            raise ApiError(403, "forbidden", "a household API token reads only its own household's data")
        return None
    user = require_user()
    if not user.may_read(household):
        raise ApiError(403, "forbidden", "this is another household's private data")
    return user


def require_admin() -> User:
    """Allow only the registry's admin."""
    user = require_user()
    if not user.roles.admin:
        raise ApiError(403, "forbidden", "only the community admin may do this")
    return user
