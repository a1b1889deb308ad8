"""One builder per live event: a stored row in, the JSON the browser receives out.

Every producer calls these (publish.py), so a live event has one shape
whichever process pushed it; docs/api.md lists the fields and
frontend/src/live.ts types them (`LiveEvents`). Integers are JSON numbers,
sides are "bid" / "ask", addresses EIP-55.

The rows are the stored ones (`Reading`, `Rejection`, `ChainEvent`), or what
the oracle just committed in their stead: the Stored* tuples carry the same
fields under the same names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from eth_utils import to_checksum_address

from backend.readmodel.args import arg_int

__all__ = [
    "BridgeStatusRow",
    "EventRow",
    "ReadingRow",
    "RejectionRow",
    "StoredBridgeStatus",
    "StoredEvent",
    "StoredReading",
    "StoredRejection",
    "bridge_report",
    "bridge_status_payload",
    "fill_payload",
    "interval_settled_payload",
    "reading_payload",
    "rejection_payload",
    "side_name",
]

SIDES = {0: "bid", 1: "ask"}


class ReadingRow(Protocol):
    household: str
    meter: str
    seq: int
    ts: int
    produced_wh: int
    consumed_wh: int
    power_w: int


class RejectionRow(Protocol):
    received_at: int
    topic: str
    meter: str | None
    reason: str
    detail: str | None


class EventRow(Protocol):
    event: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str


class BridgeStatusRow(Protocol):
    household: str
    meter: str
    source: str | None
    status_ts: int
    last_reading_seq: int | None
    last_reading_ts: int | None
    queue_depth: int
    queue_bytes: int
    counters: dict[str, int]
    halted: str | None
    broker_error: str | None
    received_at: int


class StoredBridgeStatus(NamedTuple):
    """A bridge status as stored (the fields of a `MeterStatus` row)."""

    household: str
    meter: str
    source: str | None
    status_ts: int
    last_reading_seq: int | None
    last_reading_ts: int | None
    queue_depth: int
    queue_bytes: int
    counters: dict[str, int]
    halted: str | None
    broker_error: str | None
    received_at: int


class StoredReading(NamedTuple):
    """A reading as committed (the fields of a `Reading` row that the browser sees)."""

    household: str
    meter: str
    seq: int
    ts: int
    produced_wh: int
    consumed_wh: int
    power_w: int


class StoredRejection(NamedTuple):
    """A rejection as recorded (the fields of a `Rejection` row that the admin sees)."""

    received_at: int
    topic: str
    meter: str | None
    reason: str
    detail: str | None


class StoredEvent(NamedTuple):
    """A chain event as the indexer stored it (the fields of a `ChainEvent` row)."""

    event: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StoredEvent:
        """The indexer's record of a log (what `Indexer.on_events` receives), as its stored row."""
        return cls(record["event"], record["args"], record["blockNumber"], record["txHash"])


def side_name(args: Mapping[str, Any]) -> str:
    """The order side of an event's `side` argument (the enum index): "bid", "ask" or "unknown"."""
    return SIDES.get(arg_int(args, "side"), "unknown")


def reading_payload(row: ReadingRow) -> dict:
    """`reading`: a household's meter registers (cumulative Wh) and power."""
    return {
        "household": to_checksum_address(row.household),
        "meter": to_checksum_address(row.meter),
        "seq": row.seq,
        "ts": row.ts,
        "producedWh": row.produced_wh,
        "consumedWh": row.consumed_wh,
        "powerW": row.power_w,
    }


def bridge_report(row: BridgeStatusRow) -> dict:
    """What a household's bridge reports: its problems (reason -> count), halt, broker error, queue, when."""
    return {
        "problems": {reason: count for reason, count in sorted((row.counters or {}).items())},
        "halted": row.halted,
        "brokerError": row.broker_error,
        "queueDepth": row.queue_depth,
        "statusTs": row.status_ts,
    }


def bridge_status_payload(row: BridgeStatusRow) -> dict:
    """`bridge_status`: a household's bridge reported how it is doing (docs/mqtt.md, "Bridge status")."""
    return {
        "household": to_checksum_address(row.household),
        "meter": to_checksum_address(row.meter),
        "source": row.source,
        "bridge": bridge_report(row),
    }


def rejection_payload(row: RejectionRow) -> dict:
    """`rejection`: why the oracle refused a message."""
    return {
        "reason": row.reason,
        "meter": row.meter,
        "topic": row.topic,
        "detail": row.detail,
        "receivedAt": row.received_at,
    }


def fill_payload(event: EventRow) -> dict:
    """`fill`: a Filled event, one fill of a household (an auto order has orderId 0)."""
    args = event.args
    return {
        "intervalId": arg_int(args, "intervalId"),
        "orderId": arg_int(args, "orderId"),
        "auto": arg_int(args, "orderId") == 0,
        "side": side_name(args),
        "amountWh": arg_int(args, "amountWh"),
        "value": arg_int(args, "value"),
        "blockNumber": event.block_number,
        "txHash": event.tx_hash,
    }


def interval_settled_payload(event: EventRow) -> dict:
    """`interval_settled`: an IntervalSettled event, the clearing price and the interval's volumes."""
    args = event.args
    return {
        "intervalId": arg_int(args, "intervalId"),
        "readingsRoot": args.get("readingsRoot"),
        "clearingPrice": arg_int(args, "clearingPrice"),
        "tradedWh": arg_int(args, "tradedWh"),
        "surplusWh": arg_int(args, "surplusWh"),
        "coveredWh": arg_int(args, "coveredWh"),
        "gridImportWh": arg_int(args, "gridImportWh"),
        "blockNumber": event.block_number,
        "txHash": event.tx_hash,
    }
