"""The chain node down while an interval is due: it settles once the node is back, exactly once.

Anvil is stopped (it writes its chain to its state file) while a settlement
transaction of the oracle is broadcast and not yet mined (a block a second),
and stays down past the end of the next interval plus the grace period.
Meanwhile the oracle keeps storing readings and closes the due interval
(closing needs only the database), but can neither plan nor send. Anvil then
starts again on the same port from its state: the transaction in flight is
mined (or sent again, byte for byte) and the interval that fell due while
the node was away settles, each exactly once.
"""

from __future__ import annotations

import time

from fault_helpers import (
    assert_archived,
    assert_contiguous,
    assert_no_reading_lost,
    assert_settled_once,
    start_publishing,
    wait_until,
    wait_until_drained,
)


def test_interval_due_while_the_node_is_down_settles_once_when_it_is_back(
    make_community, broker, make_database, make_oracle, make_fleet
):
    community = make_community(households=4, traders=2, persistent=True)
    database = make_database("sqlite")
    oracle = make_oracle(community, broker, database)
    oracle.start()
    fleet = make_fleet(community, broker)
    start_publishing(fleet, database, oracle)
    first_settled = wait_until(database.settled_ids, 45, "a first interval to settle", oracle.tail)[0]

    # The node goes down with a settlement transaction of ours broadcast and not yet mined.
    in_flight = wait_until(
        lambda: [row for row in database.outbox() if row.status == "sent"],
        30,
        "a settlement transaction in flight",
        oracle.tail,
        poll_s=0.02,
    )[0]
    community.stop_node()
    settled_before = set(database.settled_ids())
    due_while_down = max(database.with_status("closed", "settling", "settled")) + 1
    readings_at_stop = database.reading_count()
    # Closing needs no node: the next interval closes on time, and nothing settles.
    wait_until(
        lambda: due_while_down in database.with_status("closed", "settling"),
        30,
        f"interval {due_while_down} to close while the node is down",
        oracle.tail,
    )
    time.sleep(1.5)  # a settler pass or two against the missing node
    assert set(database.settled_ids()) == settled_before
    assert database.reading_count() > readings_at_stop, "the oracle stopped storing readings with the node down"
    assert "unreachable" in oracle.all_logs()

    community.start_node()
    wait_until(
        lambda: due_while_down in database.settled_ids(),
        60,
        f"intervals {in_flight.interval_id} and {due_while_down} to settle after the node came back",
        oracle.tail,
    )
    fleet.stop()

    assert_no_reading_lost(fleet, database, oracle)
    wait_until_drained(community, database, oracle)
    settled = assert_settled_once(community, database)
    assert set(settled_before) <= set(settled), "the restarted node lost settlements from before its restart"
    assert {in_flight.interval_id, due_while_down} <= set(settled)
    assert_contiguous([i for i in settled if i >= first_settled], "settled")
    assert_archived(oracle, settled)
    # The transaction in flight was the one mined (or re-broadcast byte for byte): no second one was signed.
    row = next((r for r in database.outbox() if r.id == in_flight.id), None)
    assert row is not None, f"the outbox row of interval {in_flight.interval_id} was planned again"
    assert (row.tx_hash, row.nonce, row.attempts) == (in_flight.tx_hash, in_flight.nonce, 1)
    assert oracle.alive()
