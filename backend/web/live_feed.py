"""Live pushes from the database, for a web app without Redis: new readings, rejections, chain events and
bridge statuses.

The oracle (ingest, settlement) and the indexer write the database from
other processes, which cannot reach an in-process Socket.IO. This feed
follows the tables they append to (by their growing ids), and the bridge
statuses the oracle replaces in place (``meter_status``: a row whose
``received_at`` moved and whose event differs from the last one pushed), and
hands what is new to the read model's publisher (backend/readmodel/publish.py), which
builds and emits the same events, byte for byte, as the oracle's pushes
through Redis (backend/oracle/pushes.py).

`create_app` installs it; it starts with the first request a served app
answers (never under `app.testing`), from where the tables are then: history
is not replayed. Only without Redis: with a message queue the oracle process
emits these events itself, and every web worker following the tables as well
would push each one twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.db.models import ChainEvent, MeterStatus, Reading, Rejection
from backend.readmodel.emitter import LiveEmitter
from backend.readmodel.payloads import bridge_status_payload
from backend.readmodel.publish import LivePublisher

__all__ = ["LiveFeed", "install"]

log = logging.getLogger(__name__)

POLL_S = 0.5
MAX_ROWS_PER_PASS = 2000
DEFAULT_INTERVAL_S = 900
# Statuses are replaced in place: each pass rereads those received this long before the newest seen
# (another process's commit may land with an older received_at than one already read).
STATUS_OVERLAP_S = 10


@dataclass
class _Cursor:
    reading_id: int = 0
    rejection_id: int = 0
    event_id: int = 0
    status_received_at: int = 0


class LiveFeed:
    """One pass at a time: read the rows added since the last pass and publish them."""

    def __init__(self, app: Flask, publisher: LivePublisher):
        self.app = app
        self.publisher = publisher
        self.cursor = _Cursor()
        self._statuses_pushed: dict[str, dict] = {}  # meter -> the bridge_status event last pushed

    @classmethod
    def for_app(cls, app: Flask, emitter: LiveEmitter) -> LiveFeed:
        """A feed on the app's database, with the deployment's interval for the order book."""
        state = app.extensions["vatio"]
        deployment = state.config.deployment
        interval_s = (
            int(deployment.settings.get("intervalSeconds", DEFAULT_INTERVAL_S)) if deployment else (DEFAULT_INTERVAL_S)
        )
        return cls(app, LivePublisher(emitter, state.sessions, interval_s))

    def _sessions(self):
        return self.app.extensions["vatio"].sessions

    def start_from_now(self) -> None:
        """Skip everything already stored: the page loads the history over HTTP."""
        with self._sessions()() as session:
            self.cursor = _Cursor(
                reading_id=session.scalar(select(func.max(Reading.id))) or 0,
                rejection_id=session.scalar(select(func.max(Rejection.id))) or 0,
                event_id=session.scalar(select(func.max(ChainEvent.id))) or 0,
                status_received_at=session.scalar(select(func.max(MeterStatus.received_at))) or 0,
            )
            self._statuses_pushed = {
                row.meter: bridge_status_payload(row) for row in session.scalars(select(MeterStatus))
            }

    def step(self) -> int:
        """Publish what was added since the last step; return how many rows were read."""
        with self._sessions()() as session:
            readings = self._new_rows(session, Reading, "reading_id")
            rejections = self._new_rows(session, Rejection, "rejection_id")
            events = self._new_rows(session, ChainEvent, "event_id")
            statuses = self._changed_statuses(session)
        self.publisher.readings(readings)
        self.publisher.rejections(rejections)
        self.publisher.chain_events(events)
        self.publisher.bridge_statuses(statuses)
        return len(readings) + len(rejections) + len(events) + len(statuses)

    def _changed_statuses(self, session: Session) -> list[MeterStatus]:
        """The bridge statuses stored since the last pass whose event differs from the one last pushed."""
        since = max(self.cursor.status_received_at - STATUS_OVERLAP_S, 0)
        rows = list(
            session.scalars(
                select(MeterStatus)
                .where(MeterStatus.received_at >= since)
                .order_by(MeterStatus.received_at, MeterStatus.meter)
                .limit(MAX_ROWS_PER_PASS)
            )
        )
        changed = []
        for row in rows:
            self.cursor.status_received_at = max(self.cursor.status_received_at, row.received_at)
            event = bridge_status_payload(row)
            if self._statuses_pushed.get(row.meter) != event:
                self._statuses_pushed[row.meter] = event
                changed.append(row)
        return changed

    def _new_rows(self, session: Session, model, cursor_field: str) -> list:
        """The rows of `model` past the cursor, oldest first (at most MAX_ROWS_PER_PASS); moves the cursor."""
        rows = list(
            session.scalars(
                select(model)
                .where(model.id > getattr(self.cursor, cursor_field))
                .order_by(model.id)
                .limit(MAX_ROWS_PER_PASS)
            )
        )
        if rows:
            setattr(self.cursor, cursor_field, rows[-1].id)
        return rows

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
            emitter = LiveEmitter(
                socketio=app.extensions["socketio"], readings_per_s=app.extensions["vatio"].config.live_readings_per_s
            )
            feed = LiveFeed.for_app(app, emitter)
            feed.start_from_now()
            stop = threading.Event()
            thread = threading.Thread(target=feed.run, args=(stop,), name="vatio-live-feed", daemon=True)
            thread.start()
            started.update(feed=feed, stop=stop, thread=thread)
            app.extensions["vatio_live_feed"] = started
