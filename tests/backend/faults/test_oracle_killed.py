"""`kill -9` of the oracle while meters publish: nothing lost, nothing settled twice, settlement goes on.

The oracle is killed twice while twelve meters publish every second: once
with a settlement transaction signed, recorded and broadcast but not yet
mined (the chain mines a block a second), once while the restarted oracle
works through the backlog that queued at the broker while it was down (the
ingester mid-batch). The restarted oracle must find its transaction on-chain
instead of sending another, and store every reading exactly once. Runs on
SQLite and on PostgreSQL: their commits are what make a crash safe.
"""

from __future__ import annotations

import time

import pytest
from fault_helpers import (
    assert_archived,
    assert_contiguous,
    assert_no_reading_lost,
    assert_settled_once,
    start_publishing,
    wait_until,
    wait_until_drained,
)

HOUSEHOLDS = 12  # 12 readings a second, and a backlog of a few seconds' worth at each restart


def kill_and_restart(oracle) -> tuple[float, float]:
    """kill -9, a moment down while readings keep coming (the broker queues them in the oracle's session),
    start again; returns when it was killed and when it was back."""
    oracle.kill()
    killed_at = time.time()
    time.sleep(1.5)
    oracle.start()
    return killed_at, time.time()


@pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"])
def test_kill_9_under_load_loses_no_reading_and_settles_each_interval_once(
    db_kind, make_community, broker, make_database, make_oracle, make_fleet
):
    community = make_community(households=HOUSEHOLDS, traders=4)
    database = make_database(db_kind)
    oracle = make_oracle(community, broker, database)
    oracle.start()
    fleet = make_fleet(community, broker)
    start_publishing(fleet, database, oracle)
    first_settled = wait_until(database.settled_ids, 45, "a first interval to settle", oracle.tail)[0]

    # Kill 1: a settlement transaction is signed, recorded and broadcast, not yet mined (a block a second).
    in_flight = wait_until(
        lambda: [row.interval_id for row in database.outbox() if row.status == "sent"],
        30,
        "a settlement transaction in flight",
        oracle.tail,
        poll_s=0.02,
    )
    outages = [kill_and_restart(oracle)]

    # Kill 2: the restarted oracle is working through the backlog, committing batch after batch.
    before = database.reading_count()
    wait_until(
        lambda: database.reading_count() >= before + 2 * HOUSEHOLDS,
        30,
        "the restarted oracle to store new readings",
        oracle.tail,
        poll_s=0.05,
    )
    outages.append(kill_and_restart(oracle))

    # Settlement goes on, through the interval of the last restart.
    last_restart = int(outages[-1][1]) // community.interval_s
    wait_until(
        lambda: any(i >= last_restart for i in database.settled_ids()),
        60,
        f"interval {last_restart}, in which the oracle restarted, to settle",
        oracle.tail,
    )
    fleet.stop()

    stored = assert_no_reading_lost(fleet, database, oracle)
    wait_until_drained(community, database, oracle)
    settled = assert_settled_once(community, database)
    assert in_flight[0] in settled
    assert_contiguous([i for i in settled if i >= first_settled], "settled")
    assert_archived(oracle, settled)
    for killed_at, started_at in outages:  # the load: each outage left a backlog at the broker
        backlog = [r for r in fleet.published.values() if killed_at < r.ts < started_at]
        assert len(backlog) >= HOUSEHOLDS, f"only {len(backlog)} readings published while the oracle was down"
    assert stored == len(fleet.published)
