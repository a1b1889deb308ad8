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
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import MAX_STORED_INT, Meter, Reading
from backend.db.store import insert_readings, record_rejection
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
        self._meter_rows: dict[str, MeterInfo] = {}  # meters rows known to match the registry

    def process(self, batch: Sequence[Message]) -> list[Outcome]:
        try:
            return self._process(batch)
        except Exception:
            self._meter_rows.clear()  # rows this batch added were rolled back
            raise

    def _process(self, batch: Sequence[Message]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        parsed = [self._parse(message) for message in batch]  # once: it is a fair share of the cost
        with self.sessions() as session:
            work = _BatchWork(stored_digests=self._stored_digests(session, parsed))
            for message, signed in zip(batch, parsed):
                outcomes.append(self._one(session, message, signed, work))
            # One statement for the readings and one per meter touched: far
            # cheaper than a flush per message.
            insert_readings(session, work.rows)
            for meter, state in work.states.items():
                session.execute(update(Meter).where(Meter.address == meter).values(
                    last_seq=state.seq, last_ts=state.ts,
                    last_produced_wh=state.produced_wh, last_consumed_wh=state.consumed_wh))
            session.commit()
        self._state.update(work.states)
        return outcomes

    def _parse(self, message: Message):
        try:
            return parse_reading(message.payload, self.max_payload_bytes)
        except RejectedReading as rejected:
            return rejected

    def _stored_digests(self, session: Session, parsed: list) -> dict[tuple[str, int], bytes]:
        """Digests already stored for the (meter, seq) pairs this batch may hold."""
        seqs_by_meter: dict[str, set[int]] = {}
        for signed in parsed:
            if isinstance(signed, RejectedReading):
                continue
            seqs_by_meter.setdefault(signed.reading.meter, set()).add(signed.reading.seq)
        found = {}
        for meter, seqs in seqs_by_meter.items():
            rows = session.execute(select(Reading.seq, Reading.digest)
                                   .where(Reading.meter == meter, Reading.seq.in_(seqs)))
            for seq, digest in rows:
                found[(meter, seq)] = bytes(digest)
        return found

    def _one(self, session: Session, message: Message, signed, work: "_BatchWork") -> Outcome:
        topic_meter = None
        try:
            topic_meter = meter_from_topic(message.topic, self.community)
            if isinstance(signed, RejectedReading):
                raise signed
            reading = signed.reading
            if max(reading.seq, reading.ts, reading.produced_wh, reading.consumed_wh) > MAX_STORED_INT:
                raise RejectedReading(Reason.BAD_SCHEMA, f"a value exceeds the storable {MAX_STORED_INT}")
            info = self.lookup_meter(reading.meter) if reading.meter == topic_meter else None
            # Stateless checks first (topic, registry, signature), so a forgery
            # is reported as one and not as a replay of a stored seq.
            info = verify_reading(signed, topic_meter, _single(reading.meter, info), None, self.domain,
                                  self.clock())
            digest = reading_digest(reading, self.domain)
            stored_digest = work.stored_digests.get((reading.meter, reading.seq))
            if stored_digest is not None:
                if stored_digest == digest:
                    return Outcome(DUPLICATE, meter=reading.meter)  # a QoS 1 redelivery
                raise RejectedReading(Reason.REPLAYED_SEQ, f"seq {reading.seq} already stored with other content")
            last = work.states.get(reading.meter) or self._last_state(session, reading.meter)
            if last is not None:
                check_history(reading, info, last)
            self._ensure_meter_row(session, info)
            work.rows.append(dict(
                meter=reading.meter, household=info.household, seq=reading.seq, ts=reading.ts,
                produced_wh=reading.produced_wh, consumed_wh=reading.consumed_wh, power_w=reading.power_w,
                signature=signed.signature, digest=digest, received_at=int(message.received_at)))
            work.stored_digests[(reading.meter, reading.seq)] = digest
            work.states[reading.meter] = MeterState(reading.seq, reading.ts, reading.produced_wh,
                                                    reading.consumed_wh)
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
        if self._meter_rows.get(info.meter) == info:
            return
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
        session.flush()
        self._meter_rows[info.meter] = info


@dataclass
class _BatchWork:
    stored_digests: dict[tuple[str, int], bytes]
    rows: list[dict] = field(default_factory=list)
    states: dict[str, MeterState] = field(default_factory=dict)


def _single(meter: str, info: MeterInfo | None) -> dict[str, MeterInfo]:
    return {meter: info} if info is not None else {}
