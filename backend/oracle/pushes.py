"""Live pushes from the oracle process to the browsers (through Redis).

The oracle and the indexer run outside the web process, so they emit with a
write-only Socket.IO emitter on the message queue (backend.web.live): every
web worker subscribed to it delivers the event to its clients.

  ingest commit  -> "reading" (thinned per household) and "rejection" (admin room)
  indexer events -> "interval_settled", "fill" (household room), "order_book"

Pushes are best effort: a Redis hiccup is logged and never stops ingestion
or settlement, and a browser that missed one reloads the state over HTTP.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.oracle.ingest import REJECTED, STORED, Message, Outcome
from backend.oracle.verifier import MeterInfo
from backend.web.live import LiveEmitter

log = logging.getLogger(__name__)

READING_FIELDS = ("meter", "seq", "ts", "producedWh", "consumedWh", "powerW")
ORDER_BOOK_EVENTS = {"OrderPlaced", "OrderClosed", "Filled"}


class ReadingPusher:
    """OracleService's on_committed hook: stored readings and rejections, after the commit."""

    def __init__(self, emitter: LiveEmitter, lookup_meter: Callable[[str], MeterInfo | None]):
        self.emitter = emitter
        self.lookup_meter = lookup_meter

    def __call__(self, messages: Sequence[Message], outcomes: Sequence[Outcome]) -> None:
        try:
            for message, outcome in zip(messages, outcomes):
                if outcome.status == STORED:
                    self._reading(message, outcome)
                elif outcome.status == REJECTED:
                    self.emitter.emit_rejection({"reason": outcome.reason, "meter": outcome.meter,
                                                 "topic": message.topic, "receivedAt": int(message.received_at)})
                # DUPLICATE: a redelivery of something already pushed
        except Exception:
            log.exception("live push of %d readings failed", len(messages))

    def _reading(self, message: Message, outcome: Outcome) -> None:
        info = self.lookup_meter(outcome.meter) if outcome.meter else None
        if info is None:
            return
        reading = json.loads(message.payload)  # stored, so it parsed already
        self.emitter.emit_reading(info.household, {field: reading[field] for field in READING_FIELDS})


class EventPusher:
    """The indexer's on_events hook: settled intervals, fills and the order book."""

    def __init__(self, emitter: LiveEmitter, sessions: sessionmaker[Session], interval_seconds: int):
        self.emitter = emitter
        self.sessions = sessions
        self.interval_seconds = interval_seconds

    def __call__(self, records: Sequence[Mapping[str, Any]]) -> None:
        try:
            for record in records:
                args = record["args"]
                if record["event"] == "IntervalSettled":
                    self.emitter.emit_interval_settled({**args, "txHash": record["txHash"],
                                                        "blockNumber": record["blockNumber"]})
                elif record["event"] == "Filled":
                    self.emitter.emit_fill(args["household"], {**args, "txHash": record["txHash"]})
            if any(record["event"] in ORDER_BOOK_EVENTS for record in records):
                self._order_book()
        except Exception:
            log.exception("live push of %d chain events failed", len(records))

    def _order_book(self) -> None:
        from backend.web.market import open_orders, order_book

        with self.sessions() as session:
            book = order_book(open_orders(session, int(time.time()) // self.interval_seconds))
        self.emitter.emit_order_book(book)
