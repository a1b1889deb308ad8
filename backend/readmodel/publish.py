"""What to push for a batch of new rows: the one place both producers go through.

The oracle process pushes what it has just committed, through Redis
(backend/oracle/pushes.py); a web app without Redis follows the tables
instead (backend/web/live_feed.py). Both hand their rows to a
`LivePublisher`, so a browser receives the same events with the same bytes
whichever of them sent it:

  readings      -> `reading`, each household's newest of the batch (the emitter thins further)
  rejections    -> `rejection` to the admin, the last MAX_REJECTIONS of the batch
  bridge status -> `bridge_status` to the household, each meter's newest of the batch
  chain events  -> `interval_settled` (IntervalSettled), `fill` to the household (Filled),
                   then `order_book` once when any order event came (OrderPlaced, OrderClosed, Filled)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from backend.readmodel.emitter import LiveEmitter
from backend.readmodel.market import order_book_json
from backend.readmodel.payloads import (
    BridgeStatusRow,
    EventRow,
    ReadingRow,
    RejectionRow,
    bridge_status_payload,
    fill_payload,
    interval_settled_payload,
    reading_payload,
    rejection_payload,
)

__all__ = ["MAX_REJECTIONS", "ORDER_EVENTS", "LivePublisher"]

ORDER_EVENTS = frozenset({"OrderPlaced", "OrderClosed", "Filled"})
MAX_REJECTIONS = 20  # a flood of bad messages: the admin page reloads the list anyway


class LivePublisher:
    """Turn new rows into live events and emit them."""

    def __init__(
        self,
        emitter: LiveEmitter,
        sessions: sessionmaker[Session],
        interval_seconds: int,
        clock: Callable[[], float] = time.time,
    ):
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be positive, not {interval_seconds}")
        self.emitter = emitter
        self.sessions = sessions
        self.interval_seconds = interval_seconds
        self.clock = clock

    def readings(self, rows: Iterable[ReadingRow]) -> None:
        """Push each household's newest reading of the batch: registers are cumulative, the rest adds nothing."""
        newest: dict[str, ReadingRow] = {}
        for row in rows:
            newest[row.household] = row
        for row in newest.values():
            self.emitter.emit_reading(reading_payload(row))

    def rejections(self, rows: Sequence[RejectionRow]) -> None:
        """Tell the admin of the batch's last MAX_REJECTIONS rejections."""
        for row in rows[-MAX_REJECTIONS:]:
            self.emitter.emit_rejection(rejection_payload(row))

    def bridge_statuses(self, rows: Iterable[BridgeStatusRow]) -> None:
        """Push each meter's newest stored bridge status of the batch to its household."""
        newest: dict[str, BridgeStatusRow] = {}
        for row in rows:
            newest[row.meter] = row
        for meter in sorted(newest):  # one order, whichever producer read the batch and in what order
            self.emitter.emit_bridge_status(bridge_status_payload(newest[meter]))

    def chain_events(self, events: Iterable[EventRow]) -> None:
        """Push settled intervals and fills, in chain order, then the order book once if an order event came."""
        book_changed = False
        for event in events:
            if event.event == "IntervalSettled":
                self.emitter.emit_interval_settled(interval_settled_payload(event))
            elif event.event == "Filled" and event.args.get("household"):
                self.emitter.emit_fill(event.args["household"], fill_payload(event))
            book_changed = book_changed or event.event in ORDER_EVENTS
        if book_changed:
            with self.sessions() as session:
                self.emitter.emit_order_book(order_book_json(session, self.current_interval()))

    def current_interval(self) -> int:
        return int(self.clock()) // self.interval_seconds
