"""GET /api/health: whether the database and the chain answer (for probes and the admin page)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.web.chain import ChainUnavailable
from backend.web.context import db, web_state

__all__ = ["bp"]

bp = Blueprint("health", __name__, url_prefix="/api")


@bp.get("/health")
def health():
    """Report the database and the chain; 503 when the database is down."""
    state = web_state()
    try:
        db().execute(text("SELECT 1"))
        database = {"ok": True}
    except SQLAlchemyError as exc:
        database = {"ok": False, "error": type(exc).__name__}
    if state.chain is None:
        chain = {"ok": False, "error": "no deployment configured"}
    else:
        try:
            chain = {"ok": True, "chainId": state.chain.chain_id, "block": state.chain.ping()}
        except ChainUnavailable as exc:
            chain = {"ok": False, "chainId": state.chain.chain_id, "error": str(exc)}
    response = jsonify({"database": database, "chain": chain, "live": {
        "messageQueue": "redis" if state.config.redis_url else "in-process"}})
    response.status_code = 200 if database["ok"] else 503
    return response
