"""Turning MQTT messages into committed readings or recorded rejections.

`Ingester.process(batch)` handles a batch of raw messages in one database
transaction and returns, per message, what happened. The MQTT service acks
a message only after that transaction committed, so a crash at any point
loses nothing: the broker redelivers, and redelivered readings are
recognised by (meter, seq) and digest and acknowledged without a second row.

Cost per batch, whatever its size: one SELECT of the named meters' rows (their
last accepted reading, locked on PostgreSQL so that two oracles never check a
meter against a stale state), one executemany for the readings, one for the
meters' new state. The stored digests are looked up only for readings that
can be redeliveries (seq at or below the meter's last accepted seq).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import MAX_STORED_INT, Meter, Reading, Rejection
from backend.db.store import insert_readings, record_rejection
from backend.oracle.verifier import DEFAULT_MAX_AGE_S, MeterInfo, MeterState, check_history, verify_reading
from backend.protocol.parser import Reason, RejectedReading, parse_reading
from backend.protocol.readings import MeterDomain, reading_digest
from backend.protocol.topics import meter_from_topic

STORED, DUPLICATE, REJECTED = "stored", "duplicate", "rejected"


# Named tuples rather than dataclasses: one of each is made per message, and
# a frozen dataclass costs about three times as much to build.
class Message(NamedTuple):
    topic: str
    payload: bytes
    received_at: float


class Outcome(NamedTuple):
    status: str  # STORED, DUPLICATE or REJECTED
    reason: str | None = None
    meter: str | None = None
    rejection: Rejection | None = None  # REJECTED: the row recorded (readable after the commit: the live push)


class Ingester:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        domain: MeterDomain,
        community: str,
        lookup_meter: Callable[[str], MeterInfo | None],
        clock: Callable[[], float] = time.time,
        max_payload_bytes: int = 1024,
        max_age_s: float = DEFAULT_MAX_AGE_S,
    ):
        self.sessions = sessions
        self.domain = domain
        self.community = community
        self.lookup_meter = lookup_meter
        self.clock = clock
        self.max_payload_bytes = max_payload_bytes
        self.max_age_s = max_age_s  # math.inf accepts any age (replaying an old archive into a new database)
        # Readings topics seen, and the meter each names: every message of a meter repeats its topic.
        self._topic_meters: dict[str, str] = {}

    def process(self, batch: Sequence[Message]) -> list[Outcome]:
        try:
            return self._process(batch, look_up_every_seq=False)
        except _RowsAlreadyStored:
            # Another writer stored some of these (meter, seq) pairs without
            # moving its meter's last_seq first: check every pair this time.
            return self._process(batch, look_up_every_seq=True)

    def _process(self, batch: Sequence[Message], look_up_every_seq: bool) -> list[Outcome]:
        parsed = [self._parse(message) for message in batch]  # once: it is a fair share of the cost
        named = {signed.reading.meter for signed in parsed if not isinstance(signed, RejectedReading)}
        with self.sessions() as session:
            # SQLite: take the write lock now, so the meters' state read below
            # cannot go stale before this transaction writes.
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            rows = _meter_rows(session, named)
            work = _BatchWork(rows, self._stored_digests(session, parsed, rows, look_up_every_seq))
            now = self.clock()
            outcomes = [
                self._one(session, message, signed, work, now) for message, signed in zip(batch, parsed, strict=True)
            ]
            _add_meters(session, work.new_meters)
            if insert_readings(session, work.readings) != len(work.readings):
                raise _RowsAlreadyStored()
            if work.states:
                session.connection().execute(
                    _ADVANCE_METER_STATE,
                    [
                        {
                            "b_meter": meter,
                            "b_seq": state.seq,
                            "b_ts": state.ts,
                            "b_produced": state.produced_wh,
                            "b_consumed": state.consumed_wh,
                        }
                        for meter, state in work.states.items()
                    ],
                )
            session.commit()
        return outcomes

    def _parse(self, message: Message):
        try:
            return parse_reading(message.payload, self.max_payload_bytes)
        except RejectedReading as rejected:
            return rejected

    def _stored_digests(
        self, session: Session, parsed: list, rows: dict[str, _MeterRow], look_up_every_seq: bool
    ) -> dict[tuple[str, int], bytes]:
        """Digests already stored for the (meter, seq) pairs of this batch that can be stored.

        A meter's readings are accepted in increasing seq and its last_seq moves
        with them in the same transaction, so a seq above last_seq is not stored.
        """
        pairs = set()
        for signed in parsed:
            if isinstance(signed, RejectedReading):
                continue
            reading = signed.reading
            row = rows.get(reading.meter)
            last = row.state if row is not None else None
            if look_up_every_seq or (last is not None and reading.seq <= last.seq):
                pairs.add((reading.meter, reading.seq))
        found = {}
        pairs = sorted(pairs)
        for start in range(0, len(pairs), _PAIRS_PER_QUERY):
            chunk = pairs[start : start + _PAIRS_PER_QUERY]
            result = session.execute(
                select(Reading.meter, Reading.seq, Reading.digest).where(tuple_(Reading.meter, Reading.seq).in_(chunk))
            )
            for meter, seq, digest in result:
                found[(meter, seq)] = bytes(digest)
        return found

    def _one(self, session: Session, message: Message, signed, work: _BatchWork, now: float) -> Outcome:
        topic_meter = None
        try:
            topic_meter = self._meter_from_topic(message.topic)
            if isinstance(signed, RejectedReading):
                raise signed
            reading = signed.reading
            if max(reading.seq, reading.ts, reading.produced_wh, reading.consumed_wh) > MAX_STORED_INT:
                raise RejectedReading(Reason.BAD_SCHEMA, f"a value exceeds the storable {MAX_STORED_INT}")
            info = self.lookup_meter(reading.meter) if reading.meter == topic_meter else None
            # Stateless checks first (topic, registry, signature), so a forgery
            # is reported as one and not as a replay of a stored seq.
            digest = reading_digest(reading, self.domain)
            info = verify_reading(
                signed,
                topic_meter,
                _single(reading.meter, info),
                None,
                self.domain,
                now,
                max_age_s=self.max_age_s,
                digest=digest,
            )
            stored_digest = work.stored_digests.get((reading.meter, reading.seq))
            if stored_digest is not None:
                if stored_digest == digest:
                    return Outcome(DUPLICATE, meter=reading.meter)  # a QoS 1 redelivery
                raise RejectedReading(Reason.REPLAYED_SEQ, f"seq {reading.seq} already stored with other content")
            last = work.states.get(reading.meter)
            if last is None:
                row = work.rows.get(reading.meter)
                last = row.state if row is not None else None
            if last is not None:
                check_history(reading, info, last)
            self._ensure_meter_row(session, info, work)
            work.readings.append(
                {
                    "meter": reading.meter,
                    "household": info.household,
                    "seq": reading.seq,
                    "ts": reading.ts,
                    "produced_wh": reading.produced_wh,
                    "consumed_wh": reading.consumed_wh,
                    "power_w": reading.power_w,
                    "signature": signed.signature,
                    "digest": digest,
                    "received_at": int(message.received_at),
                }
            )
            work.stored_digests[(reading.meter, reading.seq)] = digest
            work.states[reading.meter] = MeterState(reading.seq, reading.ts, reading.produced_wh, reading.consumed_wh)
            return Outcome(STORED, meter=reading.meter)
        except RejectedReading as rejected:
            row = record_rejection(
                session,
                received_at=int(message.received_at),
                topic=message.topic,
                reason=str(rejected.reason),
                payload=message.payload,
                meter=topic_meter,
                detail=rejected.detail,
            )
            return Outcome(REJECTED, reason=str(rejected.reason), meter=topic_meter, rejection=row)

    def _meter_from_topic(self, topic: str) -> str:
        """meter_from_topic, remembered for valid topics (bounded: hostile topics only evict)."""
        meter = self._topic_meters.get(topic)
        if meter is None:
            meter = meter_from_topic(topic, self.community)  # raises for a topic that is not a readings topic
            if len(self._topic_meters) >= _TOPICS_REMEMBERED:
                self._topic_meters.clear()
            self._topic_meters[topic] = meter
        return meter

    def _ensure_meter_row(self, session: Session, info: MeterInfo, work: _BatchWork) -> None:
        """Make the meters row say what the registry says before a reading of it is stored.

        A meter without a row gets one when the batch is written (_add_meters),
        before its readings: one statement for all of a batch's new meters.
        """
        row = work.rows.get(info.meter)
        if row is not None and row.matches(info):
            return
        if row is None:
            work.new_meters.append(info)
            work.rows[info.meter] = _MeterRow(info.household, info.capacity_w, info.active, None)
        else:
            session.execute(
                update(Meter).where(Meter.address == info.meter).values(active=info.active, capacity_w=info.capacity_w)
            )
            work.rows[info.meter] = _MeterRow(row.household, info.capacity_w, info.active, row.state)


def _add_meters(session: Session, meters: list[MeterInfo]) -> None:
    """Insert the rows of meters first seen in this batch. A replaced meter takes
    over its household: the household's old meter stops being its active one."""
    if not meters:
        return
    connection = session.connection()
    households = [info.household for info in meters]
    if len(set(households)) < len(households):
        # Two new meters for one household in one batch: replace them one after the other.
        for info in meters:
            _add_meters(session, [info])
        return
    connection.execute(
        _METERS.update().where(_METERS.c.household.in_(households), _METERS.c.active.is_(True)).values(active=False)
    )
    connection.execute(
        _METERS.insert(),
        [
            {
                "address": info.meter,
                "household": info.household,
                "capacity_w": info.capacity_w,
                "active": info.active,
                "registered_block": 0,
            }
            for info in meters
        ],
    )


@dataclass(frozen=True)
class _MeterRow:
    """What the meters table holds for a meter when the batch starts."""

    household: str
    capacity_w: int
    active: bool
    state: MeterState | None  # its last accepted reading

    def matches(self, info: MeterInfo) -> bool:
        return (self.household, self.capacity_w, self.active) == (info.household, info.capacity_w, info.active)


@dataclass
class _BatchWork:
    rows: dict[str, _MeterRow]
    stored_digests: dict[tuple[str, int], bytes]
    readings: list[dict] = field(default_factory=list)
    states: dict[str, MeterState] = field(default_factory=dict)  # accepted in this batch
    new_meters: list[MeterInfo] = field(default_factory=list)  # meters without a row yet


class _RowsAlreadyStored(Exception):
    """The insert skipped rows the batch believed new: another writer got there first."""


# Topics the ingester remembers (a community has at most this many meters before it re-parses some).
_TOPICS_REMEMBERED = 1 << 16

# Enough meters or (meter, seq) pairs per IN list to be one statement for a
# usual batch, few enough to stay under SQLite's and PostgreSQL's bound-parameter limits.
_PAIRS_PER_QUERY = 2_000

_METERS = Meter.__table__
# Never moves a meter's state backwards, whatever order two writers commit in.
_ADVANCE_METER_STATE = (
    _METERS.update()
    .where(
        _METERS.c.address == bindparam("b_meter"),
        or_(_METERS.c.last_seq.is_(None), _METERS.c.last_seq < bindparam("b_seq")),
    )
    .values(
        last_seq=bindparam("b_seq"),
        last_ts=bindparam("b_ts"),
        last_produced_wh=bindparam("b_produced"),
        last_consumed_wh=bindparam("b_consumed"),
    )
)


def _meter_rows(session: Session, meters: set[str]) -> dict[str, _MeterRow]:
    """The meters rows of a batch's meters, locked in address order on PostgreSQL (no deadlock between oracles)."""
    rows = {}
    addresses = sorted(meters)
    for start in range(0, len(addresses), _PAIRS_PER_QUERY):
        query = (
            select(
                _METERS.c.address,
                _METERS.c.household,
                _METERS.c.capacity_w,
                _METERS.c.active,
                _METERS.c.last_seq,
                _METERS.c.last_ts,
                _METERS.c.last_produced_wh,
                _METERS.c.last_consumed_wh,
            )
            .where(_METERS.c.address.in_(addresses[start : start + _PAIRS_PER_QUERY]))
            .order_by(_METERS.c.address)
            .with_for_update()
        )  # SQLite ignores it: its IMMEDIATE transaction already excludes other writers
        for address, household, capacity_w, active, seq, ts, produced, consumed in session.connection().execute(query):
            state = MeterState(seq, ts, produced, consumed) if seq is not None else None
            rows[address] = _MeterRow(household, capacity_w, active, state)
    return rows


def _single(meter: str, info: MeterInfo | None) -> dict[str, MeterInfo]:
    return {meter: info} if info is not None else {}
