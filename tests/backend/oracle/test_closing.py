"""Closing intervals on real databases (SQLite and PostgreSQL): readings go in through the
ingester, as from MQTT; entries, leaves and roots come out. Every Wh is attributed once."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict

import pytest
from eth_account import Account
from sqlalchemy import delete, func, select

from backend.db.models import Interval, IntervalEntry, Meter, Reading, SettlementOutbox
from backend.db.store import insert_readings
from backend.meters.simulator import payload, topic
from backend.oracle.closing import (
    ClosingError,
    close_due,
    close_interval,
    due_intervals,
    leaf_hash,
    load_closed_interval,
    watermark,
)
from backend.oracle.ingest import STORED, Ingester, Message
from backend.oracle.verifier import MeterInfo
from backend.protocol.energy import Registers, RegisterSample, register_at
from backend.protocol.merkle import Leaf, MerkleTree, verify
from backend.protocol.readings import (
    MeterDomain,
    MeterReading,
    SignedReading,
    keccak,
    readings_hash,
    sign_reading,
    to_checksum,
)

DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
COMMUNITY = "closing-test"
L = 900  # interval seconds
GRACE = 60
K = 1_960_000  # the first interval of the tests
S0 = K * L
FAR_FUTURE = 2**40  # the ingester's clock: no reading is "in the future"


@pytest.fixture
def db(sessions):
    """The oracle's session factory; intervals and entries are removed before the meters are."""
    yield sessions
    with sessions() as session:
        for table in (IntervalEntry, SettlementOutbox, Interval):
            session.execute(delete(table))
        session.commit()


class Community:
    """Meters that sign readings and an ingester that stores them, as the oracle does."""

    def __init__(self, sessions, households: int = 0, capacity_w: int = 1_000_000):
        self.sessions = sessions
        self.registry: dict[str, MeterInfo] = {}
        self.keys: dict[str, bytes] = {}
        self.seq: dict[str, int] = defaultdict(int)
        self.capacity_w = capacity_w
        self.ingester = Ingester(
            sessions, DOMAIN, COMMUNITY, self.registry.get, clock=lambda: FAR_FUTURE, max_age_s=math.inf
        )
        self.meters = [self.add_meter(Account.create().address) for _ in range(households)]

    def add_meter(self, household: str) -> str:
        account = Account.create()
        self.keys[account.address] = account.key
        self.registry[account.address] = MeterInfo(account.address, household, self.capacity_w, True)
        return account.address

    def retire(self, meter: str) -> None:
        info = self.registry[meter]
        self.registry[meter] = MeterInfo(meter, info.household, info.capacity_w, False)

    def household(self, meter: str) -> str:
        return self.registry[meter].household

    def message(self, meter: str, ts: int, produced_wh: int, consumed_wh: int) -> Message:
        self.seq[meter] += 1
        reading = MeterReading(meter, self.seq[meter], ts, produced_wh, consumed_wh, 0)
        return Message(topic(COMMUNITY, meter), payload(sign_reading(reading, DOMAIN, self.keys[meter])), ts)

    def send(self, *readings: tuple[str, int, int, int]) -> None:
        outcomes = self.ingester.process([self.message(*reading) for reading in readings])
        assert [o.status for o in outcomes] == [STORED] * len(readings), outcomes


def stored_readings(session, meter: str) -> list[Reading]:
    return session.scalars(select(Reading).where(Reading.meter == meter).order_by(Reading.seq)).all()


def entries_of(session, meter: str | None = None) -> list[IntervalEntry]:
    query = select(IntervalEntry).order_by(IntervalEntry.interval_id, IntervalEntry.household)
    if meter is not None:
        query = query.where(IntervalEntry.meter == meter)
    return session.scalars(query).all()


def samples(readings) -> list[RegisterSample]:
    return [RegisterSample(r.ts, r.produced_wh, r.consumed_wh) for r in readings]


def signed(readings) -> list[SignedReading]:
    return [
        SignedReading(MeterReading(r.meter, r.seq, r.ts, r.produced_wh, r.consumed_wh, r.power_w), bytes(r.signature))
        for r in readings
    ]


def assert_entries_recompute(session) -> None:
    """Every stored entry is what an auditor recomputes from its listed readings and its meter's chain."""
    by_meter: dict[str, list[IntervalEntry]] = defaultdict(list)
    for entry in entries_of(session):
        by_meter[entry.meter].append(entry)
    for meter, entries in by_meter.items():
        readings = stored_readings(session, meter)
        previous = None
        for entry in entries:
            listed = [r for r in readings if entry.first_seq <= r.seq <= entry.last_seq]
            end_ts = (entry.interval_id + 1) * L
            end = Registers(entry.end_produced_wh, entry.end_consumed_wh)
            assert register_at(samples(listed), end_ts) == end
            if previous is None:
                assert entry.previous_interval is None
                assert listed[0].seq == readings[0].seq  # a first entry lists from the first reading
                start = Registers(listed[0].produced_wh, listed[0].consumed_wh)
            else:
                assert entry.previous_interval == previous.interval_id
                start = Registers(previous.end_produced_wh, previous.end_consumed_wh)
                assert [r.ts <= entry.interval_id * L for r in listed].count(True) == 1  # one anchor
            assert (entry.produced_wh, entry.consumed_wh) == (
                end.produced_wh - start.produced_wh,
                end.consumed_wh - start.consumed_wh,
            )
            assert sum(r.ts > end_ts for r in listed) <= 1  # at most the partner
            assert entry.readings_hash == readings_hash(signed(listed), DOMAIN)
            leaf = Leaf(
                entry.household, meter, entry.interval_id, entry.produced_wh, entry.consumed_wh, entry.readings_hash
            )
            assert entry.leaf == leaf.hash()
            previous = entry


def assert_roots(session) -> None:
    for interval in session.scalars(select(Interval)).all():
        leaves = [
            e.leaf
            for e in session.scalars(select(IntervalEntry).where(IntervalEntry.interval_id == interval.interval_id))
        ]
        tree = MerkleTree(leaves)
        assert tree.root == interval.readings_root
        assert all(verify(tree.proof(leaf), interval.readings_root, leaf) for leaf in leaves)


# --- the attribution rule ---


def test_energy_is_conserved_across_many_intervals(db):
    rng = random.Random(7)
    community = Community(db, households=6)
    arrivals = []  # (arrival time, meter, ts, produced, consumed)
    for meter in community.meters:
        ts, produced, consumed, arrived = S0 + rng.randrange(-400, 400), rng.randrange(10**6), rng.randrange(10**6), 0
        while ts < S0 + 12 * L:
            # Late within grace, in seq order: arrival <= ts + GRACE because the previous one arrived by then.
            arrived = max(arrived, ts + rng.randrange(GRACE + 1))
            arrivals.append((arrived, meter, ts, produced, consumed))
            gap = rng.choice([rng.randrange(20, 400)] * 6 + [rng.randrange(L, 3 * L)])  # now and then quiet
            ts += gap
            produced += rng.randrange(0, gap // 4 + 1)
            consumed += rng.randrange(0, gap // 3 + 1)
    arrivals.sort()
    planned_ts = defaultdict(list)  # per meter, in seq order
    for _, meter, ts, _, _ in arrivals:
        planned_ts[meter].append(ts)

    closed_ids = []
    now, i = S0 - 600, 0
    while now < S0 + 15 * L:
        batch = []
        while i < len(arrivals) and arrivals[i][0] <= now:
            batch.append(arrivals[i][1:])
            i += 1
        if batch:
            community.send(*batch)
        for closed in close_due(db, L, GRACE, DOMAIN, now=now):
            closed_ids.append(closed.interval_id)
            for entry in closed.entries:  # every reading at or before E had arrived when E closed
                last_before_end = sum(ts <= closed.end_ts for ts in planned_ts[entry.meter])  # its seq
                assert entry.first_seq <= last_before_end <= entry.last_seq
        now += 30
    clock = community.add_meter(Account.create().address)  # moves the watermark past every reading
    community.send((clock, S0 + 14 * L + GRACE, 0, 0))
    closed_ids += [c.interval_id for c in close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)]
    assert closed_ids == list(range(min(a[2] for a in arrivals) // L, K + 14))  # in order, none skipped

    with db() as session:
        for meter in community.meters:
            readings = stored_readings(session, meter)
            entries = entries_of(session, meter)
            # Σ energy = last attributed registers - first reading, and everything is attributed by now.
            assert sum(e.produced_wh for e in entries) == entries[-1].end_produced_wh - readings[0].produced_wh
            assert sum(e.consumed_wh for e in entries) == entries[-1].end_consumed_wh - readings[0].consumed_wh
            assert (entries[-1].end_produced_wh, entries[-1].end_consumed_wh) == (
                readings[-1].produced_wh,
                readings[-1].consumed_wh,
            )
            assert [e.interval_id for e in entries] == list(range(entries[0].interval_id, closed_ids[-1] + 1))
        assert_entries_recompute(session)
        assert_roots(session)


def test_boundary_value_is_interpolated_and_reproduced_by_the_listed_readings(db):
    community = Community(db, households=1)
    meter = community.meters[0]
    e0, e1 = S0 + L, S0 + 2 * L
    community.send(
        (meter, S0 + 100, 1_000, 500),
        (meter, S0 + 700, 1_200, 560),  # interval K
        (meter, e0 + 100, 1_300, 600),
        (meter, e0 + 500, 1_400, 700),  # K + 1
        (meter, e1 - 50, 1_500, 750),
        (meter, e1 + 250, 1_800, 900),
    )  # partner of K + 1
    with db() as session:
        first = close_interval(session, K, L, DOMAIN, closed_at=e0)
        second = close_interval(session, K + 1, L, DOMAIN, closed_at=e1)
        session.commit()
    # K ends between S0+700 (1,200) and e0+100 (1,300): 1,200 + 100 * 200 // 300 = 1,266
    (entry,) = first.entries
    assert (
        entry.end
        == Registers(1_266, 560 + 40 * 200 // 300)
        == register_at([RegisterSample(S0 + 700, 1_200, 560), RegisterSample(e0 + 100, 1_300, 600)], e0)
    )
    assert (entry.start, entry.previous_interval) == (Registers(1_000, 500), None)
    assert (entry.produced_wh, entry.consumed_wh) == (266, 86)
    assert (entry.first_seq, entry.last_seq) == (1, 3)  # first reading .. partner
    (entry,) = second.entries
    assert entry.start == Registers(1_266, 586) and entry.previous_interval == K
    assert entry.end == Registers(1_500 + 300 * 50 // 300, 750 + 150 * 50 // 300)
    assert (entry.first_seq, entry.last_seq) == (2, 6)  # anchor (last at or before S) .. partner
    with db() as session:
        assert_entries_recompute(session)


def test_a_quiet_meter_carries_its_energy_to_the_interval_its_next_reading_closes_in(db):
    community = Community(db, households=2)
    quiet, busy = community.meters
    community.send((quiet, S0 + 10, 100, 100), (busy, S0 + 10, 0, 0), (quiet, S0 + 300, 150, 120))
    for k in range(3):  # the busy meter moves the watermark; the quiet one says nothing
        community.send((busy, S0 + (k + 1) * L + GRACE, k + 1, k + 1))
    assert [c.interval_id for c in close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)] == [K, K + 1, K + 2]
    community.send((quiet, S0 + 3 * L + 400, 450, 300))  # back, 3 intervals later
    community.send((busy, S0 + 4 * L + GRACE, 9, 9))
    assert [c.interval_id for c in close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)] == [K + 3]
    with db() as session:
        quiet_entries = [(e.interval_id, e.produced_wh, e.consumed_wh) for e in entries_of(session, quiet)]
        assert quiet_entries == [(K, 50, 20), (K + 1, 0, 0), (K + 2, 0, 0), (K + 3, 300, 180)]
        assert_entries_recompute(session)


def test_a_replaced_meter_is_attributed_first_and_its_successor_loses_nothing(db):
    community = Community(db, households=0)
    household = Account.create().address
    old = community.add_meter(household)
    community.send((old, S0 + 10, 1_000, 1_000), (old, S0 + 400, 1_100, 1_050))
    community.retire(old)
    new = community.add_meter(household)  # replaceMeter: the ingester makes it the household's active meter
    community.send(
        (new, S0 + 500, 0, 0), (new, S0 + 800, 30, 40), (new, S0 + L + 300, 90, 100), (new, S0 + 3 * L, 120, 130)
    )
    closed = close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)
    assert [c.interval_id for c in closed] == [K, K + 1]
    with db() as session:
        assert not session.get(Meter, old).active
        entries = entries_of(session)
        # K: the old meter still had energy; K + 1: the new meter, from its first reading.
        # The new meter at S0 + 2L: between S0 + L + 300 (90 Wh) and S0 + 3L (120 Wh).
        assert [(e.interval_id, e.meter, e.produced_wh, e.previous_interval) for e in entries] == [
            (K, old, 100, None),
            (K + 1, new, 90 + 30 * 600 // 1_500, None),
        ]
        assert entries[1].first_seq == 1  # the new meter's first reading, though it is before S
        assert_entries_recompute(session)
    # Later intervals: the new meter alone; the retired one has nothing left.
    community.send((new, S0 + 4 * L, 200, 200))
    close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)
    with db() as session:
        entries = entries_of(session)
        assert [(e.interval_id, e.meter) for e in entries[2:]] == [(K + 2, new)]
        # Σ = what the old meter had (1,100 - 1,000) + what the new one has attributed (from 0).
        assert sum(e.produced_wh for e in entries) == 100 + entries[-1].end_produced_wh == 100 + 120
        assert_entries_recompute(session)


def test_an_inactive_household_keeps_its_entries(db):
    community = Community(db, households=2)
    leaving, staying = community.meters
    community.send((leaving, S0 + 10, 5, 5), (leaving, S0 + 200, 9, 7), (staying, S0 + 10, 0, 0))
    community.retire(leaving)
    community.send((staying, S0 + 2 * L + GRACE, 5, 5))
    outcome = community.ingester.process([community.message(leaving, S0 + L + 1, 10, 10)])
    assert outcome[0].reason == "inactive_meter"
    closed = close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)
    assert [len(c.entries) for c in closed] == [2, 2]
    by_household = {e.household: e for e in closed[1].entries}
    assert (
        by_household[community.household(leaving)].produced_wh,
        by_household[community.household(leaving)].previous_interval,
    ) == (0, K)


# --- watermark and grace ---


def test_an_interval_is_due_once_the_watermark_passes_its_end_plus_grace(db):
    community = Community(db, households=2)
    a, b = community.meters
    end = S0 + L
    community.send((a, S0 + 5, 0, 0), (b, S0 + 6, 0, 0), (a, end + GRACE - 1, 10, 10))
    with db() as session:
        assert watermark(session, FAR_FUTURE) == end + GRACE - 1
        assert due_intervals(session, L, GRACE, FAR_FUTURE) == []
    community.send((b, end + GRACE, 10, 10))
    with db() as session:
        assert due_intervals(session, L, GRACE, FAR_FUTURE) == [K]
        assert due_intervals(session, L, GRACE, now=end + GRACE - 1) == []  # the wall clock caps it
        assert due_intervals(session, L, 0, FAR_FUTURE) == [K]
        assert due_intervals(session, L, GRACE, FAR_FUTURE, limit=0) == []
    assert close_due(db, L, GRACE, DOMAIN, now=end + GRACE - 1) == []
    assert [c.interval_id for c in close_due(db, L, GRACE, DOMAIN, now=end + GRACE)] == [K]


def test_a_replayed_past_closes_in_order_following_the_replayed_time(db):
    community = Community(db, households=3)
    day_ago = (int(time.time()) - 86_400) // L * L  # real wall clock: the readings are a day old
    closed = []
    for step in range(1, 5 * 15 + 1):  # one reading a minute per meter, 5 intervals
        ts = day_ago + 60 * step
        community.send(*((meter, ts, step * (i + 1), step) for i, meter in enumerate(community.meters)))
        closed += [c.interval_id for c in close_due(db, L, GRACE, DOMAIN)]
    first = day_ago // L
    assert closed == [first, first + 1, first + 2, first + 3]  # the 5th ends at the newest reading: not yet


# --- idempotence and order ---


def test_closing_twice_writes_once_and_never_reopens(db):
    community = Community(db, households=3)
    quiet = community.add_meter(Account.create().address)
    community.send((quiet, S0 + 100, 100, 100))
    for step in range(3 * 6):
        community.send(*((meter, S0 + 150 * step + i, 10 * step, 5 * step) for i, meter in enumerate(community.meters)))
    first = close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)
    assert [c.interval_id for c in first] == [K, K + 1]
    assert close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE) == []
    with db() as session:
        stored = [(e.interval_id, e.household, e.leaf) for e in entries_of(session)]
        assert len(stored) == 8
        assert close_interval(session, K + 1, L, DOMAIN) is None
        with pytest.raises(ClosingError, match="out of order"):
            close_interval(session, K - 5, L, DOMAIN)
        session.rollback()
    # A reading of K + 1 after its grace period: stored, but K + 1 is not reopened; K + 2 attributes it.
    community.send((quiet, S0 + L + 800, 500, 400))
    community.send(*((meter, S0 + 4 * L + GRACE, 20_000, 20_000) for meter in community.meters + [quiet]))
    assert [c.interval_id for c in close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)] == [K + 2, K + 3]
    with db() as session:
        assert [(e.interval_id, e.household, e.leaf) for e in entries_of(session) if e.interval_id < K + 2] == stored
        assert [(e.produced_wh, e.consumed_wh) for e in entries_of(session, quiet)][:2] == [(0, 0), (0, 0)]
        quiet_entries = entries_of(session, quiet)
        # K + 3 ends between the late reading (500 Wh) and S0 + 4L + grace (20,000 Wh): the rest waits for K + 4.
        assert quiet_entries[-1].end_produced_wh == 500 + 19_500 * (2 * L + 100) // (2 * L + 100 + GRACE)
        assert sum(e.produced_wh for e in quiet_entries) == quiet_entries[-1].end_produced_wh - 100
        assert session.get(Interval, K).status == "closed"
        assert_entries_recompute(session)


def test_two_closers_at_once_close_each_interval_once(db):
    community = Community(db, households=4)
    for step in range(5 * 6):
        community.send(*((meter, S0 + 150 * step + i, step, step) for i, meter in enumerate(community.meters)))
    results, errors = [], []
    barrier = threading.Barrier(2)

    def closer():
        try:
            barrier.wait()
            results.append([c.interval_id for c in close_due(db, L, GRACE, DOMAIN, now=FAR_FUTURE)])
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=closer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results[0] + results[1]) == [K, K + 1, K + 2, K + 3]
    with db() as session:
        assert session.scalar(select(func.count()).select_from(IntervalEntry)) == 4 * 4
        assert_entries_recompute(session)


# --- what closing returns ---


def test_the_closed_interval_is_what_the_contract_and_the_auditor_need(db):
    community = Community(db, households=5)
    for step in range(8):
        community.send(
            *((meter, S0 + 150 * step + i, 7 * step * i, 3 * step) for i, meter in enumerate(community.meters))
        )
    with db() as session:
        closed = close_interval(session, K, L, DOMAIN, closed_at=S0 + L)
        session.commit()
    households = [e.household for e in closed.entries]
    assert households == sorted(households, key=lambda h: int(h, 16))
    assert [m.household for m in closed.metered_entries()] == households
    assert [(m.produced_wh, m.consumed_wh) for m in closed.metered_entries()] == [
        (e.produced_wh, e.consumed_wh) for e in closed.entries
    ]
    assert all(leaf_hash(leaf) == leaf.hash() for leaf in closed.leaves)
    tree = closed.tree()
    assert tree.root == closed.readings_root
    assert all(verify(tree.proof(h), closed.readings_root, h) for h in closed.leaf_hashes)
    with db() as session:
        interval = session.get(Interval, K)
        assert (interval.status, interval.readings_root, interval.closed_at) == ("closed", closed.readings_root, S0 + L)
        assert load_closed_interval(session, K, L) == closed
        assert load_closed_interval(session, K + 1, L) is None


def test_an_interval_before_any_reading_writes_nothing(db):
    community = Community(db, households=1)
    community.send((community.meters[0], S0 + 10, 0, 0))
    with db() as session:
        assert close_interval(session, K - 1, L, DOMAIN) is None
        assert session.scalar(select(func.count()).select_from(Interval)) == 0


def test_fast_leaf_hash_equals_the_reference_encoding():
    rng = random.Random(3)
    for _ in range(200):
        leaf = Leaf(
            to_checksum("0x" + rng.randbytes(20).hex()),
            to_checksum("0x" + rng.randbytes(20).hex()),
            rng.randrange(2**64),
            rng.choice([0, 1, rng.randrange(2**64), 2**64 - 1]),
            rng.randrange(2**64),
            rng.randbytes(32),
        )
        assert leaf_hash(leaf) == leaf.hash()


# --- scale (its time is measured by benchmarks/bench_settlement_build.py, not asserted here) ---


@pytest.mark.slow
def test_closing_1000_households_continues_every_meter(db):
    """One reading a minute per meter: ~17 listed readings each, anchors walked, previous entries found."""
    households = 1_000
    rows, meters = [], []
    for i in range(households):
        meter = to_checksum("0x" + keccak(b"meter %d" % i)[12:].hex())
        household = to_checksum("0x" + keccak(b"household %d" % i)[12:].hex())
        meters.append(Meter(address=meter, household=household, capacity_w=10**6, registered_block=0))
        for seq in range(1, 2 * 15 + 3):
            ts = S0 - 30 + 60 * seq + i % 29
            rows.append(
                dict(
                    meter=meter,
                    household=household,
                    seq=seq,
                    ts=ts,
                    produced_wh=seq * (i % 7),
                    consumed_wh=seq * 3,
                    power_w=0,
                    signature=bytes(65),  # closing never verifies
                    digest=bytes(32),
                    received_at=ts,
                )
            )
    with db() as session:
        session.add_all(meters)
        session.flush()
        insert_readings(session, rows)
        session.commit()
    with db() as session:
        assert len(close_interval(session, K, L, DOMAIN).entries) == households
        session.commit()
    with db() as session:
        closed = close_interval(session, K + 1, L, DOMAIN)
        session.commit()
    assert len(closed.entries) == households
    assert all(e.previous_interval == K and e.last_seq - e.first_seq >= 15 for e in closed.entries)
