"""GET /api/health: each part of the deployment, for probes, the admin page and an operator (docs/production.md).

  database  answers a query
  chain     answers; its head block and how old that block is (headAgeS)
  broker    answers an MQTT CONNECT (a refused login still answers); only where VATIO_MQTT_URL is set
  redis     answers PING; only where VATIO_REDIS_URL is set
  settler   who leads: the session holding the settler's advisory lock (PostgreSQL); SQLite runs one settler
  lag       intervals closed but not settled, and how far behind the oldest of them is

`ok` is every reported part's; the status is 503 only when the database is
down (the app cannot answer anything then), so a load balancer keeps a web
process that can still serve history while the chain or the broker is away.
"""

from __future__ import annotations

import secrets
import socket
import struct
import time
from urllib.parse import urlparse

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.readmodel.operations import settlement_lag
from backend.web.chain import ChainUnavailable
from backend.web.context import db, web_state

__all__ = ["bp"]

bp = Blueprint("health", __name__, url_prefix="/api")

PROBE_TIMEOUT_S = 2.0
# Lag: this many intervals closed and unsettled is still normal (one settling, one just closed).
LAG_OK_INTERVALS = 2
SETTLER_APPLICATION_PREFIX = "vatio-settler"  # backend/oracle/leader.py names the lock's session so
MQTT_CONNACK_ANSWERS = {
    0: "accepted",
    1: "refused: protocol version",
    2: "refused: client id",
    3: "refused: server unavailable",
    4: "refused: bad user name or password",
    5: "refused: not authorised",
}


@bp.get("/health")
def health():
    """Report each part; 503 when the database is down."""
    state = web_state()
    parts: dict[str, dict] = {}
    try:
        db().execute(text("SELECT 1"))
        parts["database"] = {"ok": True, "kind": state.engine.dialect.name}
    except SQLAlchemyError as exc:
        parts["database"] = {"ok": False, "error": type(exc).__name__}
    parts["chain"] = _chain(state)
    if state.config.mqtt_url is not None:
        parts["broker"] = _broker(state.config.mqtt_url)
    if state.config.redis_url is not None:
        parts["redis"] = _redis(state.config.redis_url)
    if parts["database"]["ok"]:
        parts["settler"] = _settler(state)
        parts["lag"] = _lag(state)
    response = jsonify(
        {
            "ok": all(part["ok"] for part in parts.values()),
            **parts,
            "live": {"messageQueue": "redis" if state.config.redis_url else "in-process"},
        }
    )
    response.status_code = 200 if parts["database"]["ok"] else 503
    return response


def _chain(state) -> dict:
    if state.chain is None:
        return {"ok": False, "error": "no deployment configured"}
    gateway = state.chain
    try:
        head = gateway._call(lambda: gateway.web3.eth.get_block("latest"))
    except ChainUnavailable as exc:
        return {"ok": False, "chainId": gateway.chain_id, "error": str(exc)}
    return {
        "ok": True,
        "chainId": gateway.chain_id,
        "block": head["number"],
        "headAgeS": max(0, int(time.time()) - int(head["timestamp"])),
    }


def _broker(url: str) -> dict:
    """One MQTT 3.1.1 CONNECT without a login: any CONNACK shows the broker answers."""
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or 1883
    client_id = f"vatio-health-{secrets.token_hex(4)}".encode()
    variable = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", 10)  # protocol, level 4, clean session, keepalive 10 s
    body = variable + struct.pack("!H", len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as connection:
            connection.sendall(bytes([0x10, len(body)]) + body)
            answer = connection.recv(4)
            if len(answer) == 4 and answer[0] == 0x20:
                connection.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError as exc:
        return {"ok": False, "url": _without_login(url), "error": f"{type(exc).__name__}: {exc}"}
    if len(answer) != 4 or answer[0] != 0x20:
        return {"ok": False, "url": _without_login(url), "error": f"no CONNACK (got {answer!r})"}
    return {"ok": True, "url": _without_login(url), "connect": MQTT_CONNACK_ANSWERS.get(answer[3], str(answer[3]))}


def _redis(url: str) -> dict:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S)
    try:
        client.ping()
        return {"ok": True}
    except redis.RedisError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.close()


def _settler(state) -> dict:
    """The session holding the settler's advisory lock for this chain (backend/oracle/leader.py names it)."""
    if state.engine.dialect.name != "postgresql":
        return {"ok": True, "election": "none: with SQLite one process settles"}
    chain_id = state.config.chain_id
    try:
        rows = (
            db()
            .execute(
                text(
                    "SELECT a.application_name, a.backend_start "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    # Advisory locks belong to one database: a settler of another community on the same
                    # server (the same chain id and application name) is not this one's leader.
                    "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE :name "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "ORDER BY a.backend_start"
                ),
                {"name": f"{SETTLER_APPLICATION_PREFIX} {chain_id} %"},
            )
            .all()
        )
    except SQLAlchemyError as exc:
        return {"ok": False, "election": "postgresql advisory lock", "error": type(exc).__name__}
    if not rows:
        return {
            "ok": False,
            "election": "postgresql advisory lock",
            "leader": None,
            "error": "no settler holds the lock",
        }
    name, started = rows[0]
    return {
        "ok": True,
        "election": "postgresql advisory lock",
        "leader": name.rsplit(" ", 1)[-1],
        "connectedSince": int(started.timestamp()),
    }


def _lag(state) -> dict:
    lag = settlement_lag(db())
    interval_s = state.chain.interval_seconds if state.chain is not None else None
    behind_s = None
    if lag.oldest_interval_id is not None and interval_s is not None:
        behind_s = max(0, int(time.time()) - (lag.oldest_interval_id + 1) * interval_s)
    return {"ok": lag.intervals <= LAG_OK_INTERVALS, **lag.as_json(), "behindS": behind_s}


def _without_login(url: str) -> str:
    parsed = urlparse(url)
    if parsed.username is None and parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.hostname + (f":{parsed.port}" if parsed.port else "")).geturl()
