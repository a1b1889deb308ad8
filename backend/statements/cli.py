"""`vatio statements --month YYYY-MM [--household ADDR]`: each member's PDF and CSV for a month."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import click

from backend.tariffs.options import tariffs_dir_option


class StatementsCannotStart(click.ClickException):
    exit_code = 2


def schedule_finder(directories: tuple[Path, ...]):
    from backend.chain.tariffs import TARIFFS_DIR, find_schedule

    folders = directories or (TARIFFS_DIR,)

    @lru_cache(maxsize=16)
    def schedule_for(schedule_hash: bytes):
        return find_schedule(schedule_hash, folders)

    return schedule_for


@click.command()
@click.option("--month", required=True, help="The local month, YYYY-MM, in the tariff's time zone.")
@click.option("--household", "households", multiple=True, help="Only this household (repeatable).")
@click.option(
    "--out",
    "out_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="<var>/statements",
    help="Writes <out>/<YYYY-MM>/<household>.pdf and .csv.",
)
@click.option(
    "--source",
    type=click.Choice(["db", "chain"]),
    default="db",
    show_default=True,
    help="Events from the indexer's database ($VATIO_DATABASE_URL) or from the node's logs.",
)
@click.option(
    "--lang",
    type=click.Choice(["es", "en"]),
    default=None,
    show_default="es for a Spanish time zone, else en",
    help="The members' language.",
)
@tariffs_dir_option
@click.option("--rpc-url", default=None, show_default="$VATIO_RPC_URL or http://127.0.0.1:8545")
@click.option("--deployment", "deployment_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--no-pdf", is_flag=True, help="CSV only.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    show_default="the number of CPUs",
    help="Processes rendering the PDFs.",
)
def statements(month, households, out_root, source, lang, tariff_dirs, rpc_url, deployment_path, no_pdf, workers):
    """Write each member's monthly statement: energy, money per band and component, with and without the
    community, the saving, the KPIs and the settled intervals with their transactions."""
    from web3 import Web3

    from backend.paths import var_dir
    from backend.settings import AuditSettings, SettingsError
    from backend.statements.audit import community_zone
    from backend.statements.compose import MonthEvents, VersionAdded, month_intervals
    from backend.statements.generate import write_statements
    from backend.statements.sources import events_from_chain, events_from_db
    from backend.tariffs.schema import TariffError

    try:
        settings = AuditSettings.from_env(rpc_url=rpc_url, deployment=deployment_path)
    except SettingsError as error:
        raise StatementsCannotStart(str(error)) from None
    web3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 60}))
    if not web3.is_connected():
        raise StatementsCannotStart(f"no JSON-RPC node answers at {settings.rpc_url}")
    try:
        deployment = settings.load_deployment(web3.eth.chain_id)
    except (SettingsError, OSError) as error:
        raise StatementsCannotStart(str(error)) from None
    schedule_for = schedule_finder(tuple(tariff_dirs))
    try:
        # The zone first (from the chain's versions), then the month's window in it.
        registry = deployment.contract(web3, "CommunityRegistry")
        seconds = registry.functions.intervalSeconds().call()
        versions = MonthEvents(seconds)
        for number in range(registry.functions.tariffVersionCount().call()):
            schedule_hash, effective_from, *_ = registry.functions.tariffVersion(number).call()
            versions.add(VersionAdded(number, bytes(schedule_hash), effective_from))
        zone = community_zone(versions, schedule_for)
        window = month_intervals(month, zone, seconds)
        if source == "chain":
            events = events_from_chain(web3, deployment, window)
        else:
            from backend.db.session import make_engine, session_factory

            engine = make_engine()
            with session_factory(engine)() as session:
                events = events_from_db(session, seconds, window)
        written = write_statements(
            events,
            month,
            schedule_for,
            zone,
            out_root or var_dir() / "statements",
            households or None,
            lang,
            pdf=not no_pdf,
            workers=workers or os.cpu_count() or 1,
        )
    except (TariffError, ValueError) as error:
        raise StatementsCannotStart(str(error)) from None
    for item in written:
        click.echo(
            f"{item.household}: total {item.total} EUR, without the community {item.without} EUR, "
            f"saving {item.saving} EUR -> {item.csv}" + (f", {item.pdf.name}" if item.pdf else "")
        )
    if not written:
        click.echo(f"no settled intervals billed by a tariff schedule in {month}")
