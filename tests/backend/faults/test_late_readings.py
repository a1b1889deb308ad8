"""Late readings: inside the grace period they count for their own interval; after it, they carry.

Two meters lose their uplink in the middle of interval k and buffer their
signed readings (ts = when they were taken):

* meter L delivers its buffer after k ended but before k closed (within the
  grace period): its entry in k ends at its registers at k's end, computed
  from those late readings;
* meter C delivers its buffer only after k closed: its entry in k ends at its
  last reading before the outage, and the energy of the late readings is
  attributed to the next interval (carry).

The test holds the other meters' clock at end + grace - 1 until L's late
readings are stored, so k cannot close before them however slow the machine.
At the end the registers stop moving, and over all closed intervals every
meter's entries add up to its last register minus its first: no Wh lost or
counted twice. The chain's HouseholdSettled events carry the same energy.
"""

from __future__ import annotations

import time

from fault_helpers import (
    GRACE_S,
    PublishedReading,
    assert_no_reading_lost,
    assert_settled_once,
    interval_of,
    start_publishing,
    wait_until,
    wait_until_drained,
)

LATE, CARRY = 2, 3  # meter indexes: a producer delivering within grace, a consumer delivering after closing


def test_late_readings_count_within_grace_and_carry_after_closing(
    make_community, broker, make_database, make_oracle, make_fleet
):
    community = make_community(households=4, traders=2)
    interval_s = community.interval_s
    database = make_database("sqlite")
    oracle = make_oracle(community, broker, database, grace_s=GRACE_S)
    oracle.start()
    fleet = make_fleet(community, broker)
    start_publishing(fleet, database, oracle)

    k = interval_of(time.time(), interval_s) + 1
    start, end = k * interval_s, (k + 1) * interval_s
    wait_until(lambda: time.time() >= start + 2, 3 * interval_s, f"interval {k} to be under way")
    fleet.pause_from(end + GRACE_S)  # no reading at or after end + grace yet: k cannot close
    before_outage = {index: fleet.hold(index) for index in (LATE, CARRY)}
    wait_until(
        lambda: fleet.last_ts.get(fleet.meter(LATE), 0) >= end + GRACE_S - 1,
        3 * interval_s,
        f"the meters to reach the end of interval {k}",
    )

    # L's buffer arrives after k ended, within the grace period.
    late = fleet.release(LATE)
    assert any(s.reading.ts <= end for s in late) and all(s.reading.ts > start for s in late)
    wait_until(
        lambda: {(s.reading.meter, s.reading.seq) for s in late} <= database.stored_readings().keys(),
        30,
        "the late readings to be stored",
        oracle.tail,
    )
    assert k not in database.intervals(), f"interval {k} closed before its grace period ended"
    fleet.resume()
    wait_until(
        lambda: k in database.with_status("closed", "settling", "settled"), 30, f"interval {k} to close", oracle.tail
    )

    # C's buffer arrives after k closed; then the registers stop, so the last closed interval holds every Wh.
    carried = fleet.release(CARRY)
    assert any(s.reading.ts <= end for s in carried)
    fleet.flat = True
    last_change = int(time.time())
    last = interval_of(last_change, interval_s)
    wait_until(lambda: last in database.with_status("settled"), 45, f"interval {last} to settle", oracle.tail)
    fleet.stop()
    assert_no_reading_lost(fleet, database, oracle)
    wait_until_drained(community, database, oracle)
    assert_settled_once(community, database)

    late_meter, carry_meter = fleet.meter(LATE), fleet.meter(CARRY)
    # Within grace: L's entry for k ends where its own (late) readings put it at k's end.
    entry = database.entry(k, late_meter)
    assert _end(entry) == _registers(fleet.registers_at(LATE, end))
    assert entry.end_produced_wh > before_outage[LATE].produced_wh, "the late readings' energy is in interval k"
    assert entry.last_seq >= max(s.reading.seq for s in late if s.reading.ts <= end)

    # After closing: C's entry for k stops at its last reading before the outage; k + 1 takes the rest.
    entry = database.entry(k, carry_meter)
    assert _end(entry) == _registers(before_outage[CARRY])
    following = database.entry(k + 1, carry_meter)
    assert _end(following) == _registers(fleet.registers_at(CARRY, end + interval_s))
    carried_wh = fleet.registers_at(CARRY, end).consumed_wh - before_outage[CARRY].consumed_wh
    assert carried_wh > 0 and following.consumed_wh >= carried_wh, "the carried energy is in interval k + 1"

    # Nothing lost or counted twice: per meter, the entries add up to the registers' whole movement.
    closed_through = max(database.with_status("closed", "settling", "settled"))
    assert (closed_through + 1) * interval_s > last_change
    totals: dict[str, list[int]] = {}
    for row in database.entries():
        total = totals.setdefault(row.meter, [0, 0])
        total[0] += row.produced_wh
        total[1] += row.consumed_wh
    for meter in community.meters:
        readings = fleet.readings_of(meter.index)
        moved = [readings[-1].produced_wh - readings[0].produced_wh, readings[-1].consumed_wh - readings[0].consumed_wh]
        assert totals[fleet.meter(meter.index)] == moved, f"meter {meter.index}: entries {totals} vs registers {moved}"

    # And the chain settled exactly the entries' energy.
    settled = set(database.settled_ids())
    on_chain = {
        (e["args"]["intervalId"], e["args"]["household"]): (e["args"]["producedWh"], e["args"]["consumedWh"])
        for e in community.household_settled_events()
    }
    in_db = {
        (row.interval_id, row.household): (row.produced_wh, row.consumed_wh)
        for row in database.entries()
        if row.interval_id in settled
    }
    assert on_chain == in_db


def _end(entry) -> tuple[int, int]:
    return entry.end_produced_wh, entry.end_consumed_wh


def _registers(registers: PublishedReading) -> tuple[int, int]:
    return registers.produced_wh, registers.consumed_wh
