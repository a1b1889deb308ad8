"""Closing an interval on PostgreSQL while the ingester commits: closing must not fail.

Every ingest batch updates its meters' rows (last seq, ts, registers). On
PostgreSQL closing reads in a REPEATABLE READ snapshot, and the entries it
inserts reference those same meters rows by foreign key: when a batch of a
meter of the interval commits between closing's snapshot and its insert, the
foreign-key check fails with "could not serialize access due to concurrent
update". Readings arrive all the time, so the settler fails whole passes
(seen in the end-to-end runs here as "settler pass failed; retrying"
tracebacks) and, with many meters, may not close at all.

The window is made deterministic here: the closing transaction takes its
snapshot, a real ingest batch of one of the interval's meters commits, then
the interval is closed in that transaction.
"""

from __future__ import annotations

import time

from eth_account import Account
from sqlalchemy import func, select

from backend.db.models import IntervalEntry, Reading
from backend.meters.simulator import payload, topic
from backend.oracle.closing import close_interval, closing_session
from backend.oracle.ingest import STORED, Ingester, Message
from backend.oracle.verifier import MeterInfo
from backend.protocol.readings import MeterDomain, MeterReading, sign_reading

DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
COMMUNITY = "faults-closing"
INTERVAL_S = 900


def test_closing_on_postgresql_survives_an_ingest_batch_committed_meanwhile(make_database):
    database = make_database("postgresql")
    keys = [Account.create() for _ in range(2)]
    meters = {key.address: MeterInfo(key.address, Account.create().address, 15_000, True) for key in keys}
    ingester = Ingester(database.sessions, DOMAIN, COMMUNITY, meters.get)
    seq = {key.address: 0 for key in keys}

    def ingest(ts: int) -> None:
        messages = []
        for key in keys:
            seq[key.address] += 1
            reading = MeterReading(key.address, seq[key.address], ts, 10 * seq[key.address], 5 * seq[key.address], 100)
            messages.append(
                Message(topic(COMMUNITY, key.address), payload(sign_reading(reading, DOMAIN, key.key)), time.time())
            )
        assert [outcome.status for outcome in ingester.process(messages)] == [STORED] * len(messages)

    k = int(time.time()) // INTERVAL_S - 4  # an hour ago: neither in the future nor stale for the verifier
    start = k * INTERVAL_S
    for offset in (100, 400, 800, 1000):  # three readings inside k, one after its end
        ingest(start + offset)

    with closing_session(database.sessions) as session:
        session.scalar(select(func.count()).select_from(Reading))  # the closing transaction's snapshot
        ingest(start + 1300)  # an ingest batch commits meanwhile, updating both meters' rows
        closed = close_interval(session, k, INTERVAL_S, DOMAIN)
        session.commit()

    assert closed is not None and len(closed.entries) == 2
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(IntervalEntry)) == 2
