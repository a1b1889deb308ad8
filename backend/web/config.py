"""The web app's settings, read from the environment in one place.

Every value is checked here, at start-up: a bad one stops the app with a
message naming the variable, instead of failing on the first request that
needs it. The readers, the error and the paths are backend/settings.py's,
shared with every other process, so the oracle and the web app resolve the
same archive and database from any working directory.

| variable | default | meaning |
|---|---|---|
| VATIO_VAR_DIR | <repo>/var | the root of the default paths (backend/paths.py) |
| VATIO_DATABASE_URL | sqlite:///<var>/vatio.db | the oracle's database (read only here) |
| VATIO_RPC_URL | http://127.0.0.1:8545 | the chain's JSON-RPC endpoint |
| VATIO_DEPLOYMENT | deployments/<chainId>.json | the deployment file (addresses, ABIs) |
| VATIO_CHAIN_ID | asked from the RPC | which deployments/<chainId>.json to load |
| VATIO_DEPLOYMENTS_DIR | <repo>/deployments | the folder of the <chainId>.json deployment files |
| VATIO_REDIS_URL | none | Redis for Socket.IO, nonces, sessions and rate limits; in-process without it |
| VATIO_SECRET_KEY | random per process | signs the session cookie; required with Redis (several workers) |
| VATIO_ARCHIVE_DIR | <var>/archive | the readings archive, <dir>/<chainId>/<intervalId>.json |
| VATIO_SIWE_DOMAINS | localhost:5000,127.0.0.1:5000 | the host[:port] values a sign-in message may name |
| VATIO_COOKIE_SECURE | false | send the session cookie over HTTPS only |
| VATIO_RATE_LIMIT_SIGNIN | 20 per minute | per client address, for nonce and verify |
| VATIO_RATE_LIMIT_WRITE | 60 per minute | per signed-in wallet (else client address), for other POSTs |
| VATIO_LIVE_READINGS_PER_S | 2 | readings pushed per household room per second, at most |
| VATIO_SOCKETIO_CHANNEL | vatio | the Redis channel web workers and emitters share |
| VATIO_CORS_ORIGINS | same origin only | origins allowed to open a Socket.IO connection |
| VATIO_MQTT_URL | none | the broker, for /api/health only (whether it answers) |
| VATIO_SUMMARY_CACHE_S | 5 | seconds a computed community summary is served before it is recomputed (0: never cached) |
| VATIO_BROKER_AUTH_DIR | <var>/broker/auth if it exists | the broker's auth folder for the admin's meter logins |
| VATIO_TARIFFS_DIR | <var>/tariffs | the admin's uploaded tariff schedules (by hash), besides config/tariffs |
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from backend.chain.deploy import Deployment
from backend.db.session import DEFAULT_DATABASE_URL
from backend.paths import DEPLOYMENTS_DIR, VAR_DIR, absolute, var_dir
from backend.settings import (
    DEFAULT_RPC_URL,
    MQTT_SCHEMES,
    REDIS_SCHEMES,
    RPC_SCHEMES,
    SettingsError,
    check_database_url,
    check_url,
    env_value,
    parse_bool,
    parse_number,
    sqlite_url,
)

__all__ = ["Config", "ConfigError", "DEFAULT_ARCHIVE_DIR"]

DEFAULT_ARCHIVE_DIR = VAR_DIR / "archive"
DEFAULT_SIWE_DOMAINS = ("localhost:5000", "127.0.0.1:5000")
MIN_SECRET_KEY_CHARS = 32

# The web app's name for the error every process's settings raise.
ConfigError = SettingsError


@dataclass
class Config:
    """Everything the web app needs to start; build it with `from_env` or directly in tests."""

    database_url: str = DEFAULT_DATABASE_URL
    rpc_url: str | None = DEFAULT_RPC_URL
    # None: the chain-backed parts (sign-in roles, balances, previews) answer 503.
    deployment: Deployment | None = None
    redis_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    archive_dir: Path = DEFAULT_ARCHIVE_DIR
    siwe_domains: tuple[str, ...] = DEFAULT_SIWE_DOMAINS
    siwe_statement: str = "Sign in to Vatio, your energy community."
    cookie_secure: bool = False
    nonce_ttl_s: int = 300
    session_ttl_s: int = 12 * 3600
    # Roles are re-read from the chain when a session's copy is older than this.
    role_ttl_s: int = 300
    # A sign-in message may be dated this far in the future (clock skew).
    clock_skew_s: int = 60
    rate_limit_signin: str = "20 per minute"
    rate_limit_write: str = "60 per minute"
    rate_limits_enabled: bool = True
    # Time series: at most this many points per response, and this long a span.
    max_series_points: int = 2000
    max_series_span_s: int = 366 * 86400
    # Raw readings: at most this long a span per query, and this many rows per page.
    max_raw_span_s: int = 7 * 86400
    max_page_size: int = 500
    default_page_size: int = 100
    # Live numbers: power from the registers over this window; a meter silent longer is stale.
    live_window_s: int = 300
    stale_after_s: int = 900
    # Socket.IO
    socketio_channel: str = "vatio"
    # Redis keys of nonces, sessions and rate limits start with this.
    redis_prefix: str = "vatio:web:"
    live_readings_per_s: float = 2.0
    # The community summary is computed at most once per this many seconds per worker (0: every request):
    # its numbers move with readings (minutes apart), and a busy dashboard then costs the database nothing more.
    summary_cache_s: float = 5.0
    cors_origins: tuple[str, ...] = ()
    chain_timeout_s: float = 5.0
    # The broker, which /api/health asks whether it answers; None: not reported.
    mqtt_url: str | None = None
    # The broker's auth folder (backend/broker_auth.py) for the admin's meter logins; None: not managed here.
    broker_auth_dir: Path | None = None
    # Where uploaded tariff schedules are kept, named by their on-chain hash (backend/web/tariffs.py); None: not
    # kept, and the upload refuses nothing for it (tests build Config directly).
    tariffs_dir: Path | None = None
    # Secrets generated here are fine for one process only.
    secret_key_generated: bool = False

    def __post_init__(self) -> None:
        self.validate()

    @property
    def chain_id(self) -> int | None:
        return None if self.deployment is None else self.deployment.chain_id

    def validate(self) -> None:
        """Raise ConfigError for values that cannot work together."""
        check_database_url("VATIO_DATABASE_URL", self.database_url)
        if self.rpc_url is not None:
            check_url("VATIO_RPC_URL", self.rpc_url, RPC_SCHEMES)
        if self.mqtt_url is not None:
            check_url("VATIO_MQTT_URL", self.mqtt_url, MQTT_SCHEMES)
        if self.redis_url is not None:
            check_url("VATIO_REDIS_URL", self.redis_url, REDIS_SCHEMES)
            if self.secret_key_generated:
                raise ConfigError(
                    "VATIO_SECRET_KEY must be set when VATIO_REDIS_URL is: several workers share "
                    "sessions and must sign cookies with the same key"
                )
        if len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            raise ConfigError(f"VATIO_SECRET_KEY must be at least {MIN_SECRET_KEY_CHARS} characters")
        if not self.siwe_domains or any(not _is_authority(d) for d in self.siwe_domains):
            raise ConfigError(
                f"VATIO_SIWE_DOMAINS must list host[:port] values, comma-separated; got {self.siwe_domains!r}"
            )
        for name in (
            "nonce_ttl_s",
            "session_ttl_s",
            "role_ttl_s",
            "max_series_points",
            "max_series_span_s",
            "max_raw_span_s",
            "max_page_size",
            "default_page_size",
            "live_window_s",
            "stale_after_s",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.default_page_size > self.max_page_size:
            raise ConfigError("default_page_size must not exceed max_page_size")
        if self.live_readings_per_s <= 0:
            raise ConfigError("VATIO_LIVE_READINGS_PER_S must be positive")
        if not 0 <= self.summary_cache_s <= 3600:
            raise ConfigError(f"VATIO_SUMMARY_CACHE_S must be between 0 and 3600 seconds, got {self.summary_cache_s}")
        _check_rate_limit("VATIO_RATE_LIMIT_SIGNIN", self.rate_limit_signin)
        _check_rate_limit("VATIO_RATE_LIMIT_WRITE", self.rate_limit_write)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read the VATIO_* variables; raise ConfigError naming the first bad one."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env_value(env, name)

        var = var_dir(env)
        archive_dir = get("VATIO_ARCHIVE_DIR")
        rpc_url = get("VATIO_RPC_URL") or DEFAULT_RPC_URL
        secret_key = get("VATIO_SECRET_KEY")
        kwargs: dict = dict(
            database_url=get("VATIO_DATABASE_URL") or sqlite_url(var / "vatio.db"),
            rpc_url=rpc_url,
            redis_url=get("VATIO_REDIS_URL"),
            mqtt_url=get("VATIO_MQTT_URL"),
            secret_key=secret_key or secrets.token_hex(32),
            secret_key_generated=secret_key is None,
            archive_dir=absolute(archive_dir) if archive_dir else var / "archive",
            cookie_secure=parse_bool("VATIO_COOKIE_SECURE", get("VATIO_COOKIE_SECURE")),
            broker_auth_dir=_broker_auth_dir(get("VATIO_BROKER_AUTH_DIR"), var),
            tariffs_dir=absolute(tariffs_dir) if (tariffs_dir := get("VATIO_TARIFFS_DIR")) else var / "tariffs",
        )
        if domains := get("VATIO_SIWE_DOMAINS"):
            kwargs["siwe_domains"] = tuple(d.strip() for d in domains.split(",") if d.strip())
        if origins := get("VATIO_CORS_ORIGINS"):
            kwargs["cors_origins"] = tuple(o.strip() for o in origins.split(",") if o.strip())
        if limit := get("VATIO_RATE_LIMIT_SIGNIN"):
            kwargs["rate_limit_signin"] = limit
        if limit := get("VATIO_RATE_LIMIT_WRITE"):
            kwargs["rate_limit_write"] = limit
        if channel := get("VATIO_SOCKETIO_CHANNEL"):
            kwargs["socketio_channel"] = channel
        if rate := get("VATIO_LIVE_READINGS_PER_S"):
            kwargs["live_readings_per_s"] = parse_number("VATIO_LIVE_READINGS_PER_S", rate)
        if seconds := get("VATIO_SUMMARY_CACHE_S"):
            kwargs["summary_cache_s"] = parse_number("VATIO_SUMMARY_CACHE_S", seconds)
        config = cls(**kwargs)  # validates the plain values before the chain is asked anything
        deployments = get("VATIO_DEPLOYMENTS_DIR")
        config.deployment = _resolve_deployment(
            get("VATIO_DEPLOYMENT"),
            get("VATIO_CHAIN_ID"),
            rpc_url,
            absolute(deployments) if deployments else DEPLOYMENTS_DIR,
        )
        return config


def _resolve_deployment(path: str | None, chain_id: str | None, rpc_url: str, deployments_dir: Path) -> Deployment:
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"VATIO_DEPLOYMENT: no such file {file}")
        try:
            return Deployment.read(file)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"VATIO_DEPLOYMENT: {file} is not a deployment file ({exc})") from exc
    if chain_id is not None:
        number = parse_number("VATIO_CHAIN_ID", chain_id)
        if number != int(number) or number <= 0:
            raise ConfigError(f"VATIO_CHAIN_ID must be a positive integer, got {chain_id!r}")
        resolved = int(number)
    else:
        from backend.chain.anvil import rpc_call

        try:
            resolved = int(rpc_call(rpc_url, "eth_chainId", timeout=5.0), 16)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot ask {rpc_url} for its chain id ({exc}); start the chain, or set VATIO_DEPLOYMENT "
                "or VATIO_CHAIN_ID"
            ) from exc
    file = deployments_dir / f"{resolved}.json"
    if not file.is_file():
        raise ConfigError(f"no deployment for chain {resolved} ({file}): run `vatio deploy` or set VATIO_DEPLOYMENT")
    return Deployment.read(file)


def _broker_auth_dir(value: str | None, var: Path) -> Path | None:
    """The folder named, which must exist; else the demo's <var>/broker/auth when it exists; else None."""
    if value is None:
        demo = var / "broker" / "auth"
        return demo if demo.is_dir() else None
    folder = absolute(value)
    if not folder.is_dir():
        raise ConfigError(f"VATIO_BROKER_AUTH_DIR: no such folder {folder}")
    return folder


def _check_rate_limit(name: str, value: str) -> None:
    from limits import parse_many

    try:
        if not parse_many(value):
            raise ValueError("empty")
    except ValueError as exc:
        raise ConfigError(f"{name}: {value!r} is not a rate limit such as '20 per minute'") from exc


def _is_authority(value: str) -> bool:
    parsed = urlparse(f"//{value}")
    try:
        parsed.port  # noqa: B018
    except ValueError:
        return False
    return bool(parsed.hostname) and parsed.netloc == value and "@" not in value
