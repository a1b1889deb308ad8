"""Parse one MQTT meter message: bytes in, a SignedReading or a RejectedReading out, no I/O.

Only the schema and the size are checked here. Whether the signature is the
meter's, and whether the reading fits the meter's history, is the verifier's
job; its rejection reasons are declared here too, so that every layer records
the same stable strings.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum

from .readings import MAX_POWER_W, MAX_UINT64, MeterReading, SignedReading, to_checksum

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "Reason",
    "RejectedReading",
    "check_topic_matches",
    "meter_from_topic",
    "parse_reading",
    "readings_subscription",
]

DEFAULT_MAX_PAYLOAD_BYTES = 1024
_FIELDS = frozenset({"meter", "seq", "ts", "producedWh", "consumedWh", "powerW", "signature"})
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_SIGNATURE_RE = re.compile(r"0x[0-9a-fA-F]{130}")
_TOPIC_LEVEL_FORBIDDEN = re.compile(r"[/+#\x00]")


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
    try:
        message = _DECODER.decode(text)
    except RecursionError:
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


def _check_community(community: str) -> None:
    if not isinstance(community, str) or not community or _TOPIC_LEVEL_FORBIDDEN.search(community):
        raise ValueError(f"community must be one non-empty MQTT topic level, got {community!r}")


def readings_subscription(community: str, share_group: str | None = None) -> str:
    """Return the topic filter for all meters of a community, optionally as a shared subscription."""
    _check_community(community)
    topic_filter = f"vatio/{community}/meters/+/readings"
    if share_group is None:
        return topic_filter
    _check_community(share_group)
    # MQTT 5 shared subscription: the broker spreads the meters over the group's oracles.
    return f"$share/{share_group}/{topic_filter}"


def meter_from_topic(topic: str, community: str) -> str:
    """Return the checksummed meter address named by ``vatio/<community>/meters/<meter>/readings``.

    A ``$share/<group>/`` prefix belongs to subscriptions only; brokers
    deliver messages on the plain topic, so a message topic carrying it is
    rejected like any other foreign topic.
    """
    _check_community(community)
    levels = topic.split("/") if isinstance(topic, str) else []
    if (
        len(levels) != 5
        or levels[0] != "vatio"
        or levels[1] != community
        or levels[2] != "meters"
        or levels[4] != "readings"
        or not _ADDRESS_RE.fullmatch(levels[3])
    ):
        raise RejectedReading(Reason.WRONG_TOPIC, f"not a readings topic of community {community!r}: {topic!r:.120}")
    return to_checksum(levels[3])


def check_topic_matches(topic_meter: str, reading: SignedReading | MeterReading) -> None:
    """Reject a reading whose payload names a meter other than its topic's."""
    payload_meter = reading.reading.meter if isinstance(reading, SignedReading) else reading.meter
    if payload_meter.lower() != topic_meter.lower():
        raise RejectedReading(Reason.WRONG_TOPIC, f"topic names meter {topic_meter}, payload {payload_meter}")
