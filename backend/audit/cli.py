"""`vatio audit`: one line per settled interval, from any RPC URL and the readings archive."""

from __future__ import annotations

from pathlib import Path

import click

from backend.audit.report import (
    DEFAULT_PROBLEMS_SHOWN,
    EXIT_DIFFERENCE,
    EXIT_UNCHECKED,
    exit_code,
    format_line,
    format_summary,
)
from backend.settings import AuditSettings, SettingsError
from backend.tariffs.options import tariffs_dir_option


class AuditCannotStart(click.ClickException):
    """A usage or connection problem: nothing was audited (exit code 2)."""

    exit_code = EXIT_UNCHECKED


@click.command()
@click.option("--rpc-url", default=None, show_default="$VATIO_RPC_URL or http://127.0.0.1:8545")
@click.option(
    "--archive",
    "archive_location",
    default=None,
    show_default="$VATIO_ARCHIVE_DIR or <var>/archive, where the oracle writes it",
    help="A folder (<folder>/<chainId>/<intervalId>.json) or the web app's URL base "
    "(GET <base>/api/intervals/<id>/archive).",
)
@click.option(
    "--deployment",
    "deployment_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    show_default="$VATIO_DEPLOYMENT or <deployments>/<chainId>.json",
    help="Deployment file.",
)
@click.option("--from", "from_interval", type=click.IntRange(min=0), default=None, help="First interval id.")
@click.option("--to", "to_interval", type=click.IntRange(min=0), default=None, help="Last interval id.")
@click.option(
    "--blocks-per-query",
    default=10_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Block range of one eth_getLogs request (public nodes cap it).",
)
@click.option(
    "--calls-per-batch",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="eth_calls sent together in one JSON-RPC batch (public nodes cap it; 1: one request each).",
)
@click.option("--verbose", "-v", is_flag=True, help=f"List every finding, not the first {DEFAULT_PROBLEMS_SHOWN}.")
@click.option(
    "--statements",
    "check_statements",
    is_flag=True,
    help="Also re-derive every line of the month's statements (needs --month); the month's intervals "
    "are audited first.",
)
@click.option("--month", default=None, help="With --statements: the local month, YYYY-MM.")
@click.option(
    "--statements-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_default="<var>/statements",
    help="Where `vatio statements` wrote them.",
)
@tariffs_dir_option
@click.pass_context
def audit(
    ctx,
    rpc_url,
    archive_location,
    deployment_path,
    from_interval,
    to_interval,
    blocks_per_query,
    calls_per_batch,
    verbose,
    check_statements,
    month,
    statements_dir,
    tariff_dirs,
):
    """Re-check settled intervals from the chain and the readings archive.

    Per interval: every reading's signature, the leaves and the readings root
    against IntervalSettled, each leaf against HouseholdSettled and the
    registry, the solver re-run against the price and fills, and the token
    supply. Exit code 0: all OK; 1: a difference; 2: could not audit.
    """
    from requests.exceptions import RequestException
    from web3 import Web3
    from web3.exceptions import Web3Exception

    from backend.audit.archive_source import ArchiveSource, ArchiveUnreachable
    from backend.audit.chain_view import ChainView
    from backend.audit.checks import audit_interval
    from backend.audit.logs import LogsUnreadable
    from backend.audit.verified_readings import VerifiedReadings
    from backend.chain.batch import BatchRefused
    from backend.protocol.readings import MeterDomain

    if from_interval is not None and to_interval is not None and from_interval > to_interval:
        raise AuditCannotStart(f"--from {from_interval} is after --to {to_interval}")
    if check_statements != (month is not None):
        raise AuditCannotStart("--statements and --month go together")
    try:
        settings = AuditSettings.from_env(rpc_url=rpc_url, archive=archive_location, deployment=deployment_path)
    except SettingsError as error:
        raise AuditCannotStart(str(error)) from None
    rpc_url, archive_location = settings.rpc_url, settings.archive
    web3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
    if not web3.is_connected():
        raise AuditCannotStart(f"no JSON-RPC node answers at {rpc_url}")
    try:
        chain_id = web3.eth.chain_id
        deployment = _load_deployment(web3, chain_id, settings)
        chain = ChainView(web3, deployment, blocks_per_query=blocks_per_query, calls_per_batch=calls_per_batch)
        archive = ArchiveSource(archive_location, chain_id)
        domain = MeterDomain(chain_id, deployment.address("CommunityRegistry"))
        verified = VerifiedReadings(domain)  # a reading listed in two intervals is recovered once
        if check_statements:
            from backend.audit.statements import month_window

            window = month_window(web3, deployment, month, tariff_dirs)
            from_interval, to_interval = window.start, window.stop - 1

        def selected(interval_id: int) -> bool:
            return (from_interval is None or interval_id >= from_interval) and (
                to_interval is None or interval_id <= to_interval
            )

        click.echo(
            f"auditing chain {chain_id} up to block {chain.head}: market "
            f"{deployment.address('EnergyMarket')}, archive {archive.describe()}",
            err=True,
        )
        results = []
        chain.prefetch_intervals(list(filter(selected, chain.settled_interval_ids())))
        for interval_id in filter(selected, chain.settled_interval_ids()):
            result = audit_interval(chain.intervals[interval_id], chain, archive, domain, verified)
            results.append(result)
            click.echo(format_line(result, None if verbose else DEFAULT_PROBLEMS_SHOWN))
        for interval_id in filter(selected, chain.open_interval_ids()):
            click.echo(
                f"interval {interval_id} PENDING: {chain.intervals[interval_id].chunks_seen} settlement "
                f"chunk(s) on-chain, not closed yet (not audited)"
            )
    except (ArchiveUnreachable, BatchRefused, LogsUnreadable) as error:
        raise AuditCannotStart(str(error)) from None
    except (RequestException, Web3Exception) as error:
        raise AuditCannotStart(f"the node at {rpc_url} failed: {error}") from None
    if not results:
        click.echo("no settled intervals in the selection")
    click.echo(format_summary(results))
    code = exit_code(results)
    if check_statements:
        from backend.audit.statements import audit_month_statements

        problems = audit_month_statements(web3, deployment, month, statements_dir, tariff_dirs, blocks_per_query)
        for problem in problems if verbose else problems[:DEFAULT_PROBLEMS_SHOWN]:
            click.echo(f"STATEMENT {problem}")
        if len(problems) > DEFAULT_PROBLEMS_SHOWN and not verbose:
            click.echo(f"... and {len(problems) - DEFAULT_PROBLEMS_SHOWN} more statement findings (--verbose)")
        verdict = "every line re-derived" if not problems else f"{len(problems)} difference(s)"
        click.echo(f"statements of {month}: {verdict}")
        if problems:
            code = EXIT_DIFFERENCE
    ctx.exit(code)


def _load_deployment(web3, chain_id: int, settings: AuditSettings):
    from backend.chain.deploy import is_deployed

    try:
        deployment = settings.load_deployment(chain_id)
    except SettingsError as error:
        raise AuditCannotStart(str(error)) from None
    except OSError as error:
        raise AuditCannotStart(
            f"cannot read the deployment file {settings.deployment_file(chain_id)}: {error!r}"
        ) from None
    if not is_deployed(web3, deployment):
        raise AuditCannotStart(f"the deployment's contracts have no code on chain {chain_id} at this node")
    return deployment
