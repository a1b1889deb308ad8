"""Audit one settled interval: archive against chain, solver re-run, token supply.

Each check runs even when an earlier one failed (a missing archive does not
stop the solver re-run, which needs only the chain), so the line shows every
difference at once.
"""

from __future__ import annotations

from web3.exceptions import Web3Exception

from backend.audit.archive_checks import check_archive
from backend.audit.archive_source import ArchiveMissing, ArchiveSource
from backend.audit.chain_view import ChainView, SettledInterval
from backend.audit.report import IntervalResult
from backend.audit.solver_check import check_solver
from backend.audit.supply_check import check_supply
from backend.audit.verified_readings import VerifiedReadings
from backend.protocol.archive import ArchiveMalformed
from backend.protocol.readings import MeterDomain


def audit_interval(
    settled: SettledInterval,
    chain: ChainView,
    archive: ArchiveSource,
    domain: MeterDomain,
    verified: VerifiedReadings | None = None,
) -> IntervalResult:
    """One interval's findings; pass one `verified` to every interval of a run so that a reading
    listed in two neighbouring intervals has its signer recovered once."""
    result = IntervalResult(
        settled.interval_id,
        leaves=len(settled.entries),
        clearing_price=settled.clearing_price,
        fills=len(settled.fills),
    )
    try:
        document = archive.load(settled.interval_id)
    except ArchiveMissing as missing:
        result.problems.append(str(missing))
    except ArchiveMalformed as malformed:
        result.problems.append(f"archive document malformed: {malformed}")
    else:
        result.leaves = len(document.leaves)
        result.problems += check_archive(document, settled, chain, archive, domain, verified)

    try:
        problems, _ = check_solver(settled, chain)
        result.problems += problems
    except Web3Exception as error:  # before ValueError: some web3 errors are ValueErrors too
        result.errors.append(
            f"cannot read the market at block {settled.first_block - 1} (the node may not keep old state): {error}"
        )
    except ValueError as error:  # the solver refuses the settled entries (e.g. a household twice)
        result.problems.append(f"the solver cannot clear the settled entries: {error}")

    try:
        result.problems += check_supply(chain, settled.closed_block)
    except Web3Exception as error:
        result.errors.append(f"cannot read the token supply at block {settled.closed_block}: {error}")
    return result
