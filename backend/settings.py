"""Every process's settings, read from the environment once, at start-up.

One settings object per process:

| process | settings |
|---|---|
| `vatio oracle` | `OracleSettings` |
| `vatio serve` (the web app) | `backend.web.config.Config`, and `ServeSettings` (the server) |
| `vatio audit` | `AuditSettings` |
| `vatio train`, `vatio forecast` | `ForecastSettings` |
| `vatio demo` | `DemoSettings` |
| `vatio deploy`, `vatio simulate` | `DeploySettings`, `SimulatorSettings` |

`from_env(environ, **given)` takes each value from the command line first
(`given`; None means the option was not given), then from its VATIO_*
variable, then the default, and checks the result: a value that cannot work
stops the process with a `SettingsError` naming the variable, before any
work starts. Click options therefore default to None and show the variable.

Every default path is under one var root, so a process finds the same files
whatever directory it starts in:

| variable | default | read by |
|---|---|---|
| VATIO_VAR_DIR | <repo>/var | all: the root of the default paths below |
| VATIO_DATABASE_URL | sqlite:///<var>/vatio.db | oracle, web, forecast, demo |
| VATIO_ARCHIVE_DIR | <var>/archive | oracle (writes), web (serves), audit (reads) |
| VATIO_MODEL_DIR | <var>/models | forecast |
| VATIO_RPC_URL | http://127.0.0.1:8545 | oracle, web, audit, deploy, simulate |
| VATIO_DEPLOYMENT | <deployments>/<chainId>.json | oracle, web, audit, simulate |
| VATIO_DEPLOYMENTS_DIR | <repo>/deployments | where deployment files are read and written |
| VATIO_MQTT_URL | mqtt://127.0.0.1:1883 (a user:password@ part logs in) | oracle, simulate, demo |
| VATIO_MQTT_USERNAME, VATIO_MQTT_PASSWORD_FILE | none: anonymous, or the URL's user | oracle, simulate |
| VATIO_MQTT_CREDENTIALS_DIR | none: one connection for all meters | simulate: each meter logs in as itself |
| VATIO_ORACLE_KEY | Anvil's first account, local chains only | oracle |
| VATIO_DEPLOYER_KEY, VATIO_KEYSTORE_PASSWORD | Anvil's first account, local chains only | deploy |
| VATIO_NETWORK | local | deploy: local, chiado, gnosis, volta, ewc (docs/networks.md) |
| VATIO_RPC_URL_<NETWORK> | VATIO_RPC_URL | deploy: the named network's node, e.g. VATIO_RPC_URL_CHIADO |
| VATIO_DEPLOYER_KEYSTORE, VATIO_KEYSTORE_PASSWORD_FILE | none: a prompt for the password | deploy (docs/keys.md) |
| VATIO_ORACLE_KEYSTORE, VATIO_ORACLE_PASSWORD_FILE | none: VATIO_ORACLE_KEY on local chains | oracle |
| VATIO_REDIS_URL | none (demo: redis://127.0.0.1:6379/0 when it answers) | oracle, web, forecast, demo |
| VATIO_SOCKETIO_CHANNEL | vatio | oracle, web, forecast |
| VATIO_LIVE_READINGS_PER_S | 2 | oracle, web |
| VATIO_ORACLE_ROLE | all | oracle: ingest (MQTT only), settle (the leader-elected settler and indexer), all |
| VATIO_METRICS_PORT | none: no metrics server | oracle: Prometheus /metrics on this port |
| VATIO_WEB_HOST, VATIO_WEB_PORT, VATIO_WEB_WORKERS | 127.0.0.1, 5000, 1 | serve: where it listens; workers |

The web app's own variables are listed in backend/web/config.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlparse

from backend.paths import DEPLOYMENTS_DIR, VAR_DIR, absolute, var_dir

__all__ = [
    "AuditSettings",
    "ChainSettings",
    "DemoSettings",
    "DeploySettings",
    "ForecastSettings",
    "OracleSettings",
    "ServeSettings",
    "SettingsError",
    "SimulatorSettings",
    "check_url",
    "env_value",
    "parse_bool",
    "parse_number",
    "sqlite_url",
]

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_DEMO_REDIS_URL = "redis://127.0.0.1:6379/0"
RPC_SCHEMES = ("http", "https", "ws", "wss")
REDIS_SCHEMES = ("redis", "rediss", "unix")
MQTT_SCHEMES = ("mqtt", "tcp")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_PRIVATE_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
ORACLE_ROLES = ("all", "ingest", "settle")

S = TypeVar("S", bound="_Settings")


class SettingsError(ValueError):
    """A setting that cannot work; the message names the variable and what is expected."""


# --- readers shared by every process's settings (the web app's too) -----------------------------


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    """Return the variable's value without surrounding blanks; None when unset or empty."""
    value = environ.get(name, "").strip()
    return value or None


def parse_bool(name: str, value: str | None) -> bool:
    lowered = (value or "").lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def parse_number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {value!r}") from exc


def parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from exc


def check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    """Raise SettingsError naming `name` unless `url` has one of `schemes`, a host (but unix:) and a good port."""
    parsed = urlparse(url)
    if parsed.scheme not in schemes or (parsed.scheme != "unix" and not parsed.hostname):
        raise SettingsError(f"{name} must be a {'/'.join(schemes)} URL with a host, got {url!r}")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise SettingsError(f"{name}: bad port in {url!r}") from exc


def check_database_url(name: str, url: str) -> None:
    from backend.db.session import DatabaseConfigError, parse_database_url

    try:
        parse_database_url(url)
    except DatabaseConfigError as exc:
        raise SettingsError(str(exc).replace("VATIO_DATABASE_URL", name, 1)) from exc


def mqtt_login_from(url: str, username: str | None, password_file: Path | None) -> tuple[str | None, str | None]:
    """(username, password) to log in to the broker: the settings' username and password file, else the URL's."""
    parsed = urlparse(url)
    password = parsed.password
    if password_file is not None:
        lines = Path(password_file).read_text().splitlines()
        password = lines[0] if lines else ""
    return username or parsed.username, password


def check_mqtt_login(username: str | None, password_file: Path | None) -> None:
    if password_file is not None and not password_file.is_file():
        raise SettingsError(f"VATIO_MQTT_PASSWORD_FILE: no such file {password_file}")
    if password_file is not None and username is None:
        raise SettingsError("VATIO_MQTT_PASSWORD_FILE needs VATIO_MQTT_USERNAME (whose password it holds)")
    if username is not None and (not username or ":" in username):
        raise SettingsError(f"VATIO_MQTT_USERNAME must be a non-empty name without ':', got {username!r}")


def sqlite_url(path: Path) -> str:
    """Return the SQLite URL of the database file at `path`."""
    return f"sqlite:///{path}"


def _text(name: str, value: str) -> str:
    return value


def _path(name: str, value: str) -> Path:
    return absolute(value)


def _float(name: str, value: str) -> float:
    return parse_number(name, value)


# --- the settings objects ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """A process's settings: `from_env` reads them; building one directly (tests) checks them the same way."""

    # field -> (variable, how to read its text)
    variables: ClassVar[dict[str, tuple[str, Callable[[str, str], Any]]]] = {}
    # fields holding a path: made absolute once, here
    path_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self.path_fields:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | Path):
                raise SettingsError(f"{name} must be a path, got {value!r}")
            if value is not None:
                object.__setattr__(self, name, absolute(value))
        self.validate()

    def validate(self) -> None:
        """Raise SettingsError for values that cannot work."""

    @classmethod
    def var_defaults(cls, var: Path) -> dict[str, Any]:
        """The defaults that live under the var root."""
        return {}

    @classmethod
    def from_env(cls: type[S], environ: Mapping[str, str] | None = None, **given: Any) -> S:
        """Read the settings: the values `given` (None: not given), else the VATIO_* variables, else the defaults.

        Raises SettingsError naming the first variable that cannot work; a
        variable whose value was given on the command line is not read.
        """
        env = os.environ if environ is None else environ
        var = absolute(given["var_dir"]) if given.get("var_dir") is not None else var_dir(env)
        known = {f.name for f in fields(cls)}
        unknown = set(given) - known
        if unknown:
            raise TypeError(f"{cls.__name__} has no setting {sorted(unknown)}")
        values: dict[str, Any] = {name: value for name, value in cls.var_defaults(var).items() if name in known}
        for name, (variable, read) in cls.variables.items():
            if given.get(name) is None and (text := env_value(env, variable)) is not None:
                values[name] = read(variable, text)
        values.update({name: value for name, value in given.items() if value is not None})
        return cls(**values)


@dataclass(frozen=True)
class ChainSettings(_Settings):
    """What every process that talks to the community's contracts needs: the node and the deployment file."""

    rpc_url: str = DEFAULT_RPC_URL
    # The deployment file; None: <deployments_dir>/<chainId>.json for the node's chain.
    deployment: Path | None = None
    deployments_dir: Path = DEPLOYMENTS_DIR

    variables: ClassVar = {
        "rpc_url": ("VATIO_RPC_URL", _text),
        "deployment": ("VATIO_DEPLOYMENT", _path),
        "deployments_dir": ("VATIO_DEPLOYMENTS_DIR", _path),
    }
    path_fields: ClassVar = ("deployment", "deployments_dir")

    def validate(self) -> None:
        check_url("VATIO_RPC_URL", self.rpc_url, RPC_SCHEMES)
        if self.deployment is not None and not self.deployment.is_file():
            raise SettingsError(f"VATIO_DEPLOYMENT: no such file {self.deployment}")
        if self.deployments_dir.exists() and not self.deployments_dir.is_dir():
            raise SettingsError(f"VATIO_DEPLOYMENTS_DIR: {self.deployments_dir} is not a folder")

    def deployment_file(self, chain_id: int) -> Path:
        """Return the deployment file to read for the node's chain."""
        return self.deployment or self.deployments_dir / f"{chain_id}.json"

    def load_deployment(self, chain_id: int):
        """Return the Deployment for the node's chain; SettingsError when there is none or it is another chain's."""
        from backend.chain.deploy import Deployment

        path = self.deployment_file(chain_id)
        if not path.is_file():
            raise SettingsError(
                f"no deployment for chain {chain_id} ({path}): run `vatio deploy` first, or set VATIO_DEPLOYMENT"
            )
        try:
            deployment = Deployment.read(path)
        except (ValueError, KeyError, TypeError) as exc:
            raise SettingsError(f"VATIO_DEPLOYMENT: {path} is not a deployment file ({exc!r})") from exc
        if deployment.chain_id != chain_id:
            raise SettingsError(f"{path} is for chain {deployment.chain_id}, the node is on chain {chain_id}")
        return deployment


@dataclass(frozen=True)
class OracleSettings(ChainSettings):
    """`vatio oracle`: ingest from MQTT, settle, archive and index."""

    community: str = "demo"
    mqtt_url: str = DEFAULT_MQTT_URL
    # The broker login (the `oracle` user of config/mosquitto.acl); None: the URL's, or anonymous.
    mqtt_username: str | None = None
    mqtt_password_file: Path | None = None
    database_url: str = sqlite_url(VAR_DIR / "vatio.db")
    archive_dir: Path = VAR_DIR / "archive"
    # The key holding ORACLE_ROLE; None: Anvil's first account, on local chains only.
    oracle_key: str | None = field(default=None, repr=False)
    # Or, on any chain, its keystore and the file holding its password (docs/keys.md).
    oracle_keystore: Path | None = None
    oracle_password_file: Path | None = None
    # Socket.IO message queue for live pushes to the web app; None: no pushes.
    redis_url: str | None = None
    socketio_channel: str = "vatio"
    live_readings_per_s: float = 2.0
    # MQTT 5 shared subscription group, to split the meters over several oracles.
    share_group: str | None = None
    # The MQTT client id, which keys the broker's persistent session; None: vatio-oracle-<community>.
    client_id: str | None = None
    settle: bool = True
    index: bool = True
    grace_s: int = 60
    confirmations: int = 1
    settle_poll_s: float = 1.0
    # Settlement fees (docs/outbox.md): the most the oracle pays per gas, required off local chains; how long a
    # transaction may wait unmined before it is replaced at the same nonce; and the replacement's fee factor.
    max_fee_gwei: float | None = None
    stuck_after_s: float = 180.0
    fee_bump: float = 1.125
    # What this process does (docs/production.md): ingest (the MQTT workers, any number, with share_group),
    # settle (settler and indexer, several standing by: a PostgreSQL advisory lock elects the one that acts), or all.
    role: str = "all"
    # Prometheus /metrics on this port (prometheus_client's server); None: none.
    metrics_port: int | None = None

    variables: ClassVar = {
        **ChainSettings.variables,
        "role": ("VATIO_ORACLE_ROLE", _text),
        "metrics_port": ("VATIO_METRICS_PORT", lambda name, value: parse_int(name, value)),
        "max_fee_gwei": ("VATIO_MAX_FEE_GWEI", _float),
        "stuck_after_s": ("VATIO_STUCK_AFTER_S", _float),
        "fee_bump": ("VATIO_FEE_BUMP", _float),
        "mqtt_url": ("VATIO_MQTT_URL", _text),
        "mqtt_username": ("VATIO_MQTT_USERNAME", _text),
        "mqtt_password_file": ("VATIO_MQTT_PASSWORD_FILE", _path),
        "database_url": ("VATIO_DATABASE_URL", _text),
        "archive_dir": ("VATIO_ARCHIVE_DIR", _path),
        "oracle_key": ("VATIO_ORACLE_KEY", _text),
        "oracle_keystore": ("VATIO_ORACLE_KEYSTORE", _path),
        "oracle_password_file": ("VATIO_ORACLE_PASSWORD_FILE", _path),
        "redis_url": ("VATIO_REDIS_URL", _text),
        "socketio_channel": ("VATIO_SOCKETIO_CHANNEL", _text),
        "live_readings_per_s": ("VATIO_LIVE_READINGS_PER_S", _float),
    }
    path_fields: ClassVar = (*ChainSettings.path_fields, "archive_dir", "mqtt_password_file")
    path_fields += ("oracle_keystore", "oracle_password_file")

    @classmethod
    def var_defaults(cls, var: Path) -> dict[str, Any]:
        return {"database_url": sqlite_url(var / "vatio.db"), "archive_dir": var / "archive"}

    @property
    def mqtt_client_id(self) -> str:
        return self.client_id or f"vatio-oracle-{self.community}"

    def mqtt_login(self) -> tuple[str | None, str | None]:
        return mqtt_login_from(self.mqtt_url, self.mqtt_username, self.mqtt_password_file)

    def validate(self) -> None:
        super().validate()
        if not self.community or any(c in self.community for c in "/+#"):
            raise SettingsError(f"the community name must be one MQTT topic level (no / + #), got {self.community!r}")
        check_url("VATIO_MQTT_URL", self.mqtt_url, MQTT_SCHEMES)
        check_mqtt_login(self.mqtt_username, self.mqtt_password_file)
        check_database_url("VATIO_DATABASE_URL", self.database_url)
        _check_folder("VATIO_ARCHIVE_DIR", self.archive_dir)
        if self.oracle_key is not None and not _PRIVATE_KEY.fullmatch(self.oracle_key):
            raise SettingsError("VATIO_ORACLE_KEY must be a private key: 64 hex digits, 0x optional")
        if self.oracle_keystore is not None and not self.oracle_keystore.is_file():
            raise SettingsError(f"VATIO_ORACLE_KEYSTORE: no such file {self.oracle_keystore}")
        if self.oracle_password_file is not None and not self.oracle_password_file.is_file():
            raise SettingsError(f"VATIO_ORACLE_PASSWORD_FILE: no such file {self.oracle_password_file}")
        if self.redis_url is not None:
            check_url("VATIO_REDIS_URL", self.redis_url, REDIS_SCHEMES)
        if not self.socketio_channel:
            raise SettingsError("VATIO_SOCKETIO_CHANNEL must not be empty")
        if self.live_readings_per_s <= 0:
            raise SettingsError(f"VATIO_LIVE_READINGS_PER_S must be positive, got {self.live_readings_per_s}")
        if self.grace_s < 0:
            raise SettingsError(f"the grace (--grace) must be 0 s or more, got {self.grace_s}")
        if self.confirmations < 1:
            raise SettingsError(
                f"--confirmations must be at least 1 (the block holding the receipt), got {self.confirmations}"
            )
        if self.settle_poll_s <= 0:
            raise SettingsError(f"settle_poll_s must be positive, got {self.settle_poll_s}")
        if self.max_fee_gwei is not None and self.max_fee_gwei <= 0:
            raise SettingsError(f"VATIO_MAX_FEE_GWEI must be positive, got {self.max_fee_gwei}")
        if self.stuck_after_s <= 0:
            raise SettingsError(f"VATIO_STUCK_AFTER_S must be positive, got {self.stuck_after_s}")
        if self.fee_bump < 1.1:
            raise SettingsError(
                f"VATIO_FEE_BUMP must be at least 1.1 (nodes refuse a replacement paying less than "
                f"10% more), got {self.fee_bump}"
            )
        if self.role not in ORACLE_ROLES:
            raise SettingsError(
                f"VATIO_ORACLE_ROLE (--role) must be one of {', '.join(ORACLE_ROLES)}, got {self.role!r}"
            )
        if self.metrics_port is not None and not 0 < self.metrics_port < 65536:
            raise SettingsError(f"VATIO_METRICS_PORT must be a TCP port (1-65535), got {self.metrics_port}")

    @property
    def ingests(self) -> bool:
        """Whether this process subscribes to the readings."""
        return self.role in ("all", "ingest")

    @property
    def settles(self) -> bool:
        """Whether this process runs a settler (leader-elected on PostgreSQL)."""
        return self.role in ("all", "settle") and self.settle

    @property
    def indexes(self) -> bool:
        return self.role in ("all", "settle") and self.index

    @property
    def max_fee_per_gas_wei(self) -> int | None:
        return None if self.max_fee_gwei is None else int(self.max_fee_gwei * 10**9)


@dataclass(frozen=True)
class AuditSettings(ChainSettings):
    """`vatio audit`: the chain plus the readings archive, a folder or the web app's URL base."""

    archive: str = str(VAR_DIR / "archive")

    variables: ClassVar = {**ChainSettings.variables, "archive": ("VATIO_ARCHIVE_DIR", _text)}

    @classmethod
    def var_defaults(cls, var: Path) -> dict[str, Any]:
        return {"archive": str(var / "archive")}

    def __post_init__(self) -> None:
        if not _is_web_url(self.archive):  # a folder: absolute, like every other path
            object.__setattr__(self, "archive", str(absolute(self.archive)))
        super().__post_init__()

    def validate(self) -> None:
        super().validate()
        if _is_web_url(self.archive):
            check_url("VATIO_ARCHIVE_DIR", self.archive, ("http", "https"))
        else:
            _check_folder("VATIO_ARCHIVE_DIR", Path(self.archive))


@dataclass(frozen=True)
class SimulatorSettings(ChainSettings):
    """`vatio simulate`: the meters publish to the broker and read the deployment from the chain."""

    mqtt_url: str = DEFAULT_MQTT_URL
    # One login for every meter's connection; None: the URL's, or anonymous.
    mqtt_username: str | None = None
    mqtt_password_file: Path | None = None
    # A folder of <checksummed meter address>.password files: each meter connects and logs in as itself.
    mqtt_credentials_dir: Path | None = None

    variables: ClassVar = {
        **ChainSettings.variables,
        "mqtt_url": ("VATIO_MQTT_URL", _text),
        "mqtt_username": ("VATIO_MQTT_USERNAME", _text),
        "mqtt_password_file": ("VATIO_MQTT_PASSWORD_FILE", _path),
        "mqtt_credentials_dir": ("VATIO_MQTT_CREDENTIALS_DIR", _path),
    }
    path_fields: ClassVar = (*ChainSettings.path_fields, "mqtt_password_file", "mqtt_credentials_dir")

    def validate(self) -> None:
        super().validate()
        check_url("VATIO_MQTT_URL", self.mqtt_url, MQTT_SCHEMES)
        check_mqtt_login(self.mqtt_username, self.mqtt_password_file)
        if self.mqtt_credentials_dir is not None and not self.mqtt_credentials_dir.is_dir():
            raise SettingsError(f"VATIO_MQTT_CREDENTIALS_DIR: no such folder {self.mqtt_credentials_dir}")

    def mqtt_login(self) -> tuple[str | None, str | None]:
        return mqtt_login_from(self.mqtt_url, self.mqtt_username, self.mqtt_password_file)


@dataclass(frozen=True)
class DeploySettings(ChainSettings):
    """`vatio deploy`: the network and its node, the deployer's key, and where the deployment file is written.

    The node's URL: --rpc-url, else VATIO_RPC_URL_<NETWORK> (VATIO_RPC_URL_CHIADO...), else VATIO_RPC_URL;
    a public network needs one of them set (docs/networks.md).
    """

    network: str = "local"
    # A raw key: local chains only (backend/chain/keys.py refuses it elsewhere).
    deployer_key: str | None = field(default=None, repr=False)
    keystore: Path | None = None
    keystore_password_file: Path | None = None
    keystore_password: str | None = field(default=None, repr=False)

    variables: ClassVar = {
        **ChainSettings.variables,
        "network": ("VATIO_NETWORK", _text),
        "deployer_key": ("VATIO_DEPLOYER_KEY", _text),
        "keystore": ("VATIO_DEPLOYER_KEYSTORE", _path),
        "keystore_password_file": ("VATIO_KEYSTORE_PASSWORD_FILE", _path),
        "keystore_password": ("VATIO_KEYSTORE_PASSWORD", _text),
    }
    path_fields: ClassVar = (*ChainSettings.path_fields, "keystore", "keystore_password_file")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **given: Any) -> DeploySettings:
        from backend.chain.networks import NETWORKS

        env = os.environ if environ is None else environ
        name = given.get("network") or env_value(env, "VATIO_NETWORK") or cls.network
        if name not in NETWORKS:
            raise SettingsError(f"VATIO_NETWORK (--network) must be one of {', '.join(NETWORKS)}, got {name!r}")
        if given.get("rpc_url") is None:
            variable = NETWORKS[name].rpc_url_variable
            url = env_value(env, variable) or env_value(env, "VATIO_RPC_URL")
            if url is None and not NETWORKS[name].local:
                raise SettingsError(f"{variable} must name the {name} node's RPC URL (or give --rpc-url)")
            given = {**given, "rpc_url": url}
        return super().from_env(environ, **given)

    def validate(self) -> None:
        super().validate()
        if self.keystore is not None and not self.keystore.is_file():
            raise SettingsError(f"VATIO_DEPLOYER_KEYSTORE (--keystore): no such file {self.keystore}")
        if self.keystore_password_file is not None and not self.keystore_password_file.is_file():
            raise SettingsError(
                f"VATIO_KEYSTORE_PASSWORD_FILE (--password-file): no such file {self.keystore_password_file}"
            )


@dataclass(frozen=True)
class ForecastSettings(_Settings):
    """`vatio train` and `vatio forecast`: the oracle's database, the models, and where runs are written."""

    database_url: str = sqlite_url(VAR_DIR / "vatio.db")
    model_dir: Path = VAR_DIR / "models"
    # dataset and csv runs are written here (db runs go to the database)
    forecasts_file: Path = VAR_DIR / "forecasts" / "latest.json"
    # `vatio forecast evaluate` keeps its training checkpoints here
    eval_dir: Path = VAR_DIR / "forecast-eval"
    # Socket.IO message queue to push a stored run to browsers; None: no push.
    redis_url: str | None = None
    socketio_channel: str = "vatio"

    variables: ClassVar = {
        "database_url": ("VATIO_DATABASE_URL", _text),
        "model_dir": ("VATIO_MODEL_DIR", _path),
        "redis_url": ("VATIO_REDIS_URL", _text),
        "socketio_channel": ("VATIO_SOCKETIO_CHANNEL", _text),
    }
    path_fields: ClassVar = ("model_dir", "forecasts_file", "eval_dir")

    @classmethod
    def var_defaults(cls, var: Path) -> dict[str, Any]:
        return {
            "database_url": sqlite_url(var / "vatio.db"),
            "model_dir": var / "models",
            "forecasts_file": var / "forecasts" / "latest.json",
            "eval_dir": var / "forecast-eval",
        }

    def validate(self) -> None:
        check_database_url("VATIO_DATABASE_URL", self.database_url)
        _check_folder("VATIO_MODEL_DIR", self.model_dir)
        _check_folder("--checkpoint-dir", self.eval_dir)
        if self.forecasts_file.is_dir():
            raise SettingsError(f"the forecasts file {self.forecasts_file} is a folder")
        if self.redis_url is not None:
            check_url("VATIO_REDIS_URL", self.redis_url, REDIS_SCHEMES)
        if not self.socketio_channel:
            raise SettingsError("VATIO_SOCKETIO_CHANNEL must not be empty")


@dataclass(frozen=True)
class ServeSettings(_Settings):
    """`vatio serve --production`: where gunicorn listens and how many gevent workers it runs (docs/production.md)."""

    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    # Seconds a worker may take to answer before gunicorn restarts it.
    timeout_s: int = 30

    variables: ClassVar = {
        "host": ("VATIO_WEB_HOST", _text),
        "port": ("VATIO_WEB_PORT", lambda name, value: parse_int(name, value)),
        "workers": ("VATIO_WEB_WORKERS", lambda name, value: parse_int(name, value)),
    }

    def validate(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise SettingsError(f"VATIO_WEB_HOST must be a host name or address, got {self.host!r}")
        if not 0 < self.port < 65536:
            raise SettingsError(f"VATIO_WEB_PORT (--port) must be a TCP port (1-65535), got {self.port}")
        if not 1 <= self.workers <= 64:
            raise SettingsError(f"VATIO_WEB_WORKERS (--workers) must be between 1 and 64, got {self.workers}")

    @property
    def bind(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DemoSettings(_Settings):
    """`vatio demo`: where its state lives, and the services it uses or starts; its children inherit them."""

    var_dir: Path = VAR_DIR
    mqtt_url: str = DEFAULT_MQTT_URL
    # Redis for live pushes, used when it answers.
    redis_url: str = DEFAULT_DEMO_REDIS_URL
    database_url: str = sqlite_url(VAR_DIR / "vatio.db")
    deployments_dir: Path = DEPLOYMENTS_DIR
    chain_port: int = 8545
    web_port: int = 5000

    variables: ClassVar = {
        "mqtt_url": ("VATIO_MQTT_URL", _text),
        "redis_url": ("VATIO_REDIS_URL", _text),
        "database_url": ("VATIO_DATABASE_URL", _text),
        "deployments_dir": ("VATIO_DEPLOYMENTS_DIR", _path),
    }
    path_fields: ClassVar = ("var_dir", "deployments_dir")

    @classmethod
    def var_defaults(cls, var: Path) -> dict[str, Any]:
        return {"var_dir": var, "database_url": sqlite_url(var / "vatio.db")}

    @property
    def archive_dir(self) -> Path:
        return self.var_dir / "archive"

    def validate(self) -> None:
        _check_folder("VATIO_VAR_DIR", self.var_dir)
        check_url("VATIO_MQTT_URL", self.mqtt_url, MQTT_SCHEMES)
        check_url("VATIO_REDIS_URL", self.redis_url, REDIS_SCHEMES)
        check_database_url("VATIO_DATABASE_URL", self.database_url)
        for name, port in (("--port", self.chain_port), ("--web-port", self.web_port)):
            if not 0 < port < 65536:
                raise SettingsError(f"{name} must be a TCP port (1-65535), got {port}")
        if self.chain_port == self.web_port:
            raise SettingsError(f"--port and --web-port must differ, both are {self.chain_port}")


def _check_folder(name: str, path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{name}: {path} is a file, not a folder")


def _is_web_url(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https")
