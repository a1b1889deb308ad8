"""The `vatio` command line. Each area adds its own commands; heavy ones
(TensorFlow) are imported only when their command runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


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
        "market": ("backend.market.cli", "market"),
        "train": ("backend.forecast.cli", "train"),
        "forecast": ("backend.forecast.cli", "forecast"),
    },
)
def main() -> None:
    """Vatio: a peer-to-peer energy market for energy communities."""


def deployment_option(function):
    return click.option("--deployment", "deployment_path", envvar="VATIO_DEPLOYMENT",
                        type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                        help="Deployment file (or $VATIO_DEPLOYMENT); default deployments/<chainId>.json.")(function)


def load_deployment_for(web3, deployment_path: Path | None):
    """The deployment file given, else the repo's one for the node's chain id."""
    from backend.chain.deploy import Deployment, load_deployment

    if deployment_path is not None:
        deployment = Deployment.read(deployment_path)
        if deployment.chain_id != web3.eth.chain_id:
            raise click.ClickException(f"{deployment_path} is for chain {deployment.chain_id}, "
                                       f"the node is on chain {web3.eth.chain_id}")
        return deployment
    try:
        return load_deployment(web3.eth.chain_id)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error


@main.command()
@click.option("--port", default=8545, show_default=True)
@click.option("--state", "state_file", type=click.Path(path_type=Path), default=Path("var/chain/anvil-state.json"),
              show_default=True, help="Chain state, loaded at start and saved on exit.")
def chain(port: int, state_file: Path) -> None:
    """Run a persistent local Anvil chain until Ctrl-C."""
    import signal
    import threading

    from backend.chain.anvil import keep_clock_moving, start_anvil

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
@click.option("--rpc-url", default=lambda: os.environ.get("VATIO_RPC_URL", "http://127.0.0.1:8545"),
              show_default="$VATIO_RPC_URL or http://127.0.0.1:8545")
@click.option("--private-key", envvar="VATIO_DEPLOYER_KEY", default=None,
              help="Deployer key (or $VATIO_DEPLOYER_KEY). Local chains default to Anvil's first account.")
@click.option("--keystore", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--password", envvar="VATIO_KEYSTORE_PASSWORD", default=None)
@click.option("--interval-seconds", default=900, show_default=True)
@click.option("--retail-price", default=200_000, show_default=True, help="Payment units per kWh (6 decimals).")
@click.option("--feed-in-price", default=50_000, show_default=True)
@click.option("--oracle", default=None, help="Oracle address (defaults to the deployer).")
@click.option("--euro", default=None, help="Payment token address; omitted on a local chain deploys TestEuro.")
def deploy(rpc_url, private_key, keystore, password, interval_seconds, retail_price, feed_in_price, oracle, euro):
    """Deploy a community to any RPC URL and write deployments/<chainId>.json."""
    from web3 import Web3

    from backend.chain.deploy import CommunitySettings, deploy_community, resolve_account

    web3 = Web3(Web3.HTTPProvider(rpc_url))
    if not web3.is_connected():
        raise click.ClickException(f"no JSON-RPC node answers at {rpc_url}")
    chain_id = web3.eth.chain_id
    try:
        account = resolve_account(private_key, keystore, password, chain_id)
        settings = CommunitySettings(interval_seconds=interval_seconds, retail_price=retail_price,
                                     feed_in_price=feed_in_price, oracle=oracle, euro=euro)
        deployment = deploy_community(web3, account, settings, progress=lambda n: click.echo(f"deploying {n}"))
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    path = deployment.save()
    click.echo(json.dumps({name: c["address"] for name, c in deployment.contracts.items()}, indent=2))
    click.echo(f"written {path}")


@main.command()
@click.option("--port", default=8545, show_default=True, help="The chain's JSON-RPC port.")
@click.option("--web-port", default=5000, show_default=True)
@click.option("--exit-after-setup", is_flag=True, help="Deploy, print, and stop (for smoke tests).")
def demo(port: int, web_port: int, exit_after_setup: bool) -> None:
    """Everything, one command: chain, broker, oracle, simulated meters, web app."""
    from backend.demo import run_demo

    try:
        run_demo(port=port, web_port=web_port, exit_after_setup=exit_after_setup, progress=click.echo)
    except (RuntimeError, TimeoutError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host: str, port: int) -> None:
    """Run the web app (JSON API, Socket.IO) until Ctrl-C; settings from the VATIO_* variables."""
    from backend.web.app import create_app, run_server
    from backend.web.config import ConfigError

    os.environ.setdefault("VATIO_SIWE_DOMAINS", f"localhost:{port},127.0.0.1:{port}")
    try:
        app = create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Vatio web at http://{host}:{port}/ (API docs: /api/docs)")
    run_server(app, host=host, port=port)


@main.group(invoke_without_command=True)
@click.option("--community", default="demo", show_default=True)
@click.option("--broker", default=lambda: os.environ.get("VATIO_MQTT_URL", "mqtt://127.0.0.1:1883"),
              show_default="$VATIO_MQTT_URL or mqtt://127.0.0.1:1883")
@click.option("--rpc-url", default=lambda: os.environ.get("VATIO_RPC_URL", "http://127.0.0.1:8545"),
              show_default="$VATIO_RPC_URL or http://127.0.0.1:8545")
@click.option("--database-url", envvar="VATIO_DATABASE_URL", default=None, help="Default: SQLite in var/.")
@click.option("--share-group", default=None, help="MQTT 5 shared subscription group, to split meters over oracles.")
@click.option("--client-id", default=None, help="MQTT client id; the persistent session is keyed on it.")
@click.option("--settle/--no-settle", default=True, show_default=True,
              help="Close, settle and archive intervals (one oracle per community does).")
@click.option("--index/--no-index", default=True, show_default=True, help="Follow contract events into the DB.")
@click.option("--grace", "grace_s", default=60, show_default=True, help="Seconds after an interval ends before it closes.")
@click.option("--confirmations", default=1, show_default=True, help="Blocks a settlement needs before it counts.")
@click.option("--archive-dir", type=click.Path(file_okay=False, path_type=Path),
              default=lambda: os.environ.get("VATIO_ARCHIVE_DIR", "var/archive"),
              show_default="$VATIO_ARCHIVE_DIR or var/archive")
@click.option("--oracle-key", envvar="VATIO_ORACLE_KEY", default=None,
              help="Key holding ORACLE_ROLE (or $VATIO_ORACLE_KEY). Local chains default to Anvil's first account.")
@click.option("--redis-url", envvar="VATIO_REDIS_URL", default=None,
              help="Socket.IO message queue for live pushes to the web app (or $VATIO_REDIS_URL); none: no pushes.")
@deployment_option
@click.pass_context
def oracle(ctx, community, broker, rpc_url, database_url, share_group, client_id, settle, index, grace_s,
           confirmations, archive_dir, oracle_key, redis_url, deployment_path):
    """The meter oracle: verify signed readings from MQTT, store them, and settle each interval on-chain."""
    ctx.obj = {"database_url": database_url}
    if ctx.invoked_subcommand is not None:
        return
    import logging
    import signal
    import threading

    from web3 import Web3

    from backend.chain.deploy import resolve_account
    from backend.chain.indexer import Indexer
    from backend.db.migrate import upgrade
    from backend.db.session import make_engine, session_factory
    from backend.oracle.ingest import Ingester
    from backend.oracle.readings import MeterDomain
    from backend.oracle.registry_cache import RegistryCache
    from backend.oracle.runner import Settler, SettlerSettings, start_thread
    from backend.oracle.service import OracleService

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web3 = Web3(Web3.HTTPProvider(rpc_url))
    if not web3.is_connected():
        raise click.ClickException(f"no JSON-RPC node answers at {rpc_url}")
    deployment = load_deployment_for(web3, deployment_path)
    upgrade(database_url)
    sessions = session_factory(make_engine(database_url))
    registry = RegistryCache(web3, deployment)
    domain = MeterDomain(deployment.chain_id, deployment.address("CommunityRegistry"))
    ingester = Ingester(sessions, domain, community, registry.lookup)
    reading_pusher = event_pusher = None
    if redis_url:
        from backend.oracle.pushes import EventPusher, ReadingPusher
        from backend.web.live import LiveEmitter

        emitter = LiveEmitter(redis_url, channel=os.environ.get("VATIO_SOCKETIO_CHANNEL", "vatio"),
                              readings_per_s=float(os.environ.get("VATIO_LIVE_READINGS_PER_S", "2")))
        reading_pusher = ReadingPusher(emitter, registry.lookup)
        event_pusher = EventPusher(emitter, sessions, deployment.settings["intervalSeconds"])
    service = OracleService(ingester, broker, client_id=client_id or f"vatio-oracle-{community}",
                            share_group=share_group, on_committed=reading_pusher)
    stop = threading.Event()
    threads = []
    if settle:
        try:
            account = resolve_account(oracle_key, None, None, deployment.chain_id)
        except ValueError as error:
            raise click.ClickException(f"settling needs the oracle key: {error}") from error
        settler = Settler(sessions, web3, deployment, account,
                          SettlerSettings(grace_s=grace_s, confirmations=confirmations, archive_dir=archive_dir))
        threads.append(start_thread("oracle-settler", settler.run, stop))
    if index:
        indexer = Indexer(web3, deployment, sessions, on_events=event_pusher)
        threads.append(start_thread("oracle-indexer", indexer.run, stop))
    service.start()
    click.echo(f"oracle for community {community!r}: {len(registry.meters)} meters known"
               f"{', settling' if settle else ''}{', indexing' if index else ''}; Ctrl-C stops")
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(10):
            click.echo(f"stored {service.stored}, rejected {service.rejected}, duplicates {service.duplicates}")
    except KeyboardInterrupt:
        stop.set()
    finally:
        service.stop()
        for thread in threads:
            thread.join(timeout=30)


@oracle.command("stats")
@click.pass_obj
def oracle_stats(obj):
    """Readings stored and rejections per reason."""
    from sqlalchemy import func, select

    from backend.db.models import Reading, rejection_counts
    from backend.db.session import make_engine, session_factory

    with session_factory(make_engine(obj["database_url"]))() as session:
        readings = session.scalar(select(func.count()).select_from(Reading))
        counts = rejection_counts(session)
    click.echo(f"readings stored: {readings}")
    click.echo(f"rejections: {sum(counts.values())}")
    for reason, number in sorted(counts.items(), key=lambda item: -item[1]):
        click.echo(f"  {reason:<20} {number}")


@main.command()
@click.option("--households", default=20, show_default=True)
@click.option("--speed", default=60.0, show_default=True, help="Simulated seconds per real second while replaying the past.")
@click.option("--days", default=1, show_default=True, help="Days of history to replay before following the clock.")
@click.option("--seed", default=1, show_default=True)
@click.option("--community", default="demo", show_default=True)
@click.option("--broker", default=lambda: os.environ.get("VATIO_MQTT_URL", "mqtt://127.0.0.1:1883"),
              show_default="$VATIO_MQTT_URL or mqtt://127.0.0.1:1883")
@click.option("--rpc-url", default=lambda: os.environ.get("VATIO_RPC_URL", "http://127.0.0.1:8545"),
              show_default="$VATIO_RPC_URL or http://127.0.0.1:8545")
@click.option("--reading-seconds", default=60, show_default=True)
@click.option("--register", is_flag=True, help="Register the simulated households and meters on the (local) chain.")
@click.option("--follow/--no-follow", default=True, show_default=True,
              help="Keep publishing in real time after replaying the past.")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the meters' registers and seq here, and continue from them on the next run.")
@click.option("--demo", is_flag=True, help="The demo's meters: the first five belong to the printed Anvil accounts.")
@deployment_option
def simulate(households, speed, days, seed, community, broker, rpc_url, reading_seconds, register, follow,
             state_file, demo, deployment_path):
    """Simulated meters: real household profiles, signed readings over MQTT."""
    import time

    from tqdm import tqdm
    from web3 import Web3

    from backend.meters.mqtt import MeterPublisher
    from backend.meters.registration import register_meters
    from backend.meters.simulator import MeterStateFile, make_meters, profile_clock, run_simulation
    from backend.oracle.readings import MeterDomain

    web3 = Web3(Web3.HTTPProvider(rpc_url))
    if not web3.is_connected():
        raise click.ClickException(f"no JSON-RPC node answers at {rpc_url}")
    deployment = load_deployment_for(web3, deployment_path)
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
    clock = profile_clock(households, start, (now - start) // 86400 + 2, seed,
                          deployment.settings.get("intervalSeconds", 900), reading_seconds)
    if resume_after is not None:
        click.echo(f"continuing the saved meters after {time.strftime('%Y-%m-%d %H:%M', time.gmtime(resume_after))} UTC")
    publisher = MeterPublisher(broker)
    bar = tqdm(total=len(clock.interval_starts) * (clock.interval_seconds // reading_seconds), unit="step")
    try:
        sent = run_simulation(meters, clock, domain, publisher.publish, community, speed=speed,
                              progress=lambda done, total: bar.update(1), follow=follow,
                              resume_after_ts=resume_after, state_file=saved)
    except KeyboardInterrupt:
        sent = None
    finally:
        bar.close()
        publisher.close()
    click.echo(f"published {sent if sent is not None else 'until stopped:'} readings for {households} meters")


if __name__ == "__main__":
    sys.exit(main())
