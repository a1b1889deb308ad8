"""Each source end to end on real processes: source -> `vatio bridge` -> Mosquitto (with auth) -> `vatio oracle`
-> an interval settled on Anvil, whose Wh equal the source's register delta over the interval within 1 Wh.

The community's interval is 4 s (tests/backend/faults/fault_helpers.py), so intervals close a few
seconds after they end; the bridge signs a reading every second.
"""

from __future__ import annotations

import time

import pytest
from bridge_e2e import BridgeProcess, SourceRegisters, Stack, covered_settled_intervals, first_stored_ts, source_for

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path):
    started = Stack(tmp_path)
    yield started
    started.close()


@pytest.mark.parametrize("kind", ["p1", "sml", "shelly", "homeassistant"])
def test_a_source_through_the_bridge_settles_its_register_delta(stack, tmp_path, kind):
    registers = SourceRegisters(t0=int(time.time()))
    source_args, feeder = source_for(kind, stack, registers)
    bridge = BridgeProcess(stack.community, stack.broker, stack.auth, tmp_path, source_args)
    stack.extras.append(bridge)
    bridge.start()
    stack.extras.append(feeder.start())
    first_ts = first_stored_ts(stack)
    entries = covered_settled_intervals(stack, first_ts, how_many=2, timeout_s=60)
    interval_s = stack.community.interval_s
    for entry in entries:
        start, end = entry.interval_id * interval_s, (entry.interval_id + 1) * interval_s
        consumed = registers.consumed(end) - registers.consumed(start)
        produced = registers.produced(end) - registers.produced(start)
        assert abs(entry.consumed_wh - consumed) <= 1, (kind, entry.interval_id, entry.consumed_wh, consumed)
        assert abs(entry.produced_wh - produced) <= 1, (kind, entry.interval_id, entry.produced_wh, produced)
        assert abs(entry.end_consumed_wh - registers.consumed(end)) <= 1
    settled_on_chain = {event["args"]["intervalId"] for event in stack.community.settled_events()}
    assert {entry.interval_id for entry in entries} <= settled_on_chain
    assert bridge.status()["source"] == kind and bridge.status()["broker"]["connected"]
