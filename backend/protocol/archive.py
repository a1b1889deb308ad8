"""The readings-archive document (docs/archive.md): its typed form, its JSON, and where it is filed.

The oracle builds an ArchivedInterval from what closing committed and writes
``archive_json`` of it; the auditor reads a document back with
``parse_archive``. Reading checks only the shape: field names, JSON types,
ranges and hex lengths, so that every later check can trust its inputs. A
malformed document raises ArchiveMalformed naming the offending field
(``leaves[2].readings[5].signature: ...``), never a bare KeyError. Readings
are parsed by the MQTT payload parser, so an archived reading is held to
exactly the rules a meter's message is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from backend.protocol.energy import Registers
from backend.protocol.parser import RejectedReading, parse_reading, reading_json
from backend.protocol.readings import MAX_UINT64, SignedReading, to_checksum

__all__ = [
    "ARCHIVE_VERSION",
    "ArchiveMalformed",
    "ArchivedInterval",
    "ArchivedLeaf",
    "archive_json",
    "archive_path",
    "leaf_json",
    "parse_archive",
    "parse_archive_bytes",
]

ARCHIVE_VERSION = 1
_HEX32_RE = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
# A reading re-serialised for the MQTT parser is well under this; the parser's
# own 1 KiB limit is about transport, not about what an archive may hold.
_READING_MAX_BYTES = 4096


class ArchiveMalformed(ValueError):
    """The document is not a version-1 archive document."""


@dataclass(frozen=True)
class ArchivedLeaf:
    household: str  # checksummed
    meter: str  # checksummed
    produced_wh: int
    consumed_wh: int
    start_registers: Registers
    end_registers: Registers
    previous_interval: int | None
    readings_hash: bytes
    leaf: bytes
    proof: tuple[bytes, ...]
    readings: tuple[SignedReading, ...]  # in archive order (should be by seq)


@dataclass(frozen=True)
class ArchivedInterval:
    chain_id: int
    registry: str
    market: str
    interval_id: int
    interval_seconds: int
    start: int
    end: int
    readings_root: bytes
    clearing_price: int | None  # None only in a preview (never published, never parsed)
    settlement_txs: tuple[str, ...]  # lower-case 0x hex
    leaves: tuple[ArchivedLeaf, ...]


def archive_path(archive_dir: str | Path, chain_id: int, interval_id: int) -> Path:
    """Return <archive_dir>/<chainId>/<intervalId>.json, where an interval's document is filed."""
    if type(chain_id) is not int or type(interval_id) is not int or chain_id < 0 or interval_id < 0:
        raise ValueError(f"chain id and interval id must be non-negative ints: {chain_id!r}, {interval_id!r}")
    return Path(archive_dir) / str(chain_id) / f"{interval_id}.json"


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _registers_json(registers: Registers) -> dict:
    return {"producedWh": registers.produced_wh, "consumedWh": registers.consumed_wh}


def leaf_json(leaf: ArchivedLeaf) -> dict:
    """Return one leaf as the document lists it (keys in the published order)."""
    return {
        "household": leaf.household,
        "meter": leaf.meter,
        "producedWh": leaf.produced_wh,
        "consumedWh": leaf.consumed_wh,
        "startRegisters": _registers_json(leaf.start_registers),
        "endRegisters": _registers_json(leaf.end_registers),
        "previousInterval": leaf.previous_interval,
        "readingsHash": _hex(leaf.readings_hash),
        "leaf": _hex(leaf.leaf),
        "proof": [_hex(node) for node in leaf.proof],
        "readings": [reading_json(signed) for signed in leaf.readings],
    }


def archive_json(interval: ArchivedInterval) -> dict:
    """Return the document of one interval as JSON values (keys in the published order)."""
    return {
        "version": ARCHIVE_VERSION,
        "chainId": interval.chain_id,
        "registry": interval.registry,
        "market": interval.market,
        "intervalId": interval.interval_id,
        "intervalSeconds": interval.interval_seconds,
        "start": interval.start,
        "end": interval.end,
        "readingsRoot": _hex(interval.readings_root),
        "clearingPrice": interval.clearing_price,
        "settlementTxs": list(interval.settlement_txs),
        "leaves": [leaf_json(leaf) for leaf in interval.leaves],
    }


def parse_archive(document: object) -> ArchivedInterval:
    """Return the typed document; raise ArchiveMalformed for anything else."""
    top = _object(document, "document")
    version = _uint(top, "version", "")
    if version != ARCHIVE_VERSION:
        raise ArchiveMalformed(f"version: unsupported archive version {version} (this auditor reads {ARCHIVE_VERSION})")
    leaves = _list(top, "leaves", "")
    return ArchivedInterval(
        chain_id=_uint(top, "chainId", ""),
        registry=_address(top, "registry", ""),
        market=_address(top, "market", ""),
        interval_id=_uint(top, "intervalId", ""),
        interval_seconds=_uint(top, "intervalSeconds", ""),
        start=_uint(top, "start", ""),
        end=_uint(top, "end", ""),
        readings_root=_hex32(top, "readingsRoot", ""),
        clearing_price=_uint(top, "clearingPrice", ""),
        settlement_txs=tuple(
            "0x" + _hex32_item(item, f"settlementTxs[{i}]").hex()
            for i, item in enumerate(_list(top, "settlementTxs", ""))
        ),
        leaves=tuple(_leaf(item, f"leaves[{i}]") for i, item in enumerate(leaves)),
    )


def parse_archive_bytes(raw: bytes) -> ArchivedInterval:
    """Parse the JSON text of a document (duplicate keys and NaN are malformed)."""
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ArchiveMalformed(f"not valid JSON: {error}") from None
    return parse_archive(document)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        keys = [key for key, _ in pairs]
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"duplicate key {duplicate!r}")
    return result


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _leaf(item: object, path: str) -> ArchivedLeaf:
    leaf = _object(item, path)
    previous = leaf.get("previousInterval", _MISSING)
    if previous is _MISSING:
        raise ArchiveMalformed(f"{path}.previousInterval: missing")
    if previous is not None:
        previous = _uint(leaf, "previousInterval", path)
    readings = []
    for index, reading in enumerate(_list(leaf, "readings", path)):
        reading_path = f"{path}.readings[{index}]"
        if type(reading) is not dict:
            raise ArchiveMalformed(f"{reading_path}: must be an object")
        try:
            readings.append(parse_reading(json.dumps(reading).encode(), max_bytes=_READING_MAX_BYTES))
        except RejectedReading as rejection:
            raise ArchiveMalformed(f"{reading_path}: {rejection.detail}") from None
    return ArchivedLeaf(
        household=_address(leaf, "household", path),
        meter=_address(leaf, "meter", path),
        produced_wh=_uint(leaf, "producedWh", path),
        consumed_wh=_uint(leaf, "consumedWh", path),
        start_registers=_registers(leaf, "startRegisters", path),
        end_registers=_registers(leaf, "endRegisters", path),
        previous_interval=previous,
        readings_hash=_hex32(leaf, "readingsHash", path),
        leaf=_hex32(leaf, "leaf", path),
        proof=tuple(_hex32_item(p, f"{path}.proof[{i}]") for i, p in enumerate(_list(leaf, "proof", path))),
        readings=tuple(readings),
    )


_MISSING = object()


def _field(container: dict, name: str, path: str) -> object:
    if name not in container:
        raise ArchiveMalformed(f"{_join(path, name)}: missing")
    return container[name]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _object(value: object, path: str) -> dict:
    if type(value) is not dict:
        raise ArchiveMalformed(f"{path}: must be a JSON object, got {type(value).__name__}")
    return value


def _list(container: dict, name: str, path: str) -> list:
    value = _field(container, name, path)
    if type(value) is not list:
        raise ArchiveMalformed(f"{_join(path, name)}: must be a list, got {type(value).__name__}")
    return value


def _uint(container: dict, name: str, path: str) -> int:
    value = _field(container, name, path)
    # type() rather than isinstance: true is not a number of Wh
    if type(value) is not int or not 0 <= value <= MAX_UINT64:
        raise ArchiveMalformed(f"{_join(path, name)}: must be an integer in [0, 2^64), got {value!r:.60}")
    return value


def _address(container: dict, name: str, path: str) -> str:
    value = _field(container, name, path)
    if type(value) is not str or not _ADDRESS_RE.fullmatch(value):
        raise ArchiveMalformed(f"{_join(path, name)}: must be a 0x + 40 hex address, got {value!r:.60}")
    return to_checksum(value)


def _hex32(container: dict, name: str, path: str) -> bytes:
    return _hex32_item(_field(container, name, path), _join(path, name))


def _hex32_item(value: object, path: str) -> bytes:
    if type(value) is not str or not _HEX32_RE.fullmatch(value):
        raise ArchiveMalformed(f"{path}: must be 0x + 64 hex digits, got {value!r:.80}")
    return bytes.fromhex(value[2:])


def _registers(container: dict, name: str, path: str) -> Registers:
    registers = _object(_field(container, name, path), _join(path, name))
    inner = _join(path, name)
    return Registers(_uint(registers, "producedWh", inner), _uint(registers, "consumedWh", inner))
