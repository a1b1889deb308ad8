"""The production oracle on PostgreSQL: two ingest workers share the meters, two settlers elect one leader.

`vatio oracle --role ingest --share-group …` twice (an MQTT shared
subscription splits the readings between them) and `vatio oracle --role
settle` twice (a PostgreSQL advisory lock lets one settle, the other stands
by). While meters publish every second, the leading settler is killed with
kill -9: the standby must take over within the grace period, no reading may
be lost, and no interval settled twice. The takeover time is printed (and
benchmarks/bench_failover.py records it).
"""

from __future__ import annotations

import re
import time

import pytest
from fault_helpers import (
    GRACE_S,
    RoleOracle,
    assert_archived,
    assert_contiguous,
    assert_no_reading_lost,
    assert_settled_once,
    start_publishing,
    wait_until,
    wait_until_drained,
)

HOUSEHOLDS = 12


@pytest.fixture
def make_oracle(tmp_path):
    """RoleOracle(...) logging under tmp_path/<name>/; still-running ones are stopped (SIGTERM) at the end."""
    made: list[RoleOracle] = []

    def make(community, broker, database, *, name: str, **options) -> RoleOracle:
        (tmp_path / name).mkdir()
        oracle = RoleOracle(
            community, broker, database, archive_dir=tmp_path / "archive", log_dir=tmp_path / name, name=name, **options
        )
        made.append(oracle)
        return oracle

    yield make
    for oracle in made:
        oracle.stop()


def test_kill_9_of_the_leading_settler_hands_over_to_the_standby(
    make_community, broker, make_database, make_oracle, make_fleet
):
    community = make_community(households=HOUSEHOLDS, traders=4)
    database = make_database("postgresql")
    ingest = [
        make_oracle(community, broker, database, role="ingest", name=f"ingest-{n}", share_group="workers")
        for n in (1, 2)
    ]
    settlers = [make_oracle(community, broker, database, role="settle", name=f"settler-{n}") for n in (1, 2)]
    for oracle in ingest:
        oracle.start()
    settlers[0].start()
    wait_until(settlers[0].leads, 30, "the first settler to take the lead", settlers[0].tail)
    settlers[1].start()
    fleet = make_fleet(community, broker)
    start_publishing(fleet, database, ingest[0])
    first_settled = wait_until(database.settled_ids, 45, "a first interval to settle", settlers[0].tail)[0]
    time.sleep(2 * community.interval_s)  # a few settlements by the leader, under load
    assert not settlers[1].leads(), "the standby settled while the leader was alive"

    leader, standby = settlers
    leader.kill()
    killed_at = time.monotonic()
    wait_until(standby.leads, GRACE_S + 30, "the standby to take the lead", standby.tail, poll_s=0.02)
    takeover_s = time.monotonic() - killed_at
    settled_before = max(database.settled_ids())
    wait_until(
        lambda: max(database.settled_ids()) > settled_before,
        60,
        "the new leader to settle an interval",
        standby.tail,
        poll_s=0.05,
    )
    first_settlement_s = time.monotonic() - killed_at
    print(
        f"\ntakeover: the standby led {takeover_s:.2f} s after kill -9 of the leader, "
        f"and settled its first interval {first_settlement_s:.2f} s after it"
    )
    time.sleep(2 * community.interval_s)
    fleet.stop()

    stored = assert_no_reading_lost(fleet, database, standby)
    for oracle in ingest:
        assert oracle.alive(), oracle.tail()
    time.sleep(10)  # each worker reports its counts every 10 s
    worker_shares = [max(map(int, re.findall(r"stored (\d+)", oracle.all_logs())), default=0) for oracle in ingest]
    wait_until_drained(community, database, standby)
    settled = assert_settled_once(community, database)
    assert_contiguous([i for i in settled if i >= first_settled], "settled")
    assert_archived(standby, settled)
    assert stored == len(fleet.published)
    assert takeover_s < GRACE_S + community.interval_s, f"takeover took {takeover_s:.1f} s"
    assert all(worker_shares), f"readings stored per ingest worker: {worker_shares} (the shared subscription splits)"
