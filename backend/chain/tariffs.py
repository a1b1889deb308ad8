"""Registering tariff schedule versions and their band calendars on CommunityRegistry (web3).

A version's hash is keccak256 of the file's bytes; statements and the auditor
find the file for an interval by that hash (`find_schedule`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from web3.contract import Contract

from backend.chain.deploy import Deployer
from backend.paths import REPO_ROOT
from backend.tariffs.onchain import band_bounds, calendar_words, last_covered_day
from backend.tariffs.schema import Schedule, TariffError, load_schedule

TARIFFS_DIR = REPO_ROOT / "config" / "tariffs"
CALENDAR_CHUNK_DAYS = 31  # one setBandCalendar transaction: about 31 x 25k gas


@dataclass(frozen=True)
class OnChainVersion:
    version: int
    schedule_hash: bytes
    effective_from: int
    band_count: int


def read_versions(registry: Contract, block: int | str = "latest") -> list[OnChainVersion]:
    count = registry.functions.tariffVersionCount().call(block_identifier=block)
    versions = []
    for number in range(count):
        schedule_hash, effective_from, band_count, _, _ = registry.functions.tariffVersion(number).call(
            block_identifier=block
        )
        versions.append(OnChainVersion(number, bytes(schedule_hash), effective_from, band_count))
    return versions


def version_at(versions: list[OnChainVersion], interval_id: int) -> OnChainVersion:
    for version in reversed(versions):
        if version.effective_from <= interval_id or version.version == 0:
            return version
    raise ValueError("no tariff version on-chain")


def find_schedule(schedule_hash: bytes, directories: Iterable[Path] = (TARIFFS_DIR,)) -> Schedule:
    """The schedule file whose bytes hash to `schedule_hash`, among the *.toml files of `directories`."""
    for directory in directories:
        for path in sorted(Path(directory).glob("*.toml")):
            schedule = load_schedule(path)
            if schedule.source_hash == schedule_hash:
                return schedule
    raise TariffError(
        f"no tariff file in {', '.join(str(d) for d in directories)} has the on-chain hash "
        f"0x{schedule_hash.hex()}: the file was changed or is missing"
    )


def earliest_new_version(registry: Contract, block_timestamp: int) -> int:
    """The first interval a new version may start at, as `addTariffVersion` judges it at `block_timestamp`:
    after the current interval and after the newest version's start (never backwards)."""
    interval_seconds = registry.functions.intervalSeconds().call()
    newest = read_versions(registry)[-1]
    return max(block_timestamp // interval_seconds + 1, newest.effective_from + 1)


def first_unset_day(registry: Contract, version: int, from_day: int, limit: int = 4000) -> int:
    """The first UTC day on or after `from_day` whose calendar word is not set for `version`."""
    for day in range(from_day, from_day + limit):
        if registry.functions.bandCalendar(version, day).call() == 0:
            return day
    raise TariffError(f"version {version} has a calendar for more than {limit} days from UTC day {from_day}")


def push_calendar(
    deployer: Deployer, registry: Contract, version: int, schedule: Schedule, first_day: int, days: int
) -> int:
    """Sets the band calendar of `days` UTC days from `first_day`; returns how many days were set."""
    words = calendar_words(schedule, first_day, days)
    for start in range(0, len(words), CALENDAR_CHUNK_DAYS):
        deployer.call(
            registry.functions.setBandCalendar(version, first_day + start, words[start : start + CALENDAR_CHUNK_DAYS])
        )
    return len(words)


def register_schedule(
    deployer: Deployer,
    registry: Contract,
    schedule: Schedule,
    effective_from: int | None = None,
    calendar_days: int = 62,
) -> OnChainVersion:
    """addTariffVersion (from `effective_from`, the next interval when None) and the calendar of the days
    from the effective interval's UTC day on (schedules with several bands)."""
    web3 = deployer.web3
    interval_seconds = registry.functions.intervalSeconds().call()
    if effective_from is None:
        now = web3.eth.get_block("latest")["timestamp"]
        # The next block may come a few seconds later: two intervals ahead is never in the past.
        effective_from = now // interval_seconds + 2
    bounds = band_bounds(schedule)
    first_day = effective_from * interval_seconds // 86400
    # Checked before anything is sent: a version without its calendar would leave intervals with no band.
    if len(bounds) > 1 and first_day > last_covered_day(schedule):
        raise TariffError(f"schedule {schedule.name!r} covers no day from interval {effective_from} on")
    receipt = deployer.call(registry.functions.addTariffVersion(schedule.source_hash, effective_from, bounds))
    version = registry.events.TariffVersionAdded().process_receipt(receipt)[0]["args"]["version"]
    if len(bounds) > 1:
        push_calendar(deployer, registry, version, schedule, first_day, calendar_days)
    return OnChainVersion(version, schedule.source_hash, effective_from, len(bounds))
