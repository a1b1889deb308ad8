"""Live pushes from the database, for a web app without Redis: new readings, rejections and chain events.

The oracle (ingest, settlement) and the indexer write the database from
other processes, which cannot reach an in-process Socket.IO. This feed
follows the tables they append to (by their growing ids) and pushes what is
new through the app's own SocketIO:

  readings        -> `reading` to the household's room and (thinned) the community
  rejections      -> `rejection` to the admin room
  chain_events    -> `interval_settled` (IntervalSettled), `fill` to the household (Filled),
                     `order_book` to the community after any order event

It starts with the first request of a served app (never under
`app.testing`), from where the tables are then: history is not replayed.
Only without Redis: with a message queue the oracle process emits these
events itself (backend/oracle/pushes.py), and every web worker following
the tables as well would push each one twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.db.models import ChainEvent, Reading, Rejection
from backend.web.events import arg_int
from backend.web.live import LiveEmitter

__all__ = ["LiveFeed", "install"]

log = logging.getLogger(__name__)

POLL_S = 0.5
MAX_ROWS_PER_PASS = 2000
ORDER_EVENTS = ("OrderPlaced", "OrderClosed", "Filled")
SIDES = {0: "bid", 1: "ask"}


@dataclass
class _Cursor:
    reading_id: int = 0
    rejection_id: int = 0
    event_id: int = 0


class LiveFeed:
    """One pass at a time: read the rows added since the last pass and emit them."""

    def __init__(self, app: Flask, emitter: LiveEmitter):
        self.app = app
        self.emitter = emitter
        self.cursor = _Cursor()

    def _sessions(self):
        return self.app.extensions["vatio"].sessions

    def start_from_now(self) -> None:
        """Skip everything already stored: the page loads the history over HTTP."""
        with self._sessions()() as session:
            self.cursor = _Cursor(
                reading_id=session.scalar(select(func.max(Reading.id))) or 0,
                rejection_id=session.scalar(select(func.max(Rejection.id))) or 0,
                event_id=session.scalar(select(func.max(ChainEvent.id))) or 0,
            )

    def step(self) -> int:
        """Emit what was added since the last step; return how many rows were read."""
        with self._sessions()() as session:
            return self._readings(session) + self._rejections(session) + self._events(session)

    def _readings(self, session: Session) -> int:
        rows = list(session.scalars(select(Reading).where(Reading.id > self.cursor.reading_id)
                                    .order_by(Reading.id).limit(MAX_ROWS_PER_PASS)))
        if not rows:
            return 0
        self.cursor.reading_id = rows[-1].id
        latest: dict[str, Reading] = {}
        for row in rows:  # a burst (replay) sends each household's newest only: the thinning drops the rest
            latest[row.household] = row
        for row in latest.values():
            self.emitter.emit_reading(row.household, {
                "meter": row.meter, "seq": row.seq, "ts": row.ts, "producedWh": row.produced_wh,
                "consumedWh": row.consumed_wh, "powerW": row.power_w})
        return len(rows)

    def _rejections(self, session: Session) -> int:
        rows = list(session.scalars(select(Rejection).where(Rejection.id > self.cursor.rejection_id)
                                    .order_by(Rejection.id).limit(MAX_ROWS_PER_PASS)))
        if not rows:
            return 0
        self.cursor.rejection_id = rows[-1].id
        for row in rows[-20:]:
            self.emitter.emit_rejection({"id": row.id, "reason": row.reason, "meter": row.meter,
                                         "topic": row.topic, "detail": row.detail, "receivedAt": row.received_at})
        return len(rows)

    def _events(self, session: Session) -> int:
        rows = list(session.scalars(select(ChainEvent).where(ChainEvent.id > self.cursor.event_id)
                                    .order_by(ChainEvent.id).limit(MAX_ROWS_PER_PASS)))
        if not rows:
            return 0
        self.cursor.event_id = rows[-1].id
        book_changed = False
        for event in rows:
            args = event.args
            if event.event == "IntervalSettled":
                self.emitter.emit_interval_settled({
                    "intervalId": arg_int(args, "intervalId"), "readingsRoot": args.get("readingsRoot"),
                    "clearingPrice": arg_int(args, "clearingPrice"), "tradedWh": arg_int(args, "tradedWh"),
                    "surplusWh": arg_int(args, "surplusWh"), "coveredWh": arg_int(args, "coveredWh"),
                    "gridImportWh": arg_int(args, "gridImportWh"), "txHash": event.tx_hash,
                    "blockNumber": event.block_number})
            elif event.event == "Filled" and args.get("household"):
                self.emitter.emit_fill(args["household"], {
                    "intervalId": arg_int(args, "intervalId"), "orderId": arg_int(args, "orderId"),
                    "side": SIDES.get(arg_int(args, "side"), "unknown"), "amountWh": arg_int(args, "amountWh"),
                    "value": arg_int(args, "value"), "txHash": event.tx_hash})
            book_changed = book_changed or event.event in ORDER_EVENTS
        if book_changed:
            self._emit_book(session)
        return len(rows)

    def _emit_book(self, session: Session) -> None:
        from backend.web.market import order_book, open_orders

        deployment = self.app.extensions["vatio"].config.deployment
        interval_seconds = int(deployment.settings.get("intervalSeconds", 900)) if deployment else 900
        at = int(time.time()) // interval_seconds
        self.emitter.emit_order_book({"intervalId": at, **order_book(open_orders(session, at))})

    def run(self, stop: threading.Event) -> None:
        """Step every POLL_S until stopped; a database that is away is waited for."""
        while not stop.is_set():
            try:
                self.step()
            except SQLAlchemyError as exc:
                log.warning("live feed waiting for the database: %s", exc)
            except Exception:  # noqa: BLE001 - the feed must outlive one bad row
                log.exception("live feed pass failed; continuing")
            stop.wait(POLL_S)


def install(app: Flask) -> None:
    """Start the feed with the first request this app serves (not in tests: `app.testing`; not with Redis)."""
    if app.extensions["vatio"].config.redis_url is not None:
        return
    lock = threading.Lock()
    started: dict[str, object] = {}

    @app.before_request
    def _start_feed_once() -> None:
        if started or app.testing:
            return
        with lock:
            if started:
                return
            state = app.extensions["vatio"]
            emitter = LiveEmitter(socketio=app.extensions["socketio"],
                                  readings_per_s=state.config.live_readings_per_s)
            feed = LiveFeed(app, emitter)
            feed.start_from_now()
            stop = threading.Event()
            thread = threading.Thread(target=feed.run, args=(stop,), name="vatio-live-feed", daemon=True)
            thread.start()
            started.update(feed=feed, stop=stop, thread=thread)
            app.extensions["vatio_live_feed"] = started
