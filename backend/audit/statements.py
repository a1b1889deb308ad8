"""`vatio audit --statements --month YYYY-MM`: the month's statements re-derived from the node's logs.

The settlement entries themselves (produced and consumed Wh) are checked against the signed readings of
the archive by the interval audit, which runs first over the month's intervals.
"""

from __future__ import annotations

from pathlib import Path

from backend.chain.tariffs import TARIFFS_DIR, find_schedule, read_versions
from backend.paths import var_dir
from backend.statements.audit import audit_statements, community_zone
from backend.statements.compose import MonthEvents, VersionAdded, month_intervals
from backend.statements.files import statement_dir
from backend.statements.sources import events_from_chain
from backend.tariffs.schema import TariffError


def _finder(tariff_dirs):
    folders = tuple(tariff_dirs) or (TARIFFS_DIR,)
    found: dict[bytes, object] = {}

    def schedule_for(schedule_hash: bytes):
        if schedule_hash not in found:
            found[schedule_hash] = find_schedule(schedule_hash, folders)
        return found[schedule_hash]

    return schedule_for


def month_window(web3, deployment, month: str, tariff_dirs=()) -> range:
    registry = deployment.contract(web3, "CommunityRegistry")
    seconds = registry.functions.intervalSeconds().call()
    versions = MonthEvents(seconds)
    for version in read_versions(registry):
        versions.add(VersionAdded(version.version, version.schedule_hash, version.effective_from))
    try:
        zone = community_zone(versions, _finder(tariff_dirs))
    except TariffError:
        zone = None
    if zone is None:  # the statements audit names the tariff problem; the intervals are the UTC month's
        from backend.tariffs.bands import UTC

        zone = UTC
    return month_intervals(month, zone, seconds)


def audit_month_statements(
    web3, deployment, month: str, folder: Path | None, tariff_dirs=(), blocks_per_query: int = 10_000
) -> list[str]:
    schedule_for = _finder(tariff_dirs)
    window = month_window(web3, deployment, month, tariff_dirs)
    events = events_from_chain(web3, deployment, window, blocks_per_query)
    folder = statement_dir(folder or var_dir() / "statements", month)
    _, problems = audit_statements(folder, month, events, schedule_for)
    return problems
