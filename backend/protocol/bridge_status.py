"""A bridge's status message (docs/mqtt.md, "Bridge status"): bytes in, a typed status or a typed rejection out.

Pure, like ``parser``: no I/O. The message is not signed (the broker login that wrote it is its
authentication), so everything in it is checked for shape and bounded in size before anyone
stores or shows it: a hostile or broken bridge can make its own status wrong, never large, deep
or strange. Fields this schema does not know are ignored (the schema lets later bridges add
optional ones); a field it knows with the wrong type is a rejection, never a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from backend.protocol.json_depth import nests_deeper_than
from backend.protocol.readings import to_checksum

__all__ = [
    "KNOWN_SOURCES",
    "MAX_COUNTERS",
    "MAX_STATUS_BYTES",
    "MAX_TEXT_CHARS",
    "STATUS_SCHEMA",
    "BridgeStatus",
    "RejectedStatus",
    "StatusReason",
    "encode_bridge_status",
    "parse_bridge_status",
]

STATUS_SCHEMA = "vatio-bridge-status/1"
KNOWN_SOURCES = ("p1", "sml", "shelly", "homeassistant")  # what `vatio bridge` sends; others pass as named
MAX_STATUS_BYTES = 4096  # a real status is about 300 bytes
MAX_COUNTERS = 32  # the bridge has ten reasons
MAX_TEXT_CHARS = 500  # `halted` and `brokerError`
MAX_INT = 2**63 - 1  # what a database column holds
MAX_STATUS_DEPTH = 4  # a status nests two levels (lastReading, counters)
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # a source or a counter's reason
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


class StatusReason(StrEnum):
    """Why a status message was refused."""

    TOO_LARGE = "too_large"
    BAD_JSON = "bad_json"
    BAD_SCHEMA = "bad_schema"
    WRONG_TOPIC = "wrong_topic"


class RejectedStatus(ValueError):
    """A status message that is not one: its reason and what exactly was wrong."""

    def __init__(self, reason: StatusReason, detail: str):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class BridgeStatus:
    """What a bridge reports about itself (docs/mqtt.md), checked; ``counters`` sorted by reason."""

    meter: str  # EIP-55
    source: str | None
    ts: int  # the bridge's clock, unix seconds
    last_reading_seq: int | None
    last_reading_ts: int | None
    queue_depth: int
    queue_bytes: int
    counters: tuple[tuple[str, int], ...]
    halted: str | None
    broker_error: str | None

    def counters_dict(self) -> dict[str, int]:
        return dict(self.counters)


def _reject_constant(name: str) -> Any:
    raise RejectedStatus(StatusReason.BAD_JSON, f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise RejectedStatus(StatusReason.BAD_JSON, "an object repeats a key")
    return dict(pairs)


def _int(document: Mapping[str, Any], name: str) -> int:
    value = document.get(name)
    # bool is an int in Python, never in this schema
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"{name} must be an integer from 0 to 2^63-1, got {value!r:.60}")
    return value


def _text(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"{name} must be a string or null, got {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"{name} is longer than {MAX_TEXT_CHARS} characters")
    if any(ord(character) < 0x20 and character not in "\t" for character in value):
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"{name} holds a control character")
    return value or None


def _counters(value: Any) -> tuple[tuple[str, int], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"counters must be an object, got {type(value).__name__}")
    if len(value) > MAX_COUNTERS:
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"counters has more than {MAX_COUNTERS} reasons")
    checked = []
    for reason in value:
        if not _NAME_RE.fullmatch(reason):
            raise RejectedStatus(StatusReason.BAD_SCHEMA, f"counter reason {reason!r:.60} is not a lowercase name")
        checked.append((reason, _int(value, reason)))
    return tuple(sorted(checked))


def parse_bridge_status(payload: bytes, topic_meter: str | None = None) -> BridgeStatus:
    """Check a status message; with ``topic_meter``, its ``meter`` must be the topic's. Raises RejectedStatus."""
    if not isinstance(payload, (bytes, bytearray)):
        raise RejectedStatus(StatusReason.BAD_JSON, f"payload must be bytes, got {type(payload).__name__}")
    if len(payload) > MAX_STATUS_BYTES:
        raise RejectedStatus(StatusReason.TOO_LARGE, f"{len(payload)} bytes, more than {MAX_STATUS_BYTES}")
    if nests_deeper_than(bytes(payload), MAX_STATUS_DEPTH):
        raise RejectedStatus(StatusReason.BAD_JSON, f"nested deeper than {MAX_STATUS_DEPTH} levels")
    try:
        document = json.loads(
            bytes(payload).decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_reject_constant
        )
    except UnicodeDecodeError:
        raise RejectedStatus(StatusReason.BAD_JSON, "not UTF-8") from None
    except RecursionError:  # cannot happen below MAX_STATUS_DEPTH; kept so no input escapes as a crash
        raise RejectedStatus(StatusReason.BAD_JSON, "nested too deeply") from None
    except json.JSONDecodeError as error:
        raise RejectedStatus(StatusReason.BAD_JSON, f"not JSON: {error.msg} at {error.pos}") from None
    if not isinstance(document, dict):
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"a status is a JSON object, got {type(document).__name__}")
    if document.get("schema") != STATUS_SCHEMA:
        raise RejectedStatus(
            StatusReason.BAD_SCHEMA, f"schema must be {STATUS_SCHEMA!r}, got {document.get('schema')!r:.60}"
        )
    meter = document.get("meter")
    if not isinstance(meter, str) or not _ADDRESS_RE.fullmatch(meter):
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"meter must be a 0x address, got {meter!r:.60}")
    meter = to_checksum(meter)
    if topic_meter is not None and meter != to_checksum(topic_meter):
        raise RejectedStatus(StatusReason.WRONG_TOPIC, f"topic names meter {topic_meter}, payload {meter}")
    source = document.get("source")
    if source is not None and (not isinstance(source, str) or not _NAME_RE.fullmatch(source)):
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"source must be a lowercase name or null, got {source!r:.60}")
    last = document.get("lastReading")
    if last is not None and not isinstance(last, dict):
        raise RejectedStatus(StatusReason.BAD_SCHEMA, f"lastReading must be an object or null, got {last!r:.60}")
    return BridgeStatus(
        meter=meter,
        source=source,
        ts=_int(document, "ts"),
        last_reading_seq=None if last is None else _int(last, "seq"),
        last_reading_ts=None if last is None else _int(last, "ts"),
        queue_depth=_int(document, "queueDepth"),
        queue_bytes=_int(document, "queueBytes"),
        counters=_counters(document.get("counters")),
        halted=_text(document, "halted"),
        broker_error=_text(document, "brokerError"),
    )


def encode_bridge_status(status: BridgeStatus) -> bytes:
    """The message of a status, as a bridge sends it (compact JSON)."""
    last = None if status.last_reading_seq is None else {"seq": status.last_reading_seq, "ts": status.last_reading_ts}
    return json.dumps(
        {
            "schema": STATUS_SCHEMA,
            "meter": status.meter,
            "source": status.source,
            "ts": status.ts,
            "lastReading": last,
            "queueDepth": status.queue_depth,
            "queueBytes": status.queue_bytes,
            "counters": status.counters_dict(),
            "halted": status.halted,
            "brokerError": status.broker_error,
        },
        separators=(",", ":"),
    ).encode()
