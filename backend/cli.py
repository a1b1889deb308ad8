"""The `vatio` command line. Each area adds its own commands; heavy ones
(TensorFlow) are imported only when their command runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from backend.settings import (
    DemoSettings,
    DeploySettings,
    OracleSettings,
    ServeSettings,
    SettingsError,
    SimulatorSettings,
)


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand is used, so
    `vatio deploy` never loads TensorFlow."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | {n for n in self.lazy if self.get_command(ctx, n)})

    def get_command(self, ctx, name):
        if name in self.lazy:
            module_name, attribute = self.lazy[name]
            try:
                module = __import__(module_name, fromlist=[attribute])
            except ModuleNotFoundError as error:
                if error.name != module_name:
                    raise
                return None  # that area is not installed in this checkout
            return getattr(module, attribute)
        return super().get_command(ctx, name)


@click.group(
    cls=LazyGroup,
    lazy={
        "audit": ("backend.audit.cli", "audit"),
        "bridge": ("backend.bridge.cli", "bridge"),
        "market": ("backend.market.cli", "market"),
        "meter": ("backend.meters.credentials", "meter"),
        "train": ("backend.forecast.cli", "train"),
        "forecast": ("backend.forecast.cli", "forecast"),
        "keys": ("backend.chain.keys_cli", "keys"),
        "statements": ("backend.statements.cli", "statements"),
        "tariff": ("backend.chain.tariffs_cli", "tariff"),
        "coefficients": ("backend.coefficients.cli", "coefficients"),
    },
)
def main() -> None:
    """Vatio: a peer-to-peer energy market for energy communities."""


def read_settings(settings_class, **given):
    """The process's settings from the options `given` and the VATIO_* variables; a bad value stops the command."""
    try:
        return settings_class.from_env(**given)
    except SettingsError as error:
        raise click.ClickException(str(error)) from error


def deployment_option(function):
    return click.option(
        "--deployment",
        "deployment",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        show_default="$VATIO_DEPLOYMENT or <deployments>/<chainId>.json",
        help="Deployment file ($VATIO_DEPLOYMENTS_DIR moves the folder).",
    )(function)


def rpc_url_option(function):
    return click.option("--rpc-url", default=None, show_default="$VATIO_RPC_URL or http://127.0.0.1:8545")(function)


def broker_option(function):
    return click.option("--broker", "mqtt_url", default=None, show_default="$VATIO_MQTT_URL or mqtt://127.0.0.1:1883")(
        function
    )


def connect(settings):
    """A Web3 on the settings' node, and the community's deployment there."""
    from web3 import Web3

    web3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    if not web3.is_connected():
        raise click.ClickException(f"no JSON-RPC node answers at {settings.rpc_url}")
    try:
        return web3, settings.load_deployment(web3.eth.chain_id)
    except SettingsError as error:
        raise click.ClickException(str(error)) from error


@main.command()
@click.option("--port", default=8545, show_default=True)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    show_default="<var>/chain/anvil-state.json",
    help="Chain state, loaded at start and saved on exit.",
)
def chain(port: int, state_file: Path | None) -> None:
    """Run a persistent local Anvil chain until Ctrl-C."""
    import signal
    import threading

    from backend.chain.anvil import keep_clock_moving, start_anvil
    from backend.paths import absolute, var_dir

    state_file = absolute(state_file) if state_file is not None else var_dir() / "chain" / "anvil-state.json"

    # SIGTERM must stop Anvil too (it runs in its own process group), and save its state.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    node = start_anvil(port=port, state_file=state_file)
    click.echo(f"Anvil listening at {node.url}, state in {state_file}. Ctrl-C stops it.")
    stop = threading.Event()
    keep_clock_moving(node.url, stop)  # an idle chain's clock would stand still, and intervals never end on-chain
    try:
        node.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        node.stop()


@main.command()
@click.option(
    "--network",
    type=click.Choice(["local", "chiado", "gnosis", "volta", "ewc"]),
    default=None,
    show_default="$VATIO_NETWORK or local",
    help="The chain (docs/networks.md); its node's URL comes from $VATIO_RPC_URL_<NETWORK>.",
)
@click.option("--rpc-url", default=None, show_default="$VATIO_RPC_URL_<NETWORK>, else $VATIO_RPC_URL")
@click.option(
    "--keystore",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The deployer's (admin's) keystore (or $VATIO_DEPLOYER_KEYSTORE; `vatio keys new` makes one).",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The keystore's password, first line (or $VATIO_KEYSTORE_PASSWORD_FILE); without it: a prompt.",
)
@click.option(
    "--private-key",
    default=None,
    help="Raw deployer key (or $VATIO_DEPLOYER_KEY): local chains only, which default to Anvil's first account.",
)
@click.option("--password", default=None, hidden=True, help="The keystore's password (or $VATIO_KEYSTORE_PASSWORD).")
@click.option("--interval-seconds", default=900, show_default=True)
@click.option("--retail-price", default=200_000, show_default=True, help="Payment units per kWh (6 decimals).")
@click.option("--feed-in-price", default=50_000, show_default=True)
@click.option("--oracle", default=None, help="Oracle address (defaults to the deployer).")
@click.option("--euro", default=None, help="Payment token address; omitted on a local chain deploys TestEuro.")
def deploy(
    network,
    rpc_url,
    keystore,
    password_file,
    private_key,
    password,
    interval_seconds,
    retail_price,
    feed_in_price,
    oracle,
    euro,
):
    """Deploy a community to a network and write <deployments>/<chainId>.json."""
    from web3 import Web3

    from backend.chain.deploy import CommunitySettings, deploy_community
    from backend.chain.keys import read_password, resolve_account
    from backend.chain.networks import network_named

    settings = read_settings(
        DeploySettings,
        network=network,
        rpc_url=rpc_url,
        deployer_key=private_key,
        keystore=keystore,
        keystore_password_file=password_file,
        keystore_password=password,
    )
    target = network_named(settings.network)
    web3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    if not web3.is_connected():
        raise click.ClickException(f"no JSON-RPC node answers at {settings.rpc_url}")
    chain_id = web3.eth.chain_id
    try:
        target.check_chain_id(chain_id)  # before any key is opened or anything signed
        secret = settings.keystore_password
        if settings.keystore is not None and secret is None:
            secret = read_password(
                settings.keystore_password_file, prompt=lambda: click.prompt("keystore password", hide_input=True)
            )
        account = resolve_account(settings.deployer_key, settings.keystore, secret, chain_id)
        community = CommunitySettings(
            interval_seconds=interval_seconds,
            retail_price=retail_price,
            feed_in_price=feed_in_price,
            oracle=oracle,
            euro=euro,
            evm_version=target.evm_version,
        )
        click.echo(
            f"deploying the {target.evm_version} build to {target.name} (chain {chain_id}) from {account.address}"
        )
        deployment = deploy_community(web3, account, community, progress=lambda n: click.echo(f"deploying {n}"))
    except (ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
    path = deployment.save(settings.deployments_dir)
    click.echo(json.dumps({name: c["address"] for name, c in deployment.contracts.items()}, indent=2))
    click.echo(f"written {path}")


@main.command()
@click.option("--port", default=DemoSettings.chain_port, show_default=True, help="The chain's JSON-RPC port.")
@click.option("--web-port", default=DemoSettings.web_port, show_default=True)
@click.option("--exit-after-setup", is_flag=True, help="Deploy, print, and stop (for smoke tests).")
@click.option(
    "--broker",
    default=None,
    metavar="URL|own",
    help="The MQTT broker: URL (it must answer), or `own` to start the demo's Mosquitto. Default: the "
    "one answering at $VATIO_MQTT_URL or mqtt://127.0.0.1:1883, else the demo's own.",
)
@click.option(
    "--redis-url",
    default=None,
    metavar="URL|none",
    help="Redis for live pushes: URL (it must answer), or `none`. Default: $VATIO_REDIS_URL or "
    "redis://127.0.0.1:6379/0 when it answers.",
)
def demo(port: int, web_port: int, exit_after_setup: bool, broker: str | None, redis_url: str | None) -> None:
    """Everything, one command: chain, broker, oracle, simulated meters, web app; state under $VATIO_VAR_DIR."""
    from backend.demo import run_demo

    settings = read_settings(DemoSettings, chain_port=port, web_port=web_port)
    try:
        run_demo(settings, exit_after_setup=exit_after_setup, progress=click.echo, broker=broker, redis=redis_url)
    except SettingsError as error:
        raise click.BadParameter(str(error)) from error
    except (RuntimeError, TimeoutError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error


@main.command()
@click.option("--host", default=None, show_default="$VATIO_WEB_HOST or 127.0.0.1")
@click.option("--port", type=int, default=None, show_default="$VATIO_WEB_PORT or 5000")
@click.option(
    "--production",
    is_flag=True,
    help="gunicorn with gevent workers, Socket.IO over WebSocket only (docs/production.md).",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    show_default="$VATIO_WEB_WORKERS or 1",
    help="gunicorn worker processes (--production); several need VATIO_REDIS_URL and VATIO_SECRET_KEY.",
)
@click.option(
    "--dev", is_flag=True, help="Werkzeug's development server on any chain (it is the default on local chains only)."
)
def serve(host: str | None, port: int | None, production: bool, workers: int | None, dev: bool) -> None:
    """Run the web app (JSON API, Socket.IO) until Ctrl-C; settings from the VATIO_* variables.

    With --production, gunicorn and its gevent workers serve it; otherwise Werkzeug's development server, which
    `vatio serve` refuses off local chains unless --dev is given.
    """
    import os

    from backend.chain.networks import LOCAL_CHAIN_IDS
    from backend.web.app import create_app, run_server
    from backend.web.config import Config

    if production and dev:
        raise click.UsageError("--production and --dev exclude each other")
    if workers is not None and not production:
        raise click.UsageError("--workers needs --production (the development server is one process)")
    server = read_settings(ServeSettings, host=host, port=port, workers=workers)
    # Sign-in messages name the host the browser sees: by default, this port.
    environ = {"VATIO_SIWE_DOMAINS": f"localhost:{server.port},127.0.0.1:{server.port}", **os.environ}
    if production:
        from backend.web.production import exec_gunicorn

        try:
            Config.from_env(environ)  # fail here, once, rather than in every worker
        except SettingsError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Vatio web (gunicorn, {server.workers} gevent worker(s)) at http://{server.bind}/")
        exec_gunicorn(server, environ)
    try:
        app = create_app(Config.from_env(environ))
    except SettingsError as error:
        raise click.ClickException(str(error)) from error
    chain_id = app.extensions["vatio"].config.chain_id
    if not dev and chain_id not in LOCAL_CHAIN_IDS:
        raise click.ClickException(
            f"chain {chain_id} is not a local chain: Werkzeug's development server is for local chains and the demo. "
            "Run `vatio serve --production` (gunicorn, docs/production.md), or give --dev to use it anyway"
        )
    click.echo(f"Vatio web at http://{server.bind}/ (API docs: /api/docs; development server)")
    run_server(app, host=server.host, port=server.port)


@main.group(invoke_without_command=True)
@click.option("--community", default=OracleSettings.community, show_default=True)
@broker_option
@rpc_url_option
@click.option("--database-url", default=None, show_default="$VATIO_DATABASE_URL or sqlite:///<var>/vatio.db")
@click.option("--share-group", default=None, help="MQTT 5 shared subscription group, to split meters over oracles.")
@click.option(
    "--client-id",
    default=None,
    show_default="vatio-oracle-<community>",
    help="MQTT client id; the persistent session is keyed on it.",
)
@click.option(
    "--settle/--no-settle",
    default=OracleSettings.settle,
    show_default=True,
    help="Close, settle and archive intervals (one oracle per community does).",
)
@click.option(
    "--index/--no-index", default=OracleSettings.index, show_default=True, help="Follow contract events into the DB."
)
@click.option(
    "--grace",
    "grace_s",
    default=OracleSettings.grace_s,
    show_default=True,
    help="Seconds after an interval ends before it closes.",
)
@click.option(
    "--confirmations",
    default=OracleSettings.confirmations,
    show_default=True,
    help="Blocks a settlement needs before it counts.",
)
@click.option(
    "--archive-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="$VATIO_ARCHIVE_DIR or <var>/archive",
)
@click.option(
    "--oracle-key",
    default=None,
    help="Key holding ORACLE_ROLE (or $VATIO_ORACLE_KEY). Local chains default to Anvil's first account.",
)
@click.option(
    "--redis-url",
    default=None,
    help="Socket.IO message queue for live pushes to the web app (or $VATIO_REDIS_URL); none: no pushes.",
)
@click.option(
    "--role",
    type=click.Choice(["all", "ingest", "settle"]),
    default=None,
    show_default="$VATIO_ORACLE_ROLE or all",
    help="ingest: MQTT workers only (several, with --share-group); settle: settler and indexer, one "
    "leading through a PostgreSQL advisory lock, the others standing by (docs/production.md).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    show_default="$VATIO_METRICS_PORT or none",
    help="Serve Prometheus /metrics on this port (127.0.0.1).",
)
@deployment_option
@click.pass_context
def oracle(ctx, **options):
    """The meter oracle: verify signed readings from MQTT, store them, and settle each interval on-chain."""
    settings = read_settings(OracleSettings, **options)
    ctx.obj = settings
    if ctx.invoked_subcommand is not None:
        return
    import logging

    from backend.oracle.runner import OracleCannotStart, build_oracle

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        built = build_oracle(settings)
    except OracleCannotStart as error:
        raise click.ClickException(str(error)) from error
    built.run(report=click.echo)


@oracle.command("stats")
@click.pass_obj
def oracle_stats(settings: OracleSettings):
    """Readings stored and rejections per reason."""
    from sqlalchemy import func, select

    from backend.db.models import Reading, rejection_counts
    from backend.db.session import make_engine, session_factory

    with session_factory(make_engine(settings.database_url))() as session:
        readings = session.scalar(select(func.count()).select_from(Reading))
        counts = rejection_counts(session)
    click.echo(f"readings stored: {readings}")
    click.echo(f"rejections: {sum(counts.values())}")
    for reason, number in sorted(counts.items(), key=lambda item: -item[1]):
        click.echo(f"  {reason:<20} {number}")


@main.command()
@click.option("--households", default=20, show_default=True)
@click.option(
    "--speed", default=60.0, show_default=True, help="Simulated seconds per real second while replaying the past."
)
@click.option("--days", default=1, show_default=True, help="Days of history to replay before following the clock.")
@click.option("--seed", default=1, show_default=True)
@click.option("--community", default="demo", show_default=True)
@broker_option
@rpc_url_option
@click.option("--reading-seconds", default=60, show_default=True)
@click.option("--register", is_flag=True, help="Register the simulated households and meters on the (local) chain.")
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Keep publishing in real time after replaying the past.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the meters' registers and seq here, and continue from them on the next run.",
)
@click.option("--demo", is_flag=True, help="The demo's meters: the first five belong to the printed Anvil accounts.")
@deployment_option
def simulate(
    households,
    speed,
    days,
    seed,
    community,
    mqtt_url,
    rpc_url,
    reading_seconds,
    register,
    follow,
    state_file,
    demo,
    deployment,
):
    """Simulated meters: real household profiles, signed readings over MQTT."""
    import time

    from tqdm import tqdm

    from backend.meters.mqtt import MeterPublisher
    from backend.meters.registration import register_meters
    from backend.meters.simulator import (
        MeterStateFile,
        SimulationProgress,
        make_meters,
        profile_clock,
        replay_steps,
        run_simulation,
    )
    from backend.protocol.readings import MeterDomain

    settings = read_settings(SimulatorSettings, mqtt_url=mqtt_url, rpc_url=rpc_url, deployment=deployment)
    web3, deployment = connect(settings)
    domain = MeterDomain(deployment.chain_id, deployment.address("CommunityRegistry"))
    if demo:
        from backend.demo import demo_meters

        meters = demo_meters(households, seed)
    else:
        meters = make_meters(households, seed)
    if register:
        register_meters(web3, deployment, meters, progress=click.echo)
    saved = MeterStateFile(state_file) if state_file else None
    resume_after = saved.load(meters) if saved else None
    now = int(time.time())
    start = resume_after if resume_after is not None else now - days * 86400
    clock = profile_clock(
        households,
        start,
        (now - start) // 86400 + 2,
        seed,
        deployment.settings.get("intervalSeconds", 900),
        reading_seconds,
    )
    if resume_after is not None:
        click.echo(
            f"continuing the saved meters after {time.strftime('%Y-%m-%d %H:%M', time.gmtime(resume_after))} UTC"
        )
    if settings.mqtt_credentials_dir is not None:  # each meter logs in as itself (docs/meters.md)
        from backend.meters.mqtt import PerMeterPublishers

        publisher = PerMeterPublishers(settings.mqtt_url, settings.mqtt_credentials_dir)
    else:
        username, password = settings.mqtt_login()
        publisher = MeterPublisher(settings.mqtt_url, username=username, password=password)
    # A bar while replaying the past (sized to it), then one line per interval: in real time a bar's ETA is nonsense.
    report = SimulationProgress(
        clock.interval_seconds,
        reading_seconds,
        len(meters),
        write=click.echo,
        bar=tqdm(total=replay_steps(clock, time.time(), resume_after), unit="step", desc="replaying the past"),
    )
    try:
        sent = run_simulation(
            meters,
            clock,
            domain,
            publisher.publish,
            community,
            speed=speed,
            progress=report,
            follow=follow,
            resume_after_ts=resume_after,
            state_file=saved,
        )
    except KeyboardInterrupt:
        sent = None
    finally:
        report.close()
        publisher.close()
    click.echo(f"published {sent if sent is not None else 'until stopped:'} readings for {households} meters")


if __name__ == "__main__":
    sys.exit(main())
