"""The readings archive: one JSON document per settled interval, and the checks an auditor runs on it.

``docs/archive.md`` is the public description (a stable interface: outside
tools read it). The document holds, per household leaf, the signed readings
the entry was computed from, its start and end registers, and its Merkle
proof, so that anyone can recompute every leaf and the root from the meters'
signatures alone and compare the root with ``IntervalSettled.readingsRoot``.

Building reads only what closing committed (``closing.load_closed_interval``)
and the readings it listed; it never recomputes the energy. The checks
(``check_archive``, ``check_leaf``) take nothing but the JSON and the meters'
EIP-712 domain: they trust neither this backend nor its database.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session

from backend.db.models import Interval, IntervalEntry, Reading, SettlementOutbox
from backend.oracle.closing import ClosedInterval, load_closed_interval
from backend.oracle.energy import Registers, RegisterSample, register_at
from backend.oracle.merkle import Leaf, MerkleTree, verify
from backend.oracle.readings import (
    MAX_UINT64,
    InvalidSignature,
    MeterDomain,
    MeterReading,
    SignedReading,
    readings_hash,
    recover_signer,
    to_checksum,
)

__all__ = [
    "ARCHIVE_VERSION",
    "DEFAULT_ARCHIVE_DIR",
    "ArchiveContext",
    "ArchiveError",
    "ArchiveNotReady",
    "archive_path",
    "build_archive",
    "check_archive",
    "check_leaf",
    "load_archive",
    "previous_leaf_finder",
    "publish_settled",
    "write_archive",
]

ARCHIVE_VERSION = 1
DEFAULT_ARCHIVE_DIR = Path(__file__).resolve().parents[2] / "var" / "archive"
READING_FIELDS = ("meter", "seq", "ts", "producedWh", "consumedWh", "powerW", "signature")
_HEX32 = re.compile(r"0x[0-9a-f]{64}")
_SIGNATURE = re.compile(r"0x[0-9a-f]{130}")


class ArchiveError(RuntimeError):
    """An archive that cannot be built, written or read as specified."""


class ArchiveNotReady(ArchiveError):
    """The interval is not settled yet (or not even closed)."""


@dataclass(frozen=True)
class ArchiveContext:
    """Which community an archive belongs to: its chain, contracts and interval length."""

    chain_id: int
    registry: str  # CommunityRegistry: also the meters' EIP-712 verifyingContract
    market: str  # EnergyMarket
    interval_seconds: int

    @property
    def domain(self) -> MeterDomain:
        return MeterDomain(self.chain_id, self.registry)

    @classmethod
    def from_deployment(cls, deployment: Any, interval_seconds: int | None = None) -> ArchiveContext:
        """Take the addresses from a ``backend.chain.deploy.Deployment`` (interval length: its settings,
        unless the caller read ``CommunityRegistry.intervalSeconds()`` itself)."""
        seconds = interval_seconds if interval_seconds is not None else deployment.settings["intervalSeconds"]
        return cls(deployment.chain_id, to_checksum(deployment.address("CommunityRegistry")),
                   to_checksum(deployment.address("EnergyMarket")), int(seconds))


# --- building and storing ---


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _settlement_txs(session: Session, interval: Interval) -> list[str]:
    """Confirmed settlement transactions in the order they apply: chunks (or the one settleInterval), then close."""
    rows = session.scalars(
        select(SettlementOutbox.tx_hash)
        .where(SettlementOutbox.interval_id == interval.interval_id, SettlementOutbox.status == "confirmed")
        .order_by(case((SettlementOutbox.kind == "close_interval", 1), else_=0), SettlementOutbox.chunk_index)
    ).all()
    if not rows and interval.settled_tx is not None:
        return [interval.settled_tx]
    return list(rows)


def _listed_readings(session: Session, interval_id: int) -> dict[str, list[Reading]]:
    """Every entry's listed readings (its meter's seq range), by meter, in one statement."""
    rows = session.scalars(
        select(Reading)
        .join(IntervalEntry, and_(IntervalEntry.interval_id == interval_id, Reading.meter == IntervalEntry.meter,
                                  Reading.seq >= IntervalEntry.first_seq, Reading.seq <= IntervalEntry.last_seq))
        .order_by(Reading.meter, Reading.seq)
    ).all()
    by_meter: dict[str, list[Reading]] = {}
    for row in rows:
        by_meter.setdefault(row.meter, []).append(row)
    return by_meter


def _reading_doc(row: Reading) -> dict:
    return {"meter": row.meter, "seq": row.seq, "ts": row.ts, "producedWh": row.produced_wh,
            "consumedWh": row.consumed_wh, "powerW": row.power_w, "signature": _hex(row.signature)}


def _signed(row: Reading) -> SignedReading:
    return SignedReading(MeterReading(row.meter, row.seq, row.ts, row.produced_wh, row.consumed_wh, row.power_w),
                         bytes(row.signature))


def build_archive(
    session: Session, interval_id: int, context: ArchiveContext, *, require_settled: bool = True
) -> dict:
    """Return the archive document of one interval, from what closing and settlement committed.

    With require_settled (the default) the interval must be 'settled'.
    Without it a closed or settling interval is accepted too: clearingPrice is
    then null until known and settlementTxs lists the transactions confirmed
    so far (a preview; only settled intervals are published). Raises
    ArchiveError when the stored readings no longer hash to an entry's
    readings_hash, which an archive must never hide.
    """
    interval = session.scalar(select(Interval).where(Interval.interval_id == interval_id))
    if interval is None or interval.status == "open":
        raise ArchiveNotReady(f"interval {interval_id} is not closed")
    if require_settled and interval.status != "settled":
        raise ArchiveNotReady(f"interval {interval_id} is {interval.status}, not settled")
    closed: ClosedInterval = load_closed_interval(session, interval_id, context.interval_seconds)
    readings = _listed_readings(session, interval_id)
    tree = closed.tree()
    if tree.root != closed.readings_root:
        raise ArchiveError(f"interval {interval_id}: the stored leaves do not give the stored root")
    domain = context.domain
    leaves = []
    for entry in closed.entries:
        listed = readings.get(entry.meter, [])
        if readings_hash([_signed(row) for row in listed], domain) != entry.readings_hash:
            raise ArchiveError(f"interval {interval_id}: the stored readings of meter {entry.meter} "
                               f"(seq {entry.first_seq}..{entry.last_seq}) no longer hash to its entry")
        leaves.append({
            "household": entry.household,
            "meter": entry.meter,
            "producedWh": entry.produced_wh,
            "consumedWh": entry.consumed_wh,
            "startRegisters": {"producedWh": entry.start.produced_wh, "consumedWh": entry.start.consumed_wh},
            "endRegisters": {"producedWh": entry.end.produced_wh, "consumedWh": entry.end.consumed_wh},
            "previousInterval": entry.previous_interval,
            "readingsHash": _hex(entry.readings_hash),
            "leaf": _hex(entry.leaf_hash),
            "proof": [_hex(node) for node in tree.proof(entry.leaf_hash)],
            "readings": [_reading_doc(row) for row in listed],
        })
    return {
        "version": ARCHIVE_VERSION,
        "chainId": context.chain_id,
        "registry": to_checksum(context.registry),
        "market": to_checksum(context.market),
        "intervalId": interval_id,
        "intervalSeconds": context.interval_seconds,
        "start": closed.start_ts,
        "end": closed.end_ts,
        "readingsRoot": _hex(closed.readings_root),
        "clearingPrice": interval.clearing_price,
        "settlementTxs": _settlement_txs(session, interval),
        "leaves": leaves,
    }


def archive_path(archive_dir: str | Path, chain_id: int, interval_id: int) -> Path:
    """Return <archive_dir>/<chainId>/<intervalId>.json."""
    if type(chain_id) is not int or type(interval_id) is not int or chain_id < 0 or interval_id < 0:
        raise ValueError(f"chain id and interval id must be non-negative ints: {chain_id!r}, {interval_id!r}")
    return Path(archive_dir) / str(chain_id) / f"{interval_id}.json"


def write_archive(document: dict, archive_dir: str | Path = DEFAULT_ARCHIVE_DIR) -> Path:
    """Write the document atomically (a temporary file, fsync, rename): readers see all of it or nothing."""
    path = archive_path(archive_dir, document["chainId"], document["intervalId"])
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(document, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def load_archive(path_or_dir: str | Path, chain_id: int | None = None, interval_id: int | None = None) -> dict:
    """Read an archive: a file path, or the archive folder with chain_id and interval_id.

    Raises FileNotFoundError when there is none, ArchiveError when it is not a
    version-1 archive document.
    """
    path = Path(path_or_dir) if chain_id is None and interval_id is None else archive_path(
        path_or_dir, chain_id, interval_id)
    raw = path.read_bytes()
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise ArchiveError(f"{path}: not JSON ({error})") from None
    if not isinstance(document, dict) or document.get("version") != ARCHIVE_VERSION:
        raise ArchiveError(f"{path}: not a version {ARCHIVE_VERSION} readings archive")
    return document


def publish_settled(
    session: Session, context: ArchiveContext, archive_dir: str | Path = DEFAULT_ARCHIVE_DIR,
    *, after: int | None = None,
) -> list[Path]:
    """Write the archive of every settled interval (with id > after) that has no file yet; return the new files."""
    query = select(Interval.interval_id).where(Interval.status == "settled").order_by(Interval.interval_id)
    if after is not None:
        query = query.where(Interval.interval_id > after)
    written = []
    for interval_id in session.scalars(query).all():
        if not archive_path(archive_dir, context.chain_id, interval_id).exists():
            written.append(write_archive(build_archive(session, interval_id, context), archive_dir))
    return written


# --- checking (pure: JSON in, differences out) ---


class _Malformed(ValueError):
    """A field that is missing or of the wrong shape; reported, never raised to the caller."""


def _field(doc: Any, key: str, where: str) -> Any:
    if not isinstance(doc, Mapping) or key not in doc:
        raise _Malformed(f"{where}: missing {key!r}")
    return doc[key]


def _uint(doc: Any, key: str, where: str) -> int:
    """A uint64: every integer of the document is one (registers, seq, ts, ids, Wh)."""
    value = _field(doc, key, where)
    if type(value) is not int or not 0 <= value <= MAX_UINT64:
        raise _Malformed(f"{where}: {key} must be an integer in [0, 2^64), got {value!r}")
    return value


def _hash32(doc: Any, key: str, where: str) -> bytes:
    value = _field(doc, key, where)
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise _Malformed(f"{where}: {key} must be 0x + 64 lowercase hex digits, got {value!r}")
    return bytes.fromhex(value[2:])


def _address(doc: Any, key: str, where: str) -> str:
    value = _field(doc, key, where)
    try:
        address = to_checksum(value)
    except ValueError:
        raise _Malformed(f"{where}: {key} must be a 0x address, got {value!r}") from None
    if value != address:
        raise _Malformed(f"{where}: {key} {value} is not in its EIP-55 form {address}")
    return address


def _registers(doc: Any, key: str, where: str) -> Registers:
    value = _field(doc, key, where)
    return Registers(_uint(value, "producedWh", f"{where} {key}"), _uint(value, "consumedWh", f"{where} {key}"))


def _reading(doc: Any, where: str) -> SignedReading:
    if not isinstance(doc, Mapping) or set(doc) != set(READING_FIELDS):
        raise _Malformed(f"{where}: a reading must have exactly the fields {', '.join(READING_FIELDS)}")
    signature = doc["signature"]
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        raise _Malformed(f"{where}: signature must be 0x + 130 lowercase hex digits")
    meter = _address(doc, "meter", where)
    values = [_uint(doc, key, where) for key in READING_FIELDS[1:6]]
    try:
        return SignedReading(MeterReading(meter, *values), bytes.fromhex(signature[2:]))
    except ValueError as error:
        raise _Malformed(f"{where}: {error}") from None


def _fmt(registers: Registers) -> str:
    return f"{registers.produced_wh}/{registers.consumed_wh} Wh"


def check_leaf(
    leaf_doc: Mapping, document: Mapping, domain: MeterDomain, previous_leaf_doc: Mapping | None = None
) -> list[str]:
    """Return what is wrong with one leaf of an archive document (empty: it checks out).

    Checks that every signature recovers to the leaf's meter, the listed
    readings are in order and as few as the rule lists, endRegisters ==
    register_at(readings, end), energy == end - start, start == the previous
    leaf's endRegisters (``previous_leaf_doc``: this meter's leaf in interval
    previousInterval) or, for a first entry, the first listed reading, the
    readingsHash, the leaf hash, and its proof against the document's readingsRoot.
    """
    where = f"leaf {leaf_doc.get('household', '?') if isinstance(leaf_doc, Mapping) else '?'}"
    try:
        return _check_leaf(leaf_doc, document, domain, previous_leaf_doc, where)
    except _Malformed as error:
        return [str(error)]


def _check_leaf(leaf_doc, document, domain, previous_leaf_doc, where) -> list[str]:
    problems: list[str] = []
    interval_id = _uint(document, "intervalId", "archive")
    interval_seconds = _uint(document, "intervalSeconds", "archive")
    start_ts, end_ts = interval_id * interval_seconds, (interval_id + 1) * interval_seconds
    root = _hash32(document, "readingsRoot", "archive")
    household = _address(leaf_doc, "household", where)
    meter = _address(leaf_doc, "meter", where)
    produced, consumed = _uint(leaf_doc, "producedWh", where), _uint(leaf_doc, "consumedWh", where)
    start, end = _registers(leaf_doc, "startRegisters", where), _registers(leaf_doc, "endRegisters", where)
    previous_interval = _field(leaf_doc, "previousInterval", where)
    if previous_interval is not None and (
            type(previous_interval) is not int or not 0 <= previous_interval < interval_id):
        raise _Malformed(f"{where}: previousInterval must be null or an interval before {interval_id}")
    claimed_hash, claimed_leaf = _hash32(leaf_doc, "readingsHash", where), _hash32(leaf_doc, "leaf", where)
    proof_docs = _field(leaf_doc, "proof", where)
    if not isinstance(proof_docs, list):
        raise _Malformed(f"{where}: proof must be a list")
    proof = [_hash32({"node": node}, "node", f"{where} proof") for node in proof_docs]
    reading_docs = _field(leaf_doc, "readings", where)
    if not isinstance(reading_docs, list) or not reading_docs:
        raise _Malformed(f"{where}: readings must be a non-empty list")
    signed = [_reading(doc, f"{where} reading {i}") for i, doc in enumerate(reading_docs)]
    readings = [s.reading for s in signed]

    for s in signed:
        r = s.reading
        if r.meter != meter:
            problems.append(f"{where}: reading seq {r.seq} is of meter {r.meter}, not the leaf's meter {meter}")
            continue
        try:
            signer = recover_signer(s, domain)
        except InvalidSignature as error:
            problems.append(f"{where}: reading seq {r.seq}: invalid signature ({error})")
            continue
        if signer != meter:
            problems.append(f"{where}: reading seq {r.seq}: signature recovers to {signer}, not the meter {meter}")

    in_order = all(b.seq > a.seq and b.ts > a.ts and b.produced_wh >= a.produced_wh and b.consumed_wh >= a.consumed_wh
                   for a, b in zip(readings, readings[1:]))
    if not in_order:
        problems.append(f"{where}: readings are not in strictly increasing seq and ts with non-decreasing registers")
    else:
        at_end = register_at([RegisterSample(r.ts, r.produced_wh, r.consumed_wh) for r in readings], end_ts)
        if at_end is None:
            problems.append(f"{where}: no listed reading at or before the end {end_ts}")
        elif at_end != end:
            problems.append(f"{where}: endRegisters {_fmt(end)} != register_at(readings, {end_ts}) {_fmt(at_end)}")
        after_end = [r.ts > end_ts for r in readings]
        if sum(after_end) > 1 or (any(after_end) and not after_end[-1]):
            problems.append(f"{where}: more than one reading after the end (only the interpolation partner is listed)")
        if previous_interval is not None and sum(r.ts <= start_ts for r in readings) != 1:
            problems.append(f"{where}: lists {sum(r.ts <= start_ts for r in readings)} readings at or before the "
                            f"start {start_ts}; a continuing entry lists exactly one (the anchor)")

    if (produced, consumed) != (end.produced_wh - start.produced_wh, end.consumed_wh - start.consumed_wh):
        problems.append(f"{where}: producedWh/consumedWh {produced}/{consumed} != endRegisters - startRegisters "
                        f"{end.produced_wh - start.produced_wh}/{end.consumed_wh - start.consumed_wh}")

    if previous_interval is None:
        first = Registers(readings[0].produced_wh, readings[0].consumed_wh)
        if start != first:
            problems.append(f"{where}: startRegisters {_fmt(start)} != the first listed reading's {_fmt(first)} "
                            "(previousInterval is null)")
    elif previous_leaf_doc is None:
        problems.append(f"{where}: the leaf of meter {meter} in interval {previous_interval} is not available; "
                        "startRegisters unchecked")
    else:
        problems += _check_continuity(previous_leaf_doc, previous_interval, interval_seconds, household, meter,
                                      start, readings, f"{where} (previous interval {previous_interval})")

    try:
        recomputed_hash = readings_hash(signed, domain)
    except ValueError as error:
        problems.append(f"{where}: readingsHash cannot be recomputed ({error})")
        recomputed_hash = None
    if recomputed_hash is not None and recomputed_hash != claimed_hash:
        problems.append(f"{where}: readingsHash {_hex(claimed_hash)} != readings_hash(readings) "
                        f"{_hex(recomputed_hash)}")
    leaf_hash = Leaf(household, meter, interval_id, produced, consumed, claimed_hash).hash()
    if leaf_hash != claimed_leaf:
        problems.append(f"{where}: leaf {_hex(claimed_leaf)} != the hash of its fields {_hex(leaf_hash)}")
    if not verify(proof, root, leaf_hash):
        problems.append(f"{where}: proof does not lead from the leaf to readingsRoot {_hex(root)}")
    return problems


def _check_continuity(previous_doc, previous_interval, interval_seconds, household, meter, start, readings, where):
    """The start is where the same meter's previous leaf ended, and the two leaves agree on shared readings."""
    problems = []
    if _address(previous_doc, "meter", where) != meter or _address(previous_doc, "household", where) != household:
        return [f"{where}: the previous leaf is not of meter {meter} of household {household}"]
    previous_end = _registers(previous_doc, "endRegisters", where)
    if previous_end != start:
        problems.append(f"{where}: startRegisters {_fmt(start)} != the previous leaf's endRegisters "
                        f"{_fmt(previous_end)}")
    previous_docs = _field(previous_doc, "readings", where)
    if not isinstance(previous_docs, list):
        raise _Malformed(f"{where}: readings must be a list")
    previous_readings = {s.reading.seq: s.reading for s in
                         (_reading(doc, f"{where} reading {i}") for i, doc in enumerate(previous_docs))}
    for r in readings:
        if r.seq in previous_readings and previous_readings[r.seq] != r:
            problems.append(f"{where}: reading seq {r.seq} differs between the two leaves")
    previous_end_ts = (previous_interval + 1) * interval_seconds
    before = [seq for seq, r in previous_readings.items() if r.ts <= previous_end_ts]
    if before and readings[0].seq < max(before):
        problems.append(f"{where}: the anchor (seq {readings[0].seq}) is older than the previous leaf's last "
                        f"reading at or before its end (seq {max(before)})")
    return problems


def check_archive(
    document: Mapping, domain: MeterDomain, previous_leaf: Callable[[int, str], Mapping | None] | None = None
) -> list[str]:
    """Return what is wrong with an archive document (empty: it checks out), leaf by leaf.

    ``previous_leaf(interval_id, meter)`` returns that meter's leaf from the
    archive of an earlier interval (``previous_leaf_finder`` reads them from
    a folder); without it, continuing leaves are reported as unchecked. The
    caller still compares readingsRoot and the energies with the chain.
    """
    try:
        problems = _check_header(document, domain)
        leaves = _field(document, "leaves", "archive")
        if not isinstance(leaves, list) or not leaves:
            return problems + ["archive: leaves must be a non-empty list"]
    except _Malformed as error:
        return [str(error)]
    households = []
    for leaf_doc in leaves:
        previous = None
        continuing = isinstance(leaf_doc, Mapping) and type(leaf_doc.get("previousInterval")) is int
        if continuing and previous_leaf is not None and isinstance(leaf_doc.get("meter"), str):
            previous = previous_leaf(leaf_doc["previousInterval"], leaf_doc["meter"])
        problems += check_leaf(leaf_doc, document, domain, previous)
        households.append(leaf_doc.get("household") if isinstance(leaf_doc, Mapping) else None)
    try:
        keys = [int(h, 16) for h in households]
    except (TypeError, ValueError):
        keys = None
    if keys is None or any(b <= a for a, b in zip(keys, keys[1:])):
        problems.append("archive: leaves are not sorted by household address, strictly ascending")
    problems += _check_root(document, leaves)
    return problems


def _check_header(document: Mapping, domain: MeterDomain) -> list[str]:
    problems = []
    if _field(document, "version", "archive") != ARCHIVE_VERSION:
        problems.append(f"archive: version {document['version']!r} is not {ARCHIVE_VERSION}")
    if _uint(document, "chainId", "archive") != domain.chain_id:
        problems.append(f"archive: chainId {document['chainId']} is not the meters' domain chain {domain.chain_id}")
    if _address(document, "registry", "archive") != domain.verifying_contract:
        problems.append(f"archive: registry {document['registry']} is not the meters' domain "
                        f"{domain.verifying_contract}")
    _address(document, "market", "archive")
    interval_id, seconds = _uint(document, "intervalId", "archive"), _uint(document, "intervalSeconds", "archive")
    if seconds == 0:
        problems.append("archive: intervalSeconds is 0")
    if (_uint(document, "start", "archive"), _uint(document, "end", "archive")) != (
            interval_id * seconds, (interval_id + 1) * seconds):
        problems.append("archive: start/end are not intervalId * intervalSeconds and the next boundary")
    _hash32(document, "readingsRoot", "archive")
    return problems


def _check_root(document: Mapping, leaves: Sequence) -> list[str]:
    """The root the leaves' own fields give (not their claimed hashes) is the document's readingsRoot."""
    try:
        interval_id = _uint(document, "intervalId", "archive")
        hashes = [Leaf(_address(doc, "household", "leaf"), _address(doc, "meter", "leaf"), interval_id,
                       _uint(doc, "producedWh", "leaf"), _uint(doc, "consumedWh", "leaf"),
                       _hash32(doc, "readingsHash", "leaf")).hash() for doc in leaves]
        root = MerkleTree(hashes).root
    except (_Malformed, ValueError) as error:
        return [f"archive: the root cannot be recomputed ({error})"]
    claimed = document["readingsRoot"]
    if _hex(root) != claimed:
        return [f"archive: readingsRoot {claimed} != the root of the leaves {_hex(root)}"]
    return []


def previous_leaf_finder(
    archive_dir: str | Path | None, chain_id: int, documents: Mapping[int, Mapping] | None = None
) -> Callable[[int, str], Mapping | None]:
    """Return previous_leaf(interval_id, meter) for check_archive: from `documents`, else the archive folder."""
    documents = documents or {}

    @lru_cache(maxsize=16)
    def leaves_of(interval_id: int) -> dict[str, Mapping]:
        document = documents.get(interval_id)
        if document is None:
            if archive_dir is None:
                return {}
            try:
                document = load_archive(archive_dir, chain_id, interval_id)
            except (FileNotFoundError, ArchiveError):
                return {}
        leaves = document.get("leaves") if isinstance(document, Mapping) else None
        return {leaf.get("meter"): leaf for leaf in leaves or [] if isinstance(leaf, Mapping)}

    def previous_leaf(interval_id: int, meter: str) -> Mapping | None:
        return leaves_of(interval_id).get(meter)

    return previous_leaf
