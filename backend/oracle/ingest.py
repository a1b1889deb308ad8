"""Turning MQTT messages into committed readings or recorded rejections.

`Ingester.process(batch)` handles a batch of raw messages in one database
transaction and returns, per message, what happened. The MQTT service acks
a message only after that transaction committed, so a crash at any point
loses nothing: the broker redelivers, and redelivered readings are
recognised by (meter, seq) and digest and acknowledged without a second row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import MAX_STORED_INT, Meter, Reading
from backend.db.store import insert_reading_once, record_rejection
from backend.oracle.parser import Reason, RejectedReading, meter_from_topic, parse_reading
from backend.oracle.readings import MeterDomain, reading_digest
from backend.oracle.verifier import MeterInfo, MeterState, check_history, verify_reading

STORED, DUPLICATE, REJECTED = "stored", "duplicate", "rejected"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    received_at: float


@dataclass(frozen=True)
class Outcome:
    status: str  # STORED, DUPLICATE or REJECTED
    reason: str | None = None
    meter: str | None = None


class Ingester:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        domain: MeterDomain,
        community: str,
        lookup_meter: Callable[[str], MeterInfo | None],
        clock: Callable[[], float] = time.time,
        max_payload_bytes: int = 1024,
    ):
        self.sessions = sessions
        self.domain = domain
        self.community = community
        self.lookup_meter = lookup_meter
        self.clock = clock
        self.max_payload_bytes = max_payload_bytes
        self._state: dict[str, MeterState | None] = {}  # last accepted reading per meter, as committed

    def process(self, batch: Sequence[Message]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        pending_state: dict[str, MeterState] = {}
        with self.sessions() as session:
            for message in batch:
                outcomes.append(self._one(session, message, pending_state))
            session.commit()
        self._state.update(pending_state)
        return outcomes

    def _one(self, session: Session, message: Message, pending_state: dict[str, MeterState]) -> Outcome:
        topic_meter = None
        try:
            topic_meter = meter_from_topic(message.topic, self.community)
            signed = parse_reading(message.payload, self.max_payload_bytes)
            reading = signed.reading
            if max(reading.seq, reading.ts, reading.produced_wh, reading.consumed_wh) > MAX_STORED_INT:
                raise RejectedReading(Reason.BAD_SCHEMA, f"a value exceeds the storable {MAX_STORED_INT}")
            info = self.lookup_meter(reading.meter) if reading.meter == topic_meter else None
            # Stateless checks first (topic, registry, signature), so a forgery
            # is reported as one and not as a replay of a stored seq.
            info = verify_reading(signed, topic_meter, _single(reading.meter, info), None, self.domain,
                                  self.clock())
            digest = reading_digest(reading, self.domain)
            stored_digest = session.scalar(
                select(Reading.digest).where(Reading.meter == reading.meter, Reading.seq == reading.seq))
            if stored_digest is not None:
                if bytes(stored_digest) == digest:
                    return Outcome(DUPLICATE, meter=reading.meter)  # a QoS 1 redelivery
                raise RejectedReading(Reason.REPLAYED_SEQ, f"seq {reading.seq} already stored with other content")
            last = pending_state.get(reading.meter) or self._last_state(session, reading.meter)
            if last is not None:
                check_history(reading, info, last)
            self._ensure_meter_row(session, info)
            insert_reading_once(
                session, meter=reading.meter, household=info.household, seq=reading.seq, ts=reading.ts,
                produced_wh=reading.produced_wh, consumed_wh=reading.consumed_wh, power_w=reading.power_w,
                signature=signed.signature, digest=digest, received_at=int(message.received_at))
            state = MeterState(reading.seq, reading.ts, reading.produced_wh, reading.consumed_wh)
            meter_row = session.get(Meter, reading.meter)
            meter_row.last_seq, meter_row.last_ts = state.seq, state.ts
            meter_row.last_produced_wh, meter_row.last_consumed_wh = state.produced_wh, state.consumed_wh
            pending_state[reading.meter] = state
            return Outcome(STORED, meter=reading.meter)
        except RejectedReading as rejected:
            record_rejection(session, received_at=int(message.received_at), topic=message.topic,
                             reason=str(rejected.reason), payload=message.payload,
                             meter=topic_meter, detail=rejected.detail)
            return Outcome(REJECTED, reason=str(rejected.reason), meter=topic_meter)

    def _last_state(self, session: Session, meter: str) -> MeterState | None:
        if meter not in self._state:
            row = session.get(Meter, meter)
            self._state[meter] = (
                MeterState(row.last_seq, row.last_ts, row.last_produced_wh, row.last_consumed_wh)
                if row is not None and row.last_seq is not None else None)
        return self._state[meter]

    def _ensure_meter_row(self, session: Session, info: MeterInfo) -> None:
        row = session.get(Meter, info.meter)
        if row is None:
            # A replaced meter: the household's old meter stops being its active one.
            session.execute(update(Meter).where(Meter.household == info.household, Meter.active.is_(True))
                            .values(active=False))
            session.add(Meter(address=info.meter, household=info.household, capacity_w=info.capacity_w,
                              active=info.active, registered_block=0))
            session.flush()
        elif row.active != info.active or row.capacity_w != info.capacity_w:
            row.active, row.capacity_w = info.active, info.capacity_w


def _single(meter: str, info: MeterInfo | None) -> dict[str, MeterInfo]:
    return {meter: info} if info is not None else {}
