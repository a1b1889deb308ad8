"""Storing bridge statuses: each registered meter's latest, one row in ``meter_status``, replaced by a newer one.

A status (docs/mqtt.md, "Bridge status") says how a household's bridge is doing: its source, its
last signed reading, its queue and its problems. It is not a reading: it never goes through the
readings parser, the verifier or the rejections table (it is unsigned and carries no energy). The
oracle's MQTT service hands the messages of ``vatio/<community>/meters/+/status`` here, in their own
transaction, and acks them after the commit like readings.

Kept: a well-formed status whose topic and payload name the same registered, active meter, newer
than (or as new as) the stored one by the bridge's clock. Dropped, logged by reason (at most once a
minute per topic): anything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import MeterStatus
from backend.oracle.ingest import Message
from backend.oracle.verifier import MeterInfo
from backend.protocol.bridge_status import RejectedStatus, parse_bridge_status
from backend.protocol.topics import status_meter
from backend.readmodel.payloads import StoredBridgeStatus

__all__ = ["LOG_EVERY_S", "BridgeStatusStore", "StatusOutcome"]

log = logging.getLogger(__name__)
LOG_EVERY_S = 60.0
STORED, STALE, DROPPED = "stored", "stale", "dropped"


class StatusOutcome(NamedTuple):
    status: str  # STORED, STALE (an older status than the stored one) or DROPPED
    reason: str | None = None  # DROPPED: a StatusReason, "unknown_meter" or "inactive_meter"
    row: StoredBridgeStatus | None = None  # STORED: the row as committed (the live push)


class BridgeStatusStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        community: str,
        lookup_meter: Callable[[str], MeterInfo | None],
        clock: Callable[[], float] = time.time,
    ):
        self.sessions = sessions
        self.community = community
        self.lookup_meter = lookup_meter
        self.clock = clock
        self.counts: dict[str, int] = {}  # outcome or dropped reason -> count, since start
        self._logged_at: dict[str, float] = {}

    def process(self, messages: Sequence[Message]) -> list[StatusOutcome]:
        """Store the statuses of ``messages`` in one transaction; return what became of each."""
        outcomes = []
        with self.sessions.begin() as session:
            for message in messages:
                outcome = self._one(session, message)
                outcomes.append(outcome)
                key = outcome.reason or outcome.status
                self.counts[key] = self.counts.get(key, 0) + 1
        return outcomes

    def _one(self, session: Session, message: Message) -> StatusOutcome:
        meter = status_meter(message.topic, self.community)
        if meter is None:
            return self._dropped(message, "wrong_topic", f"not a status topic of community {self.community!r}")
        try:
            status = parse_bridge_status(message.payload, topic_meter=meter)
        except RejectedStatus as rejected:
            return self._dropped(message, rejected.reason.value, rejected.detail)
        info = self.lookup_meter(meter)
        if info is None:
            return self._dropped(message, "unknown_meter", f"{meter} is not a registered meter")
        if not info.active:
            return self._dropped(message, "inactive_meter", f"{meter} was replaced")
        row = StoredBridgeStatus(
            household=info.household,
            meter=meter,
            source=status.source,
            status_ts=status.ts,
            last_reading_seq=status.last_reading_seq,
            last_reading_ts=status.last_reading_ts,
            queue_depth=status.queue_depth,
            queue_bytes=status.queue_bytes,
            counters=status.counters_dict(),
            halted=status.halted,
            broker_error=status.broker_error,
            received_at=int(message.received_at),
        )
        return StatusOutcome(STORED, row=row) if self._upsert(session, row) else StatusOutcome(STALE)

    def _upsert(self, session: Session, row: StoredBridgeStatus) -> bool:
        """Insert or replace the meter's row unless the stored status is newer; True when written."""
        values = row._asdict()
        dialect = session.get_bind().dialect.name
        statement = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(dialect, insert)(MeterStatus)
        if not hasattr(statement, "on_conflict_do_update"):
            raise ValueError(f"unsupported database {dialect!r}")
        statement = (
            statement.values(**values)
            .on_conflict_do_update(
                index_elements=[MeterStatus.meter],
                set_={name: statement.excluded[name] for name in values if name != "meter"},
                where=MeterStatus.status_ts <= statement.excluded.status_ts,
            )
            .returning(MeterStatus.meter)
        )
        return session.execute(statement).first() is not None

    def _dropped(self, message: Message, reason: str, detail: str) -> StatusOutcome:
        now = self.clock()
        if len(self._logged_at) > 10_000:
            self._logged_at.clear()  # bounded, whatever topics arrive
        if now - self._logged_at.get(message.topic, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged_at[message.topic] = now
            log.warning("bridge status on %.120s dropped (%s): %s", message.topic, reason, detail)
        return StatusOutcome(DROPPED, reason=reason)
