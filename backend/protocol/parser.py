"""The readings payload (docs/mqtt.md): bytes in, a SignedReading or a RejectedReading out, no I/O.

Only the schema and the size are checked here. Whether the signature is the
meter's, and whether the reading fits the meter's history, is the oracle's
verifier's job; its rejection reasons are declared here too, so that every
layer records the same stable strings. ``encode_reading`` is the inverse:
what a meter publishes, and what the readings archive lists.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum

from backend.protocol.json_depth import nests_deeper_than
from backend.protocol.readings import MAX_POWER_W, MAX_UINT64, MeterReading, SignedReading

__all__ = [
    "MAX_JSON_DEPTH",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "Reason",
    "READING_FIELDS",
    "RejectedReading",
    "encode_reading",
    "parse_reading",
    "reading_json",
]

DEFAULT_MAX_PAYLOAD_BYTES = 1024
# The payload's fields, in the order meters and the archive write them.
READING_FIELDS = ("meter", "seq", "ts", "producedWh", "consumedWh", "powerW", "signature")
_FIELDS = frozenset(READING_FIELDS)
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_SIGNATURE_RE = re.compile(r"0x[0-9a-fA-F]{130}")


class Reason(StrEnum):
    """Why a message was rejected. The values are stable: they are stored and counted."""

    TOO_LARGE = "too_large"  # payload over the size limit
    BAD_JSON = "bad_json"  # not UTF-8, not JSON, NaN/Infinity, duplicate keys, too deep
    BAD_SCHEMA = "bad_schema"  # not an object with exactly the fields, types and ranges
    BAD_SIGNATURE = "bad_signature"  # not 0x + 65 bytes hex, or malformed/malleable (verifier)
    WRONG_TOPIC = "wrong_topic"  # topic is not a readings topic, or names another meter
    # Decided by the verifier, against the registry and the meter's history:
    UNKNOWN_METER = "unknown_meter"
    INACTIVE_METER = "inactive_meter"
    WRONG_SIGNER = "wrong_signer"
    REPLAYED_SEQ = "replayed_seq"
    REGISTER_BACKWARDS = "register_backwards"
    FUTURE_TIMESTAMP = "future_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    IMPOSSIBLE_POWER = "impossible_power"


class RejectedReading(Exception):
    """A message the oracle refuses: a stable ``reason`` plus a human ``detail``."""

    def __init__(self, reason: Reason | str, detail: str) -> None:
        self.reason = Reason(reason)
        self.detail = detail
        super().__init__(f"{self.reason.value}: {detail}")


class _BadJson(ValueError):
    """Raised inside json hooks; turned into Reason.BAD_JSON."""


def _reject_constant(name: str) -> None:
    raise _BadJson(f"{name} is not a JSON number")


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    # A duplicated key is ambiguous: parsers differ on which value wins, so a
    # signature could be checked against one value and the other stored.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BadJson(f"duplicate key {key!r}")
            seen.add(key)
    return result


# One decoder for all messages: json.loads with hooks builds a new one per call
# (a fifth of the parse time). Decoders keep no state between calls.
# A reading is one flat object; deeper JSON is refused before parsing (backend/protocol/json_depth.py says why).
MAX_JSON_DEPTH = 16


_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)


def _uint(message: dict, name: str, maximum: int) -> int:
    value = message[name]
    # type() rather than isinstance: bool is an int subclass, and true is not a count.
    if type(value) is not int:
        raise RejectedReading(Reason.BAD_SCHEMA, f"{name} must be a JSON integer, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise RejectedReading(Reason.BAD_SCHEMA, f"{name} must be in [0, {maximum}], got {value}")
    return value


def parse_reading(payload: bytes, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> SignedReading:
    """Parse one readings message; raise RejectedReading for anything but a well-formed one."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    if len(payload) > max_bytes:
        raise RejectedReading(Reason.TOO_LARGE, f"{len(payload)} bytes > limit {max_bytes}")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as error:
        raise RejectedReading(Reason.BAD_JSON, f"not UTF-8: {error.reason} at byte {error.start}") from None
    if nests_deeper_than(bytes(payload), MAX_JSON_DEPTH):
        raise RejectedReading(Reason.BAD_JSON, f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        message = _DECODER.decode(text)
    except RecursionError:  # cannot happen below MAX_JSON_DEPTH; kept so no input ever escapes as a crash
        raise RejectedReading(Reason.BAD_JSON, "nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, _BadJson, int digit limit
        raise RejectedReading(Reason.BAD_JSON, str(error)) from None
    if type(message) is not dict:
        raise RejectedReading(Reason.BAD_SCHEMA, f"payload must be a JSON object, got {type(message).__name__}")
    if message.keys() != _FIELDS:
        missing = sorted(_FIELDS - message.keys())
        extra = sorted(message.keys() - _FIELDS)
        raise RejectedReading(Reason.BAD_SCHEMA, f"missing fields {missing}, unexpected fields {extra}")

    meter = message["meter"]
    if type(meter) is not str or not _ADDRESS_RE.fullmatch(meter):
        raise RejectedReading(Reason.BAD_SCHEMA, f"meter must be a 0x + 40 hex address, got {meter!r:.60}")
    signature = message["signature"]
    if type(signature) is not str or not _SIGNATURE_RE.fullmatch(signature):
        raise RejectedReading(Reason.BAD_SIGNATURE, f"signature must be 0x + 130 hex, got {signature!r:.60}")
    reading = MeterReading(
        meter=meter,  # MeterReading normalises it to the checksummed form
        seq=_uint(message, "seq", MAX_UINT64),
        ts=_uint(message, "ts", MAX_UINT64),
        produced_wh=_uint(message, "producedWh", MAX_UINT64),
        consumed_wh=_uint(message, "consumedWh", MAX_UINT64),
        power_w=_uint(message, "powerW", MAX_POWER_W),
    )
    return SignedReading(reading, bytes.fromhex(signature[2:]))


def reading_json(signed: SignedReading) -> dict:
    """Return the payload's JSON object: the fields of READING_FIELDS, the signature as lowercase 0x hex."""
    reading = signed.reading
    return {
        "meter": reading.meter,
        "seq": reading.seq,
        "ts": reading.ts,
        "producedWh": reading.produced_wh,
        "consumedWh": reading.consumed_wh,
        "powerW": reading.power_w,
        "signature": "0x" + signed.signature.hex(),
    }


def encode_reading(signed: SignedReading) -> bytes:
    """Return the MQTT payload of a signed reading: compact JSON, as a meter publishes it."""
    return json.dumps(reading_json(signed), separators=(",", ":")).encode()
