"""`vatio tariff`: check a schedule file, list the registered versions, register a new version, and push more
days of a version's band calendar, from the admin's key.

Everything is checked before the first transaction (the file, the admin role, the start, the days the file
covers), so a refused command changes nothing on-chain. "Now" is the chain's latest block, the clock
the registry judges by.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from backend.settings import DeploySettings, SettingsError
from backend.tariffs.options import tariffs_dir_option

UTC = dt.UTC


class TariffRefused(click.ClickException):
    """A refused request: exit 1 with the reason, nothing sent."""


def _day(day: int) -> str:
    return f"{dt.datetime.fromtimestamp(day * 86400, UTC):%Y-%m-%d}"


def _interval(interval_id: int, seconds: int) -> str:
    return f"{interval_id} ({dt.datetime.fromtimestamp(interval_id * seconds, UTC):%Y-%m-%d %H:%M} UTC)"


def _load(path: Path, now: dt.datetime | None):
    """The schedule, validated (a start in the past refused when `now` is given); every problem at once."""
    from backend.tariffs.schema import TariffError, load_schedule
    from backend.tariffs.validate import validate_schedule

    try:
        return validate_schedule(load_schedule(path), now)
    except TariffError as error:
        raise TariffRefused(f"{path}: {error}") from None


def _bounds(schedule):
    from backend.tariffs.onchain import band_bounds
    from backend.tariffs.schema import TariffError

    try:
        return band_bounds(schedule)
    except TariffError as error:
        raise TariffRefused(str(error)) from None


def _eur(units: int) -> str:
    return f"{units / 1e6:.3f}"


def chain_options(function):
    options = [
        click.option("--network", default=None, show_default="$VATIO_NETWORK or local"),
        click.option("--rpc-url", default=None, show_default="$VATIO_RPC_URL or http://127.0.0.1:8545"),
        click.option(
            "--deployment",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            show_default="$VATIO_DEPLOYMENT or <deployments>/<chainId>.json",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def key_options(function):
    options = [
        click.option("--keystore", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None),
        click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None),
        click.option("--private-key", default=None, help="Raw admin key: local chains only (default: Anvil's first)."),
        click.option("--dry-run", is_flag=True, help="Check and print what would be sent; send nothing."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


class Community:
    """The node, the deployment and its registry, from the command's options."""

    def __init__(self, network, rpc_url, deployment, keystore=None, password_file=None, private_key=None):
        from web3 import Web3

        from backend.chain.networks import NetworkMismatch, network_named

        try:
            self.settings = DeploySettings.from_env(
                network=network,
                rpc_url=rpc_url,
                deployment=deployment,
                deployer_key=private_key,
                keystore=keystore,
                keystore_password_file=password_file,
            )
        except SettingsError as error:
            raise click.ClickException(str(error)) from None
        self.web3 = Web3(Web3.HTTPProvider(self.settings.rpc_url))
        if not self.web3.is_connected():
            raise click.ClickException(f"no JSON-RPC node answers at {self.settings.rpc_url}")
        self.chain_id = self.web3.eth.chain_id
        self.network = network_named(self.settings.network)
        try:
            self.network.check_chain_id(self.chain_id)
            self.deployment = self.settings.load_deployment(self.chain_id)
        except (NetworkMismatch, SettingsError) as error:
            raise click.ClickException(str(error)) from None
        self.registry = self.deployment.contract(self.web3, "CommunityRegistry")
        self.interval_seconds = self.registry.functions.intervalSeconds().call()
        self.now = self.web3.eth.get_block("latest")["timestamp"]

    def admin(self):
        """The admin's Deployer; refused unless the key holds the registry's admin role."""
        from backend.chain.deploy import Deployer
        from backend.chain.keys import read_password, resolve_account

        settings = self.settings
        secret = None
        if settings.keystore is not None:
            secret = read_password(
                settings.keystore_password_file, prompt=lambda: click.prompt("keystore password", hide_input=True)
            )
        try:
            account = resolve_account(settings.deployer_key, settings.keystore, secret, self.chain_id, role="admin")
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        role = self.registry.functions.DEFAULT_ADMIN_ROLE().call()
        if not self.registry.functions.hasRole(role, account.address).call():
            raise TariffRefused(f"{account.address} is not the registry's admin: only the admin's key may do this")
        return Deployer(self.web3, account, self.network.evm_version)


@click.group()
def tariff() -> None:
    """Tariff schedules on-chain (docs/tariffs.md): check a file, list versions, add one, extend a calendar."""


@tariff.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(path: Path) -> None:
    """Validate a schedule file (its start must be in the future, by this machine's clock) and print its
    hash and the bounds the registry would store per band."""
    schedule = _load(path, dt.datetime.now(UTC))
    click.echo(f"{schedule.name} (version {schedule.version}, {schedule.timezone}) is valid")
    click.echo(f"hash 0x{schedule.source_hash.hex()}")
    for band, (feed_in, retail) in zip(schedule.bands, _bounds(schedule), strict=True):
        click.echo(f"band {band.name}: feed-in {_eur(feed_in)} .. retail {_eur(retail)} EUR/kWh on-chain")


@tariff.command()
@chain_options
@tariffs_dir_option
def show(network, rpc_url, deployment, tariff_dirs) -> None:
    """List the registered versions: start, hash, file, band bounds, and how far each calendar reaches."""
    from backend.chain.tariffs import TARIFFS_DIR, find_schedule, first_unset_day, read_versions
    from backend.tariffs.schema import TariffError

    community = Community(network, rpc_url, deployment)
    registry, seconds = community.registry, community.interval_seconds
    today = community.now // 86400
    for version in read_versions(registry):
        if version.schedule_hash == b"\0" * 32:
            name = "flat tariff"
        else:
            try:
                name = find_schedule(version.schedule_hash, tariff_dirs or (TARIFFS_DIR,)).name
            except TariffError:
                name = "no tariff file has this hash here"
        click.echo(f"version {version.version}: from interval {_interval(version.effective_from, seconds)}, {name}")
        click.echo(f"  hash 0x{version.schedule_hash.hex()}")
        for band in range(version.band_count):
            feed_in, retail = registry.functions.bandBounds(version.version, band).call()
            click.echo(f"  band {band}: feed-in {_eur(feed_in)} .. retail {_eur(retail)} EUR/kWh")
        if version.band_count > 1:
            start = max(version.effective_from * seconds // 86400, today)
            end = first_unset_day(registry, version.version, start)
            reach = f"up to {_day(end - 1)} (UTC)" if end > start else f"not set from {_day(start)} (UTC)"
            click.echo(f"  calendar: {reach}")


@tariff.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@chain_options
@key_options
@click.option(
    "--from-interval",
    "from_interval",
    type=int,
    default=None,
    help="The first interval of the new version; default: the file's valid_from (local midnight).",
)
@click.option(
    "--calendar-days",
    type=click.IntRange(min=1, max=1000),
    default=62,
    show_default=True,
    help="UTC days of band calendar to push from the start (capped at the end of the file's years).",
)
def add(
    path, network, rpc_url, deployment, keystore, password_file, private_key, dry_run, from_interval, calendar_days
):
    """Register a schedule file as a new tariff version, from a future interval only, with its calendar."""
    from backend.chain.tariffs import plan_version, register_schedule
    from backend.tariffs.schema import TariffError, load_schedule

    community = Community(network, rpc_url, deployment, keystore, password_file, private_key)
    seconds, registry = community.interval_seconds, community.registry
    try:
        # The checks the admin's upload makes too (backend/web/tariffs.py): one function, every problem at once.
        plan = plan_version(registry, load_schedule(path), community.now, from_interval, calendar_days)
    except TariffError as error:
        raise TariffRefused(f"{path}: {error}") from None
    schedule = plan.schedule
    click.echo(f"{schedule.name}: hash 0x{schedule.source_hash.hex()}, {len(plan.bounds)} band(s)")
    click.echo(f"from interval {_interval(plan.effective_from, seconds)}")
    if plan.calendar_days:
        click.echo(f"calendar {_day(plan.first_day)} .. {_day(plan.last_day)} (UTC), {plan.calendar_days} days")
    if dry_run:
        click.echo("dry run: nothing sent")
        return
    try:
        registered = register_schedule(community.admin(), registry, schedule, plan.effective_from, calendar_days)
    except TariffError as error:
        raise TariffRefused(str(error)) from None
    click.echo(f"registered version {registered.version}")


@tariff.command()
@chain_options
@key_options
@click.option("--version", "version_number", type=int, default=None, help="Default: the newest version.")
@click.option(
    "--days",
    type=click.IntRange(min=1, max=1000),
    default=62,
    show_default=True,
    help="UTC days to add after the last day set (capped at the end of the file's years).",
)
@tariffs_dir_option
def calendar(
    network, rpc_url, deployment, keystore, password_file, private_key, dry_run, version_number, days, tariff_dirs
):
    """Push more days of a version's band calendar, from the first day not yet set (today's at the earliest),
    derived from the file whose hash is the version's."""
    from backend.chain.tariffs import TARIFFS_DIR, find_schedule, first_unset_day, push_calendar, read_versions
    from backend.tariffs.onchain import last_covered_day
    from backend.tariffs.schema import TariffError

    community = Community(network, rpc_url, deployment, keystore, password_file, private_key)
    registry, seconds = community.registry, community.interval_seconds
    versions = read_versions(registry)
    number = versions[-1].version if version_number is None else version_number
    if not 0 <= number < len(versions):
        raise TariffRefused(f"--version {number}: the registry has versions 0 to {len(versions) - 1}")
    version = versions[number]
    if version.band_count == 1:
        raise TariffRefused(f"version {number} has a single band: it needs no calendar")
    try:
        schedule = find_schedule(version.schedule_hash, tariff_dirs or (TARIFFS_DIR,))
    except TariffError as error:
        raise TariffRefused(str(error)) from None
    today = community.now // 86400
    first_day = first_unset_day(registry, number, max(version.effective_from * seconds // 86400, today))
    last_day = min(first_day + days - 1, last_covered_day(schedule))
    if last_day < first_day:
        raise TariffRefused(
            f"version {number}'s file {schedule.name!r} ends with the year {max(schedule.years)}: its calendar is "
            f"set up to {_day(first_day - 1)}; register a new version for the days after"
        )
    click.echo(f"version {number} ({schedule.name}): calendar {_day(first_day)} .. {_day(last_day)} (UTC)")
    if dry_run:
        click.echo("dry run: nothing sent")
        return
    pushed = push_calendar(community.admin(), registry, number, schedule, first_day, last_day - first_day + 1)
    click.echo(f"set {pushed} days")
