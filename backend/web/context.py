"""What a request handler reaches: the config, a database session, the chain, the server-side stores."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.web.chain import ChainGateway, ChainUnavailable
from backend.web.config import Config
from backend.web.errors import ApiError
from backend.web.kvstore import KeyValueStore

__all__ = ["WebState", "chain", "chain_call", "config", "db", "now", "rate_limited", "web_state"]

F = TypeVar("F", bound=Callable)
T = TypeVar("T")


@dataclass
class WebState:
    config: Config
    engine: Engine
    sessions: sessionmaker[Session]
    chain: ChainGateway | None
    nonces: KeyValueStore
    logins: KeyValueStore  # server-side sessions: the cookie holds only their id


def web_state() -> WebState:
    return current_app.extensions["vatio"]


def config() -> Config:
    return web_state().config


def db() -> Session:
    """Return this request's database session (closed when the request ends)."""
    if "db_session" not in g:
        g.db_session = web_state().sessions()
    return g.db_session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def chain() -> ChainGateway:
    """Return the chain gateway; 503 when this app has no deployment configured."""
    gateway = web_state().chain
    if gateway is None:
        raise ApiError(503, "chain_unavailable", "this server has no chain deployment configured")
    return gateway


def chain_call(read: Callable[[ChainGateway], T]) -> T:
    """Run one chain read; 503 with the reason when the node does not answer."""
    try:
        return read(chain())
    except ChainUnavailable as exc:
        raise ApiError(503, "chain_unavailable", str(exc)) from exc


def now() -> int:
    """Return the current unix time in seconds (UTC)."""
    return int(time.time())


def rate_limited(scope: str) -> Callable[[F], F]:
    """Mark a view for the app factory to rate-limit under `scope` ('signin' or 'write')."""

    def mark(view: F) -> F:
        view.rate_limit_scope = scope  # type: ignore[attr-defined]
        return view

    return mark
