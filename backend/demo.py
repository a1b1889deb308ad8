"""`vatio demo`: a whole local community from one command.

Starts, in order, and stops in reverse on Ctrl-C:
  1. a local Anvil chain with saved state (var/chain), the contracts deployed
     or found again after a restart;
  2. an MQTT broker: --broker URL, or the one answering at $VATIO_MQTT_URL
     (default mqtt://127.0.0.1:1883), or (--broker own, or when none answers)
     Mosquitto started with the repo's config and its auth (var/broker): no anonymous
     clients, each simulated meter logs in as its address and may publish
     only its own topic, the oracle as `oracle`; their passwords are made
     once, in var/broker/auth/passwords (docs/meters.md);
  3. a community of 20 households with meters and standing auto orders: the
     first five are Anvil accounts whose keys it prints (the browser's wallet menu
     offers them as "Demo household 1-5" without MetaMask);
  4. the oracle (`vatio oracle`, its own process): ingest, close, settle,
     archive, index;
  5. the simulated meters, replaying the last day faster than real time and
     then following the clock;
  6. the forecaster (`vatio forecast run --source db --stand-in`), on a schedule; its
     first run trains small bootstrap models from the shipped datasets, and until
     the replay holds a week, each run forecasts the community's load from a
     stand-in history (labelled so in every row);
  7. the web app (`vatio serve`), live through Redis (--redis-url, else
     $VATIO_REDIS_URL or the default) when Redis answers.
It prints which broker and which Redis it chose, and why.

Everything lives under the var root ($VATIO_VAR_DIR, else <repo>/var; see
backend/settings.py's DemoSettings), so a second run resumes: the chain keeps
its state, the meters continue their registers and sequence numbers, and the
oracle its database. A fresh chain (state deleted) starts the rest afresh.
The children get the demo's settings through their environment, so they
resolve the same files from any directory.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from backend.broker import MosquittoBroker, broker_answers, start_mosquitto
from backend.broker_auth import ORACLE_USER, BrokerAuth
from backend.chain.anvil import AnvilNode, StateSaver, keep_clock_moving, start_anvil
from backend.chain.deploy import (
    ANVIL_DEPLOYER_KEY,
    CommunitySettings,
    Deployment,
    deploy_community,
    is_deployed,
    load_deployment,
)
from backend.meters.registration import register_meters
from backend.meters.simulator import SimulatedMeter, simulated_keys
from backend.paths import REPO_ROOT
from backend.processes import stop_process_group, tcp_answers
from backend.settings import (
    MQTT_SCHEMES,
    REDIS_SCHEMES,
    DemoSettings,
    SettingsError,
    check_url,
)

COMMUNITY = "demo"
# The demo community bills on the Spanish 2.0TD-like example (an example, not advice).
SPANISH_EXAMPLE_TARIFF = REPO_ROOT / "config" / "tariffs" / "es-2.0td-example.toml"
HOUSEHOLDS = 20
INTERVAL_S = CommunitySettings.interval_seconds  # the market's interval
SIMULATION_SEED = 1
# Eight days of history: the forecasts look back seven days before the day they issue.
REPLAY_DAYS = 8
REPLAY_SPEED = 3000.0  # a replayed day takes about 30 s
FORECAST_EVERY_S = 900  # hourly in production; more often here so the first forecast comes soon
GRACE_S = 60
# An empty block when the newest is this old, and one at each interval's end: each adds about 3.4 kB to
# the saved chain state (`vatio chain` beats every 5 s), so a day of demo adds 5 MB, not 59 MB.
HEARTBEAT_IDLE_S = 30.0
# Anvil's default accounts 2..6 (the public test mnemonic): demo households.
DEMO_HOUSEHOLD_KEYS = [
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
]


def demo_meter_key(index: int) -> str:
    """Deterministic demo meter keys, so a restarted demo finds its meters."""
    return "0x" + keccak(text=f"vatio demo meter {index}").hex()


def demo_meters(households: int = HOUSEHOLDS, seed: int = SIMULATION_SEED) -> list[SimulatedMeter]:
    """The demo's meters: the first ones belong to the printed Anvil accounts."""
    meters = []
    for index in range(households):
        if index < len(DEMO_HOUSEHOLD_KEYS):
            meters.append(SimulatedMeter(index, DEMO_HOUSEHOLD_KEYS[index], demo_meter_key(index)))
        else:
            meters.append(SimulatedMeter(index, *simulated_keys(seed, index)))
    return meters


@dataclass
class DemoCommunity:
    node: AnvilNode
    deployment: Deployment
    deployment_path: Path
    fresh: bool  # deployed now, not found from a previous run
    saver: StateSaver | None = None  # writes the state file while the node runs (the node writes it on exit)

    def stop(self) -> None:
        if self.saver is not None:
            self.saver.stop()  # before the node, whose exit writes the newest state
        self.node.stop()


def start_demo_chain(settings: DemoSettings, progress=print) -> DemoCommunity:
    state_file = settings.var_dir / "chain" / "anvil-state.json"
    resumed = state_file.exists()
    progress(f"{'Resuming' if resumed else 'Starting'} Anvil on port {settings.chain_port} (state: {state_file})")
    # No fixed --state-interval: the saver's interval grows with the file, so writes per minute stay bounded.
    node = start_anvil(
        port=settings.chain_port,
        state_file=state_file,
        log_path=settings.var_dir / "chain" / "anvil.log",
        state_interval_s=None,
    )
    saver = StateSaver(node.url, state_file).start()
    web3 = Web3(Web3.HTTPProvider(node.url))
    chain_id = web3.eth.chain_id
    fresh = False
    try:
        deployment = load_deployment(chain_id, settings.deployments_dir)
        if not is_deployed(web3, deployment):
            raise FileNotFoundError
        progress("Contracts found on chain from the previous run")
    except FileNotFoundError:
        progress("Deploying contracts")
        deployment = deploy_community(
            web3,
            Account.from_key(ANVIL_DEPLOYER_KEY),
            CommunitySettings(tariff_schedule=SPANISH_EXAMPLE_TARIFF),
            progress=lambda name: progress(f"  {name}"),
        )
        deployment.save(settings.deployments_dir)
        fresh = True
    return DemoCommunity(
        node=node,
        deployment=deployment,
        deployment_path=settings.deployments_dir / f"{chain_id}.json",
        fresh=fresh,
        saver=saver,
    )


def forget_previous_community(state_dir: Path, progress=print) -> None:
    """A new deployment makes the old database, archive and meter state meaningless."""
    for path in (state_dir / "vatio.db", state_dir / "simulator", state_dir / "archive"):
        if path.exists():
            progress(f"  removing {path} (it belonged to an earlier deployment)")
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def set_up_households(community: DemoCommunity, meters: list[SimulatedMeter], progress=print) -> None:
    from backend.simulation.trading import enable_auto_trading

    web3 = Web3(Web3.HTTPProvider(community.node.url))
    progress(f"Registering {len(meters)} households and meters")
    register_meters(web3, community.deployment, meters, capacity_w=15_000, progress=lambda m: progress(f"  {m}"))
    enable_auto_trading(
        web3,
        community.deployment,
        [m.household_key for m in meters],
        seed=SIMULATION_SEED,
        progress=lambda m: progress(f"  {m}"),
    )
    if community.saver is not None:
        community.saver.save()  # make the setup survive a hard stop


@dataclass
class Supervised:
    """A child process of the demo, in its own process group, logging to a file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 15.0) -> None:
        stop_process_group(self.process, timeout)


def start_child(name: str, arguments: list[str], state_dir: Path, env: dict[str, str] | None = None) -> Supervised:
    log_path = state_dir / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    return Supervised(name, process, log_path)


OWN_BROKER = "own"  # --broker own: always the demo's Mosquitto, with its logins and ACL
NO_REDIS = "none"  # --redis-url none: no live pushes from the oracle


@dataclass(frozen=True)
class ServiceChoice:
    """Which broker or Redis the demo uses, and why, in words it prints."""

    url: str | None  # the broker's or Redis's URL; None: start the demo's own broker / run without Redis
    reason: str


def choose_broker(option: str | None, configured: str, from_env: bool, answers: Callable[[str], bool]) -> ServiceChoice:
    """The MQTT broker: --broker URL (it must answer), --broker own, else $VATIO_MQTT_URL or the default if one answers.

    A broker found answering is not the demo's: it has its own logins and
    ACL, which is why the choice is always printed.
    """
    if option == OWN_BROKER:
        return ServiceChoice(None, "--broker own: starting the demo's Mosquitto (its own logins and ACL)")
    if option is not None:
        check_url("--broker", option, MQTT_SCHEMES)
        if not answers(option):
            raise SettingsError(
                f"--broker {option}: no MQTT broker answers there (--broker {OWN_BROKER} starts the demo's Mosquitto)"
            )
        return ServiceChoice(option, f"--broker {option}")
    source = f"$VATIO_MQTT_URL={configured}" if from_env else f"the default {configured}"
    if answers(configured):
        return ServiceChoice(
            configured,
            f"a broker already answers at {source}; it is not the demo's own "
            f"(--broker {OWN_BROKER} starts one, --broker URL picks another)",
        )
    return ServiceChoice(None, f"nothing answers at {source}: starting the demo's Mosquitto")


def choose_redis(option: str | None, configured: str, from_env: bool, answers: Callable[[str], bool]) -> ServiceChoice:
    """Redis for live pushes: --redis-url URL (it must answer), --redis-url none, else $VATIO_REDIS_URL or the
    default when it answers, and no live pushes from the oracle otherwise."""
    if option == NO_REDIS:
        return ServiceChoice(None, f"--redis-url {NO_REDIS}: the web app works, without live pushes from the oracle")
    if option is not None:
        check_url("--redis-url", option, REDIS_SCHEMES)
        if not answers(option):
            raise SettingsError(f"--redis-url {option}: no Redis answers there (--redis-url {NO_REDIS} runs without)")
        return ServiceChoice(option, f"--redis-url {option}")
    source = f"$VATIO_REDIS_URL={configured}" if from_env else f"the default {configured}"
    if answers(configured):
        return ServiceChoice(configured, f"Redis answers at {source}")
    return ServiceChoice(None, f"no Redis at {source}: the web app works, but without live pushes from the oracle")


def redis_answers(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return tcp_answers(parsed.hostname or "127.0.0.1", parsed.port or 6379)


def demo_secret_key(state_dir: Path) -> str:
    """The web app's session key, kept so that a restarted demo keeps its sign-ins."""
    path = state_dir / "web-secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def service_environment(settings: DemoSettings, rpc_url: str, redis: ServiceChoice) -> dict[str, str]:
    """What the children share: the var root, the chain, the database, the archive, the live queue."""
    env = {
        "VATIO_VAR_DIR": str(settings.var_dir),
        "VATIO_DEPLOYMENTS_DIR": str(settings.deployments_dir),
        "VATIO_RPC_URL": rpc_url,
        "VATIO_DATABASE_URL": settings.database_url,
        "VATIO_ARCHIVE_DIR": str(settings.archive_dir),
        "VATIO_SECRET_KEY": demo_secret_key(settings.var_dir),
        "VATIO_SIWE_DOMAINS": f"localhost:{settings.web_port},127.0.0.1:{settings.web_port}",
    }
    env["VATIO_REDIS_URL"] = redis.url or ""
    return env


def broker_logins(state_dir: Path, meters: list[SimulatedMeter], progress=print) -> BrokerAuth:
    """The demo broker's password file and ACL, with a login for the oracle and one per simulated meter."""
    auth = BrokerAuth(state_dir / "broker" / "auth", COMMUNITY)
    if auth.ensure([meter.meter for meter in meters]):
        progress(f"Broker logins for the oracle and {len(meters)} meters written to {auth.directory}")
    return auth


def login_environment(auth: BrokerAuth) -> tuple[dict[str, str], dict[str, str]]:
    """(the oracle's, the simulator's) broker logins, as VATIO_* variables (a broker without auth ignores them)."""
    oracle = {"VATIO_MQTT_USERNAME": ORACLE_USER, "VATIO_MQTT_PASSWORD_FILE": str(auth.user_password_file(ORACLE_USER))}
    meters = {"VATIO_MQTT_CREDENTIALS_DIR": str(auth.user_password_file(ORACLE_USER).parent)}
    return oracle, meters


def oracle_arguments(rpc_url: str, broker_url: str, database_url: str, state_dir: Path) -> list[str]:
    return [
        "oracle",
        "--community",
        COMMUNITY,
        "--broker",
        broker_url,
        "--rpc-url",
        rpc_url,
        "--database-url",
        database_url,
        "--archive-dir",
        str(state_dir / "archive"),
        "--grace",
        str(GRACE_S),
    ]


def forecast_arguments(database_url: str, state_dir: Path) -> list[str]:
    return [
        "forecast",
        "run",
        "--source",
        "db",
        "--database-url",
        database_url,
        "--model-dir",
        str(state_dir / "models"),
        "--every",
        str(FORECAST_EVERY_S),
        "--offset",
        "0",
        "--retry",
        "20",
        "--max-epochs",
        "3",
        "--members",
        "1",
        # Forecasts before the replay has a week in (labelled; backend/forecast/stand_in.py).
        "--stand-in",
    ]


def simulation_arguments(rpc_url: str, broker_url: str, state_dir: Path) -> list[str]:
    return [
        "simulate",
        "--demo",
        "--households",
        str(HOUSEHOLDS),
        "--seed",
        str(SIMULATION_SEED),
        "--days",
        str(REPLAY_DAYS),
        "--speed",
        str(REPLAY_SPEED),
        "--community",
        COMMUNITY,
        "--broker",
        broker_url,
        "--rpc-url",
        rpc_url,
        "--state-file",
        str(state_dir / "simulator" / "meters.json"),
    ]


@dataclass
class DemoStack:
    settings: DemoSettings
    community: DemoCommunity
    broker: MosquittoBroker | None = None
    children: list[Supervised] = field(default_factory=list)

    def stop(self, progress=print) -> None:
        for child in reversed(self.children):
            progress(f"Stopping {child.name}")
            child.stop()
        if self.broker is not None:
            progress("Stopping Mosquitto")
            self.broker.stop()
        progress("Stopping the chain (state saved)")
        self.community.stop()


def status_line(database_url: str) -> str:
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from backend.db.models import Interval, Reading, Rejection
    from backend.db.session import make_engine, session_factory

    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            readings = session.scalar(select(func.count()).select_from(Reading))
            rejections = session.scalar(select(func.count()).select_from(Rejection))
            settled = session.scalar(select(func.count()).select_from(Interval).where(Interval.status == "settled"))
            last = session.scalar(select(func.max(Interval.interval_id)).where(Interval.status == "settled"))
    except SQLAlchemyError as error:  # the oracle may not have created the tables yet
        return f"waiting for the oracle's database ({type(error).__name__})"
    finally:
        engine.dispose()
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime((last + 1) * 900)) if last else "-"
    return f"readings {readings}, rejections {rejections}, intervals settled {settled} (last ends {when} UTC)"


def print_summary(stack: DemoStack, broker_url: str, progress=print) -> None:
    community = stack.community
    progress("")
    progress(f"Chain      {community.node.url} (chain id {community.deployment.chain_id})")
    progress(f"Deployment {community.deployment_path}")
    for name, entry in community.deployment.contracts.items():
        progress(f"  {name:<18} {entry['address']}")
    progress(f"MQTT       {broker_url} (topic vatio/{COMMUNITY}/meters/+/readings)")
    for child in stack.children:
        progress(f"{child.name:<10} pid {child.process.pid}, log {child.log_path}")
    progress(
        "Demo household keys (local chain only): in the browser, Connect wallet > Demo household N, "
        "or import a key into MetaMask:"
    )
    for number, key in enumerate(DEMO_HOUSEHOLD_KEYS, start=1):
        progress(f"  {number}. {Account.from_key(key).address}  {key}")
    progress(f"Audit the settled intervals any time: .venv/bin/vatio audit --archive {stack.settings.archive_dir}")


def run_demo(
    settings: DemoSettings | None = None,
    exit_after_setup: bool = False,
    progress=print,
    broker: str | None = None,
    redis: str | None = None,
) -> None:
    """Run the demo; `broker` and `redis` are the --broker and --redis-url options (see choose_broker)."""
    settings = settings or DemoSettings.from_env()
    state_dir = settings.var_dir
    broker_choice = choose_broker(broker, settings.mqtt_url, "VATIO_MQTT_URL" in os.environ, broker_answers)
    redis_choice = choose_redis(redis, settings.redis_url, "VATIO_REDIS_URL" in os.environ, redis_answers)
    community = start_demo_chain(settings, progress=progress)
    stack = DemoStack(settings, community)
    try:
        if community.fresh:
            forget_previous_community(state_dir, progress)
        meters = demo_meters()
        set_up_households(community, meters, progress)
        auth = broker_logins(state_dir, meters, progress)
        if broker_choice.url is None:
            stack.broker = start_mosquitto(state_dir / "broker", auth=auth)
            broker_url = stack.broker.url
        else:
            broker_url = broker_choice.url
        progress(f"MQTT broker {broker_url}: {broker_choice.reason}")
        if exit_after_setup:
            print_summary(stack, broker_url, progress)
            return
        database_url = settings.database_url
        progress(f"Redis {redis_choice.url or '(none)'}: {redis_choice.reason}")
        env = service_environment(settings, community.node.url, redis_choice)
        oracle_login, meter_logins = login_environment(auth)
        stack.children.append(
            start_child(
                "oracle",
                oracle_arguments(community.node.url, broker_url, database_url, state_dir),
                state_dir,
                {**env, **oracle_login},
            )
        )
        stack.children.append(
            start_child(
                "meters",
                simulation_arguments(community.node.url, broker_url, state_dir),
                state_dir,
                {**env, **meter_logins},
            )
        )
        stack.children.append(start_child("forecast", forecast_arguments(database_url, state_dir), state_dir, env))
        stack.children.append(start_child("web", ["serve", "--port", str(settings.web_port)], state_dir, env))
        print_summary(stack, broker_url, progress)
        web_url = f"http://127.0.0.1:{settings.web_port}"
        progress(f"\nOpen {web_url}/ (API docs: {web_url}/api/docs)")
        progress("\nRunning. Ctrl-C stops everything; the next `make demo` resumes from the saved state.")
        supervise(stack, database_url, progress)
    finally:
        stack.stop(progress)


def supervise(stack: DemoStack, database_url: str, progress=print, report_every_s: float = 15.0) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    keep_clock_moving(stack.community.node.url, stop, HEARTBEAT_IDLE_S, boundary_s=INTERVAL_S)
    next_report = time.monotonic() + report_every_s
    try:
        while not stop.wait(1.0):
            if stack.community.node.process.poll() is not None:
                raise RuntimeError(f"anvil stopped unexpectedly; see {stack.settings.var_dir / 'chain' / 'anvil.log'}")
            for child in stack.children:
                if child.process.poll() is not None:
                    raise RuntimeError(
                        f"{child.name} exited with code {child.process.returncode}; see {child.log_path}"
                    )
            if time.monotonic() >= next_report:
                progress(status_line(database_url))
                next_report += report_every_s
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()  # ends the chain heartbeat
