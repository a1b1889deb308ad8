"""A local chain that mines only when it gets a transaction (Anvil's automine) still settles each interval.

On such a chain the newest block keeps the time of the last transaction
(here: the end of the community's setup), so a settlement checked against it
looks like one for an interval that has not ended yet (`MarketIntervalNotEnded`)
and the oracle waits for the chain's clock. `vatio chain` and `vatio demo`
run a heartbeat next to Anvil (backend.chain.anvil.keep_clock_moving: an
empty block when the newest is a few seconds old), as a real chain's block
production would; with it, the oracle settles.
"""

from __future__ import annotations

import threading

from fault_helpers import assert_settled_once, start_publishing, wait_until, wait_until_drained

from backend.chain.anvil import keep_clock_moving


def test_oracle_settles_on_an_on_demand_chain_with_the_heartbeat(
    make_community, broker, make_database, make_oracle, make_fleet
):
    community = make_community(households=2, traders=0, block_time_s=None)
    heartbeat = threading.Event()
    keep_clock_moving(community.node.url, heartbeat)
    try:
        database = make_database("sqlite")
        oracle = make_oracle(community, broker, database)
        oracle.start()
        fleet = make_fleet(community, broker)
        start_publishing(fleet, database, oracle)
        wait_until(
            lambda: len(database.settled_ids()) >= 2,
            45,
            "two intervals to settle on an on-demand chain",
            lambda: "\n".join(line for line in oracle.all_logs().splitlines() if "outbox" in line)[-1500:],
        )
        fleet.stop()
        wait_until_drained(community, database, oracle)
        assert_settled_once(community, database)
    finally:
        heartbeat.set()
