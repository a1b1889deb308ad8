"""Registering tariff schedule versions and their band calendars on CommunityRegistry (web3).

A version's hash is keccak256 of the file's bytes; statements and the auditor
find the file for an interval by that hash (`find_schedule`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from web3.contract import Contract

from backend.chain.deploy import Deployer
from backend.paths import REPO_ROOT
from backend.tariffs.onchain import band_bounds, calendar_words, first_interval, interval_label, last_covered_day
from backend.tariffs.schema import Schedule, TariffError, load_schedule
from backend.tariffs.validate import schedule_problems

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
    return _earliest(read_versions(registry)[-1], block_timestamp, interval_seconds)


def _earliest(newest: OnChainVersion, block_timestamp: int, interval_seconds: int) -> int:
    return max(block_timestamp // interval_seconds + 1, newest.effective_from + 1)


@dataclass(frozen=True)
class VersionPlan:
    """A schedule checked against the registry, ready to send: what `vatio tariff add` and the admin's upload
    (backend/web/tariffs.py) register."""

    schedule: Schedule
    version: int  # the number addTariffVersion will return, unless another version is added first
    effective_from: int  # the first interval in force
    bounds: list[tuple[int, int]]  # (feed-in, retail) per band, payment units per kWh
    first_day: int  # the calendar's first UTC day (the effective interval's)
    last_day: int  # its last UTC day, inclusive; single-band schedules push no calendar

    @property
    def calendar_days(self) -> int:
        return max(self.last_day - self.first_day + 1, 0) if len(self.bounds) > 1 else 0


def plan_version(
    registry: Contract,
    schedule: Schedule,
    block_timestamp: int,
    from_interval: int | None = None,
    calendar_days: int = 62,
) -> VersionPlan:
    """Every check made before a new version is sent, judged at `block_timestamp` (the chain's clock); all the
    problems at once in one TariffError: the file's meaning with a start in the future (validate.py), bounds on
    the price tick, not the newest version's file again, a start the registry accepts (after the current
    interval and the newest version's start, never backwards) and not before the file's valid_from, and years
    that cover the calendar's first day. From `from_interval`, else the file's valid_from (local midnight)."""
    interval_seconds = registry.functions.intervalSeconds().call()
    problems = schedule_problems(schedule, dt.datetime.fromtimestamp(block_timestamp, dt.UTC))
    bounds: list[tuple[int, int]] = []
    if not problems:  # a band refused above (feed-in over retail) would only be named again here
        try:
            bounds = band_bounds(schedule)
        except TariffError as error:
            problems.extend(error.problems)
    versions = read_versions(registry)
    newest = versions[-1]
    if newest.schedule_hash == schedule.source_hash:
        problems.append(
            f"this file is already the newest version ({newest.version}, from interval {newest.effective_from})"
        )
    earliest = _earliest(newest, block_timestamp, interval_seconds)
    file_start = first_interval(schedule, interval_seconds)
    start = max(file_start, earliest) if from_interval is None else from_interval
    if start < earliest:
        problems.append(
            f"the start, interval {interval_label(start, interval_seconds)}, is not in the future: the earliest a "
            f"new version may start is interval {interval_label(earliest, interval_seconds)} "
            "(a version never applies backwards)"
        )
    elif start < file_start:
        problems.append(
            f"the start, interval {interval_label(start, interval_seconds)}, is before the file's valid_from "
            f"{schedule.valid_from} (interval {file_start})"
        )
    first_day = start * interval_seconds // 86400
    last_day = min(first_day + calendar_days - 1, last_covered_day(schedule))
    if len(schedule.bands) > 1 and last_day < first_day:
        problems.append(f"the file covers no day from interval {start} on: its years are {list(schedule.years)}")
    if problems:
        raise TariffError(problems)
    return VersionPlan(schedule, len(versions), start, bounds, first_day, last_day)


def calendar_chunks(schedule: Schedule, first_day: int, days: int) -> list[tuple[int, list[int]]]:
    """(first UTC day, words) of each setBandCalendar transaction that sets `days` days from `first_day`."""
    words = calendar_words(schedule, first_day, days)
    return [
        (first_day + start, words[start : start + CALENDAR_CHUNK_DAYS])
        for start in range(0, len(words), CALENDAR_CHUNK_DAYS)
    ]


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
    chunks = calendar_chunks(schedule, first_day, days)
    for day, words in chunks:
        deployer.call(registry.functions.setBandCalendar(version, day, words))
    return sum(len(words) for _, words in chunks)


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
