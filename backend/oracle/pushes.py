"""Live pushes from the oracle process to the browsers (through Redis).

The oracle and the indexer run outside the web process, so they emit with a
write-only Socket.IO emitter on the message queue (backend.readmodel.emitter):
every web worker subscribed to it delivers the event. What is pushed, and its
JSON, is the read model's (backend.readmodel.publish), the same as a web app
without Redis pushes from the tables:

  ingest commit  -> "reading" (thinned per household) and "rejection" (admin room)
  status commit  -> "bridge_status" (household room)
  indexer events -> "interval_settled", "fill" (household room), "order_book"

Pushes are best effort: a Redis hiccup is logged and never stops ingestion
or settlement, and a browser that missed one reloads the state over HTTP.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.oracle.ingest import REJECTED, STORED, Message, Outcome
from backend.oracle.verifier import MeterInfo
from backend.readmodel.emitter import LiveEmitter
from backend.readmodel.payloads import StoredBridgeStatus, StoredEvent, StoredReading
from backend.readmodel.publish import LivePublisher

__all__ = ["EventPusher", "ReadingPusher", "StatusPusher", "live_pushers"]

log = logging.getLogger(__name__)


class ReadingPusher:
    """OracleService's on_committed hook: stored readings and rejections, after the commit."""

    def __init__(self, publisher: LivePublisher, lookup_meter: Callable[[str], MeterInfo | None]):
        self.publisher = publisher
        self.lookup_meter = lookup_meter

    def __call__(self, messages: Sequence[Message], outcomes: Sequence[Outcome]) -> None:
        try:
            stored: dict[str, Message] = {}  # each meter's last stored message: the publisher keeps the newest
            rejected = []
            for message, outcome in zip(messages, outcomes, strict=True):
                if outcome.status == STORED:
                    stored[outcome.meter] = message
                elif outcome.status == REJECTED and outcome.rejection is not None:
                    rejected.append(outcome.rejection)  # the row as recorded
                # DUPLICATE: a redelivery of something already pushed
            self.publisher.readings(
                row for meter, message in stored.items() if (row := self._row(meter, message)) is not None
            )
            self.publisher.rejections(rejected)
        except Exception:
            log.exception("live push of %d readings failed", len(messages))

    def _row(self, meter: str, message: Message) -> StoredReading | None:
        """The reading as the ingester stored it (it parsed, so its fields are there)."""
        info = self.lookup_meter(meter)
        if info is None:
            return None
        reading = json.loads(message.payload)
        return StoredReading(
            info.household,
            meter,
            reading["seq"],
            reading["ts"],
            reading["producedWh"],
            reading["consumedWh"],
            reading["powerW"],
        )


class StatusPusher:
    """OracleService's on_statuses hook: the bridge statuses just stored, after their commit."""

    def __init__(self, publisher: LivePublisher):
        self.publisher = publisher

    def __call__(self, rows: Sequence[StoredBridgeStatus]) -> None:
        try:
            self.publisher.bridge_statuses(rows)
        except Exception:
            log.exception("live push of %d bridge statuses failed", len(rows))


class EventPusher:
    """The indexer's on_events hook: settled intervals, fills and the order book."""

    def __init__(self, publisher: LivePublisher):
        self.publisher = publisher

    def __call__(self, records: Sequence[Mapping[str, Any]]) -> None:
        try:
            self.publisher.chain_events(StoredEvent.from_record(record) for record in records)
        except Exception:
            log.exception("live push of %d chain events failed", len(records))


def live_pushers(
    redis_url: str,
    channel: str,
    readings_per_s: float,
    sessions: sessionmaker[Session],
    interval_seconds: int,
    lookup_meter: Callable[[str], MeterInfo | None],
) -> tuple[ReadingPusher, EventPusher]:
    """The oracle's two hooks, emitting through the Socket.IO message queue at redis_url on channel."""
    publisher = LivePublisher(
        LiveEmitter(redis_url, channel=channel, readings_per_s=readings_per_s), sessions, interval_seconds
    )
    return ReadingPusher(publisher, lookup_meter), EventPusher(publisher)
