"""`vatio bridge`: run a bridge for one meter, make its key, show its status."""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import threading
from pathlib import Path

import click

__all__ = ["bridge"]


def _default_state_dir() -> Path:
    from backend.paths import var_dir

    return var_dir() / "bridge"


def _domain(deployment: Path | None, chain_id: int | None, registry: str | None):
    from backend.protocol.readings import MeterDomain

    if deployment is not None:
        try:
            data = json.loads(Path(deployment).read_text())
            chain_id, registry = data["chainId"], data["contracts"]["CommunityRegistry"]["address"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise click.ClickException(f"{deployment} is not a Vatio deployment file: {error}") from None
    if chain_id is None or registry is None:
        raise click.ClickException("name the community: --deployment FILE, or --chain-id and --registry")
    try:
        return MeterDomain(chain_id, registry)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def _read_secret(path: Path | None) -> str | None:
    if path is None:
        return None
    lines = Path(path).read_text().splitlines()
    return lines[0] if lines else ""


def _source(options: dict, pinned_units: dict, every_s: float):
    """(source name, events factory) from the source options; exactly one source must be given."""
    chosen = [name for name in ("p1", "p1_tcp", "sml", "shelly_broker", "ha_url") if options.get(name)]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one source: --p1 DEVICE, --p1-tcp HOST:PORT, --sml DEVICE, "
            "--shelly-broker URL or --ha-url URL"
        )
    if options.get("p1"):
        from backend.bridge.sources.dsmr import p1_events
        from backend.bridge.sources.streams import serial_chunks

        return "p1", lambda stop: p1_events(serial_chunks(options["p1"], 115200, stop))
    if options.get("p1_tcp"):
        from backend.bridge.sources.dsmr import p1_events
        from backend.bridge.sources.streams import tcp_chunks

        host, _, port = options["p1_tcp"].rpartition(":")
        if not host or not port.isdigit():
            raise click.BadParameter("--p1-tcp must be HOST:PORT")
        return "p1", lambda stop: p1_events(tcp_chunks(host, int(port), stop))
    if options.get("sml"):
        from backend.bridge.sources.sml import sml_events
        from backend.bridge.sources.streams import serial_chunks

        return "sml", lambda stop: sml_events(serial_chunks(options["sml"], options["sml_baud"], stop))
    if options.get("shelly_broker"):
        from backend.bridge.sources.shelly import shelly_events

        if not options.get("shelly_prefix"):
            raise click.UsageError("--shelly-broker needs --shelly-prefix (the device's MQTT topic prefix)")
        return "shelly", lambda stop: shelly_events(
            options["shelly_broker"], options["shelly_prefix"], options["shelly_component"], stop=stop
        )
    from backend.bridge.sources.homeassistant import (
        HomeAssistantSensors,
        homeassistant_events,
        homeassistant_websocket_events,
        websocket_url,
    )

    if not options.get("ha_token_file") or not options.get("ha_import"):
        raise click.UsageError("--ha-url needs --ha-token-file and --ha-import ENTITY")
    if options.get("accept_unit_change"):
        pinned_units.clear()
    sensors = HomeAssistantSensors(
        url=options["ha_url"],
        token=_read_secret(options["ha_token_file"]),
        import_entity=options["ha_import"],
        export_entity=options.get("ha_export"),
        power_entity=options.get("ha_power"),
        pinned_units=pinned_units,
    )
    if options.get("ha_websocket"):
        try:
            websocket_url(options["ha_url"])
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
        return "homeassistant", lambda stop: homeassistant_websocket_events(sensors, stop)
    return "homeassistant", lambda stop: homeassistant_events(sensors, every_s, stop)


@click.group(invoke_without_command=True)
@click.option("--p1", default=None, metavar="DEVICE", help="DSMR P1 serial port, e.g. /dev/ttyUSB0 (115200 8N1).")
@click.option("--p1-tcp", default=None, metavar="HOST:PORT", help="DSMR P1 over TCP (a P1-to-WiFi dongle).")
@click.option("--sml", default=None, metavar="DEVICE", help="SML IR read head serial port.")
@click.option("--sml-baud", default=9600, show_default=True)
@click.option("--shelly-broker", default=None, metavar="URL", help="The household MQTT broker a Shelly publishes to.")
@click.option("--shelly-prefix", default=None, help="The Shelly's MQTT topic prefix, e.g. shellypro3em-0cb815fcaff4.")
@click.option("--shelly-component", default=0, show_default=True, help="The em/emdata (or em1/em1data) id.")
@click.option("--ha-url", default=None, metavar="URL", help="Home Assistant, e.g. http://homeassistant.local:8123.")
@click.option(
    "--ha-token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding a Home Assistant long-lived access token.",
)
@click.option("--ha-import", default=None, metavar="ENTITY", help="Import energy sensor (total_increasing, kWh/Wh).")
@click.option("--ha-export", default=None, metavar="ENTITY", help="Export energy sensor, if any.")
@click.option("--ha-power", default=None, metavar="ENTITY", help="Net power sensor (W or kW), if any.")
@click.option("--accept-unit-change", is_flag=True, help="Re-pin the Home Assistant sensors' units at start.")
@click.option(
    "--ha-websocket",
    is_flag=True,
    help="Follow the sensors over Home Assistant's WebSocket API (state_changed) instead of polling REST.",
)
@click.option("--keystore", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The keystore's password (first line); without it the bridge prompts.",
)
@click.option("--private-key", default=None, help="Raw meter key: refused unless --insecure-key on a local chain.")
@click.option("--insecure-key", is_flag=True)
@click.option(
    "--deployment",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The community's deployment file (gives the chain id and registry).",
)
@click.option("--chain-id", type=int, default=None)
@click.option("--registry", default=None, help="The CommunityRegistry address (the EIP-712 verifying contract).")
@click.option("--community", default="demo", show_default=True, help="The MQTT community topic level.")
@click.option("--broker", default="mqtt://127.0.0.1:1883", show_default=True, help="mqtt:// or mqtts:// URL.")
@click.option("--broker-username", default=None, show_default="the meter address")
@click.option("--broker-password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option(
    "--broker-ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CA certificate of a TLS broker.",
)
@click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None, show_default="<var>/bridge"
)
@click.option("--every", "every_s", default=10.0, show_default=True, help="Seconds between signed readings.")
@click.option(
    "--connection-rating-w",
    default=17_250,
    show_default=True,
    help="The connection's rating; a jump implying more power is refused.",
)
@click.option("--max-clock-drift-s", default=30.0, show_default=True)
@click.option("--gap-s", default=120.0, show_default=True, help="Seconds without a sample that count as a gap.")
@click.option("--queue-max-bytes", default=16 * 1024 * 1024, show_default=True)
@click.pass_context
def bridge(ctx, **options):
    """Sign a household's own meter (DSMR P1, SML, Shelly, Home Assistant) as a Vatio meter and publish it."""
    if ctx.invoked_subcommand is not None:
        return
    from backend.bridge.keys import KeyRefused, load_key, read_password
    from backend.bridge.publisher import BrokerSettings, ReadingsPublisher
    from backend.bridge.rules import RegisterRules
    from backend.bridge.runner import Bridge, BridgeConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    domain = _domain(options["deployment"], options["chain_id"], options["registry"])
    try:
        password = None
        if options["keystore"] is not None:
            password = read_password(
                options["password_file"], prompt=lambda: click.prompt("keystore password", hide_input=True)
            )
        key, meter = load_key(
            keystore=options["keystore"],
            password=password,
            raw_key=options["private_key"],
            insecure_key=options["insecure_key"],
            chain_id=domain.chain_id,
        )
        rules = RegisterRules(options["connection_rating_w"], options["max_clock_drift_s"], options["gap_s"])
        state_dir = options["state_dir"] or _default_state_dir()
        config = BridgeConfig(
            community=options["community"],
            domain=domain,
            state_dir=state_dir,
            every_s=options["every_s"],
            rules=rules,
            queue_max_bytes=options["queue_max_bytes"],
        )
        runner = Bridge(config, key, meter)
        source_name, events = _source(options, runner.state.pinned_units, options["every_s"])
        runner.config = dataclasses.replace(config, source=source_name)
        broker = BrokerSettings(
            url=options["broker"],
            username=options["broker_username"] or meter,
            password=_read_secret(options["broker_password_file"]),
            ca_file=options["broker_ca"],
            client_id=f"vatio-bridge-{meter.lower()}",
        )
        publisher = ReadingsPublisher(broker, runner.topic)
    except (KeyRefused, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"bridge for meter {meter} ({source_name}) -> {broker.url} {runner.topic}, a reading every "
        f"{options['every_s']:g} s; state in {state_dir}"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        runner.run(events, publisher, stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        publisher.close()


@bridge.command()
@click.option(
    "--keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the new encrypted key (never overwritten).",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The password (first line); without it you are asked twice.",
)
def keygen(keystore: Path, password_file: Path | None):
    """Make a new meter key in an encrypted keystore and print the address to register."""
    from backend.bridge.keys import KeyRefused, create_keystore, read_password

    try:
        password = read_password(
            password_file,
            prompt=lambda: click.prompt("new keystore password", hide_input=True, confirmation_prompt=True),
        )
        address = create_keystore(keystore, password)
    except KeyRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"keystore written to {keystore}")
    click.echo(f"meter address to register: {address}")


@bridge.command()
@click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None, show_default="<var>/bridge"
)
@click.option("--json", "as_json", is_flag=True, help="The raw snapshot.")
def status(state_dir: Path | None, as_json: bool):
    """The last reading, queue depth, counters per reason and the broker connection of a running bridge."""
    from backend.bridge.status import format_status, read_status

    try:
        snapshot = read_status(state_dir or _default_state_dir())
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(snapshot, indent=1) if as_json else format_status(snapshot))


@bridge.command("ha-publish")
@click.option("--vatio-url", required=True, metavar="URL", help="The community's Vatio web app (https://...).")
@click.option("--household", required=True, metavar="ADDRESS", help="The household's wallet address.")
@click.option(
    "--deployment",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The community's deployment file (contract addresses and ABIs).",
)
@click.option("--rpc-url", required=True, metavar="URL", help="Any RPC node of the chain (balances, fills).")
@click.option(
    "--broker",
    default="mqtt://127.0.0.1:1883",
    show_default=True,
    help="The household's own broker, the one Home Assistant's MQTT integration uses.",
)
@click.option("--broker-username", default=None)
@click.option("--broker-password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--broker-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option(
    "--node-id",
    default=None,
    show_default="vatio_<first 8 hex digits of the address>",
    help="The discovery node id (one topic level).",
)
@click.option("--every", "every_s", default=60.0, show_default=True, help="Seconds between updates.")
@click.option(
    "--timezone",
    "zone_name",
    default=None,
    show_default="this machine's",
    help="The IANA zone whose midnight starts 'today' for the savings, e.g. Europe/Madrid.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A file holding the household's read-only API token (made on the household page): the next "
    "sell window, private advice, is published too.",
)
@click.option("--once", is_flag=True, help="Publish once and exit (a check of the setup).")
def ha_publish(
    vatio_url,
    household,
    deployment,
    rpc_url,
    broker,
    broker_username,
    broker_password_file,
    broker_ca,
    node_id,
    every_s,
    zone_name,
    token_file,
    once,
):
    """Publish Vatio's prices, advice, balances and savings to Home Assistant (MQTT discovery)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from backend.bridge.ha_publish import HomeAssistantPublisher
    from backend.bridge.publisher import BrokerSettings
    from backend.bridge.vatio_feed import ChainReader, FeedError, VatioApi, VatioFeed
    from backend.chain.deploy import Deployment

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        zone = ZoneInfo(zone_name) if zone_name else None
        community = Deployment.read(deployment)
        feed = VatioFeed(
            VatioApi(vatio_url, token=_read_secret(token_file)), ChainReader(rpc_url, community), household, zone
        )
        node_id = node_id or f"vatio_{feed.household[2:10].lower()}"
        settings = BrokerSettings(
            url=broker,
            username=broker_username,
            password=_read_secret(broker_password_file),
            ca_file=broker_ca,
            client_id=f"vatio-ha-{node_id}",
        )
        publisher = HomeAssistantPublisher(settings, node_id, feed.read, every_s)
    except (ValueError, KeyError, OSError, ZoneInfoNotFoundError) as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from None
    click.echo(f"Home Assistant entities of {feed.household} as node {node_id} on {broker}, every {every_s:g} s")
    try:
        if once:
            if not publisher.connected.wait(15):
                raise click.ClickException(f"no connection to {broker}: {publisher.last_error or 'no answer'}")
            try:
                published = publisher.publish_once()
            except FeedError as error:
                raise click.ClickException(str(error)) from None
            click.echo(f"published {len(published)} messages")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            publisher.run(stop)
        except KeyboardInterrupt:
            stop.set()
    finally:
        publisher.close()
