"""The web app factory: config, database, chain, stores, blueprints, rate limits, Socket.IO, the live feed.

TensorFlow is never imported here or by anything the app imports; the
forecasts reach the web as files and events.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, request
from flask_limiter import Limiter
from flask_socketio import SocketIO

from backend.db.session import make_engine, session_factory
from backend.web import (
    admin,
    auth,
    community,
    forecasts,
    frontend,
    health,
    kpis,
    live_feed,
    market,
    metrics,
    openapi,
    readings,
    security,
    settlements,
    statements,
    tariffs,
    tokens,
)
from backend.web.chain import ChainGateway
from backend.web.config import Config
from backend.web.context import WebState, close_db
from backend.web.errors import register_error_handlers
from backend.web.kvstore import make_store
from backend.web.live import create_socketio

__all__ = ["SESSION_COOKIE", "create_app", "run_server", "socketio_of"]

SESSION_COOKIE = "vatio_session"
MAX_BODY_BYTES = 64 * 1024
BLUEPRINTS = (
    auth.bp,
    community.bp,
    readings.bp,
    forecasts.bp,
    settlements.bp,
    market.bp,
    admin.bp,
    tariffs.admin_bp,
    tariffs.bp,
    tokens.bp,
    statements.bp,
    kpis.bp,
    openapi.bp,
    health.bp,
    metrics.bp,
    frontend.bp,
)


def create_app(config: Config | None = None) -> Flask:
    """Build the app from `config` (default: the environment); fail fast on bad settings."""
    config = config or Config.from_env()
    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=config.session_ttl_s),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    app.json.sort_keys = False
    engine = make_engine(config.database_url)
    gateway = (
        ChainGateway(config.rpc_url, config.deployment, config.chain_timeout_s)
        if config.deployment is not None and config.rpc_url is not None
        else None
    )
    app.extensions["vatio"] = WebState(
        config=config,
        engine=engine,
        sessions=session_factory(engine),
        chain=gateway,
        nonces=make_store(config.redis_url, config.redis_prefix + "nonce:"),
        logins=make_store(config.redis_url, config.redis_prefix + "login:"),
    )
    app.teardown_appcontext(close_db)
    register_error_handlers(app)
    security.init_app(app)  # before the rate limits: a refused cross-site write costs the user nothing
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    _apply_rate_limits(app, config)
    create_socketio(app, config)
    live_feed.install(app)  # without Redis: follow the oracle's tables, from the first request served
    return app


def socketio_of(app: Flask) -> SocketIO:
    """Return the app's SocketIO (to run the server or emit in-process)."""
    return app.extensions["socketio"]


def run_server(app: Flask, host: str = "127.0.0.1", port: int = 5000) -> None:
    """Serve with Werkzeug's development server until interrupted (threading mode, WebSocket through
    simple-websocket): local chains and the demo only; production runs gunicorn (backend/web/gunicorn_conf.py)."""
    socketio_of(app).run(
        app,
        host=host,
        port=port,
        allow_unsafe_werkzeug=True,
        use_reloader=False,
        request_handler=security.JsonErrorRequestHandler,
    )


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _wallet_or_client() -> str:
    address = auth.signed_in_address()
    return f"wallet:{address}" if address else f"ip:{_client_address()}"


def _apply_rate_limits(app: Flask, config: Config) -> None:
    """Limit the views marked with @rate_limited: sign-in per client address, writes per wallet."""
    limiter = Limiter(
        key_func=_client_address,
        app=app,
        storage_uri=config.redis_url or "memory://",
        key_prefix=config.redis_prefix + "limit:",
        headers_enabled=True,
        enabled=config.rate_limits_enabled,
    )
    app.extensions["vatio_limiter"] = limiter  # the route limits hold it only weakly
    for endpoint, view in list(app.view_functions.items()):
        scope = getattr(view, "rate_limit_scope", None)
        if scope == "signin":
            app.view_functions[endpoint] = limiter.shared_limit(config.rate_limit_signin, scope="signin")(view)
        elif scope == "write":
            app.view_functions[endpoint] = limiter.shared_limit(
                config.rate_limit_write, key_func=_wallet_or_client, scope="write"
            )(view)
