"""Tariff schedules on the web: the admin uploads a schedule file and gets the transactions that register it;
anyone reads a week of the bands and prices in force.

The upload runs the checks `vatio tariff add` runs (`backend.chain.tariffs.plan_version`: the file's shape and
meaning, a start in the future by the chain's clock, the registry's rules), answers every problem at once, and
otherwise returns the unsigned addTariffVersion and setBandCalendar transactions for the admin's wallet: the
server holds no admin key. It keeps the accepted file under its hash (VATIO_TARIFFS_DIR), where statements, KPIs
and the week's bands find it once the version is on-chain.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, jsonify, request
from web3.exceptions import Web3Exception

from backend.chain.tariffs import (
    TARIFFS_DIR,
    OnChainVersion,
    calendar_chunks,
    find_schedule,
    plan_version,
    read_versions,
    version_at,
)
from backend.tariffs.bands import band_index_at
from backend.tariffs.schema import Schedule, TariffError, parse_schedule
from backend.web.access import require_admin
from backend.web.context import chain_call, config, rate_limited
from backend.web.errors import ApiError
from backend.web.validation import MAX_UINT64, json_body, parse_int

__all__ = ["admin_bp", "bp", "tariff_file"]

bp = Blueprint("tariffs", __name__, url_prefix="/api/tariffs")
admin_bp = Blueprint("admin_tariffs", __name__, url_prefix="/api/admin")
log = logging.getLogger(__name__)

WEEK_HOURS = 7 * 24
FLAT_HASH = b"\0" * 32


def _directories() -> tuple[Path, ...]:
    uploads = config().tariffs_dir
    return (TARIFFS_DIR,) if uploads is None else (TARIFFS_DIR, uploads)


@lru_cache(maxsize=16)
def _cached_file(schedule_hash: bytes, directories: tuple[Path, ...]) -> Schedule:
    return find_schedule(schedule_hash, directories)


def tariff_file(schedule_hash: bytes) -> Schedule:
    """The schedule file whose bytes hash to this on-chain hash: config/tariffs, then the admin's uploads.
    TariffError when neither has it (a failure is not cached: the file may be uploaded later)."""
    return _cached_file(schedule_hash, _directories())


def _chain(read):
    """A chain read through the web's gateway; 503 when the node does not answer."""

    def call(gateway):
        try:
            return read(gateway)
        except TariffError:
            raise
        except (OSError, Web3Exception, ValueError) as exc:
            raise ApiError(503, "chain_unavailable", f"the chain did not answer: {type(exc).__name__}: {exc}") from exc

    return chain_call(call)


@dataclass(frozen=True)
class _Shown:
    """One version as the week shows it: its on-chain record, its file (None: flat or not on this server)."""

    version: OnChainVersion
    schedule: Schedule | None
    bounds: list[tuple[int, int]]


def _price(value) -> str:
    return format(value, "f")


def _version_json(shown: _Shown, interval_seconds: int) -> dict:
    version, schedule = shown.version, shown.schedule
    bands = []
    for index, (feed_in, retail) in enumerate(shown.bounds):
        band = schedule.bands[index] if schedule is not None and index < len(schedule.bands) else None
        bands.append(
            {
                "index": index,
                "name": band.name if band is not None else ("flat" if schedule is None else f"#{index}"),
                "feedInPrice": feed_in,
                "retailPrice": retail,
                "prices": None
                if band is None
                else {
                    "retailImport": _price(band.retail_import),
                    "feedIn": _price(band.feed_in),
                    "gridAccess": _price(band.grid_access),
                    "gridCharges": _price(band.grid_charges),
                },
            }
        )
    flat = version.schedule_hash == FLAT_HASH
    return {
        "version": version.version,
        "scheduleHash": "0x" + version.schedule_hash.hex(),
        "effectiveFrom": version.effective_from,
        "effectiveFromTime": version.effective_from * interval_seconds,
        "flat": flat,
        "name": None if schedule is None else schedule.name,
        "timeZone": None if schedule is None else schedule.timezone,
        "fileFound": flat or schedule is not None,
        "bands": bands,
    }


def _band(shown: _Shown, instant: dt.datetime) -> int | None:
    if len(shown.bounds) == 1:
        return 0
    if shown.schedule is None:
        return None  # the file is not on this server: the band is unknown here
    try:
        return band_index_at(shown.schedule, instant)
    except TariffError:
        return None  # outside the file's years: no band (the registry would refuse the interval too)


def _week(start: int, interval_seconds: int, shown: list[_Shown]) -> dict:
    """168 hours from `start` (a whole hour): each hour's version and band index (its start's), and the versions
    those hours use, with their bands' on-chain bounds and the file's prices."""
    versions = [s.version for s in shown]
    by_number = {s.version.version: s for s in shown}
    hours, used = [], []
    for hour in range(WEEK_HOURS):
        instant = start + hour * 3600
        interval_id = instant // interval_seconds
        if interval_id < versions[0].effective_from and versions[0].version != 0:
            hours.append({"start": instant, "version": None, "band": None})
            continue
        current = by_number[version_at(versions, interval_id).version]
        if current not in used:
            used.append(current)
        band = _band(current, dt.datetime.fromtimestamp(instant, dt.UTC))
        hours.append({"start": instant, "version": current.version.version, "band": band})
    return {
        "from": start,
        "to": start + WEEK_HOURS * 3600,
        "intervalSeconds": interval_seconds,
        "versions": [_version_json(s, interval_seconds) for s in used],
        "hours": hours,
    }


@bp.get("/week")
def week():
    """A week of hours from `from` (default: now), each with the tariff version in force and its band."""
    raw = request.args.get("from")
    start = dt.datetime.now(dt.UTC).timestamp() if raw is None else parse_int(raw, "from", maximum=2**40)
    start = int(start) // 3600 * 3600

    def read(gateway):
        seconds = gateway.interval_seconds
        versions = read_versions(gateway.registry)
        end_interval = (start + WEEK_HOURS * 3600 - 1) // seconds
        first = version_at(versions, start // seconds).version
        shown = []
        for version in versions[first:]:
            if version.effective_from > end_interval and version.version != first:
                break
            bounds = [
                tuple(gateway.registry.functions.bandBounds(version.version, band).call())
                for band in range(version.band_count)
            ]
            schedule = None
            if version.schedule_hash != FLAT_HASH:
                try:
                    schedule = tariff_file(version.schedule_hash)
                except TariffError:
                    log.warning("no tariff file for version %s (0x%s)", version.version, version.schedule_hash.hex())
            shown.append(_Shown(version, schedule, bounds))
        return seconds, shown

    seconds, shown = _chain(read)
    return jsonify(_week(start, seconds, shown))


def _keep(text: bytes, schedule: Schedule) -> bool:
    """Store the accepted file under its hash (atomically), so that the server finds it by its on-chain hash."""
    folder = config().tariffs_dir
    if folder is None:
        return False
    target = folder / f"0x{schedule.source_hash.hex()}.toml"
    if target.is_file() and target.read_bytes() == text:
        return True
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as part:
            part.write(text)
        os.replace(part.name, target)
    except OSError as error:
        raise ApiError(
            503,
            "tariff_store_unavailable",
            f"the schedule could not be kept in {folder} ({error.strerror or error}): nothing to sign, since "
            "statements would not find the file of the version",
        ) from error
    return True


def _refused(problems: list[str]) -> ApiError:
    return ApiError(
        400,
        "invalid_schedule",
        f"the schedule is refused ({len(problems)} problem{'s' if len(problems) != 1 else ''}); nothing changed",
        problems=problems,
    )


@admin_bp.post("/tariff-schedules")
@rate_limited("write")
def upload_schedule():
    """Check a schedule file as `vatio tariff add` does; return its transactions and its first week."""
    require_admin()
    body = json_body()
    text = body.get("schedule")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "invalid_schedule", "schedule must be the schedule file's text (TOML)", problems=[])
    from_interval = body.get("fromInterval")
    if from_interval is not None:
        from_interval = parse_int(from_interval, "fromInterval", maximum=MAX_UINT64)
    calendar_days = parse_int(body.get("calendarDays", 62), "calendarDays", minimum=1, maximum=1000)
    try:
        data = text.encode("utf-8")  # the on-chain hash is keccak256 of these bytes: the file as saved in UTF-8
    except UnicodeEncodeError:
        raise _refused(["the file is not UTF-8 text (it holds a lone surrogate)"]) from None
    try:
        schedule = parse_schedule(data, source="the file")
    except TariffError as error:
        raise _refused(error.problems) from None

    def plan(gateway):
        now = gateway.web3.eth.get_block("latest")["timestamp"]
        return gateway.interval_seconds, plan_version(gateway.registry, schedule, now, from_interval, calendar_days)

    try:
        seconds, planned = _chain(plan)
    except TariffError as error:
        raise _refused(error.problems) from None
    stored = _keep(data, schedule)
    transactions = [
        {
            "function": "addTariffVersion",
            "transaction": chain_call(
                lambda gateway: gateway.transaction(
                    "CommunityRegistry",
                    "addTariffVersion",
                    [schedule.source_hash, planned.effective_from, planned.bounds],
                )
            ),
        }
    ]
    if planned.calendar_days:
        for day, words in calendar_chunks(schedule, planned.first_day, planned.calendar_days):
            transactions.append(
                {
                    "function": "setBandCalendar",
                    "firstDay": day,
                    "days": len(words),
                    "transaction": chain_call(
                        lambda gateway, day=day, words=words: gateway.transaction(
                            "CommunityRegistry", "setBandCalendar", [planned.version, day, words]
                        )
                    ),
                }
            )
    on_chain = OnChainVersion(planned.version, schedule.source_hash, planned.effective_from, len(planned.bounds))
    start = planned.effective_from * seconds // 3600 * 3600
    preview = _week(start, seconds, [_Shown(on_chain, schedule, planned.bounds)])
    return jsonify(
        {
            "schedule": {
                "name": schedule.name,
                "version": schedule.version,
                "timeZone": schedule.timezone,
                "validFrom": schedule.valid_from.isoformat(),
                "hash": "0x" + schedule.source_hash.hex(),
            },
            "version": planned.version,
            "effectiveFrom": planned.effective_from,
            "effectiveFromTime": planned.effective_from * seconds,
            "calendar": None
            if not planned.calendar_days
            else {"firstDay": planned.first_day, "lastDay": planned.last_day, "days": planned.calendar_days},
            "stored": stored,
            "transactions": transactions,
            "week": preview,
        }
    )
