"""The bridge's faults on real processes (P1 over a pty -> `vatio bridge` -> Mosquitto with auth -> `vatio oracle`):

- kill -9 of the bridge mid-stream: no seq reused, no reading lost or stored twice, every reading
  that was queued on disk when it died arrives, with the content it was signed with;
- the broker down for 20 s (the issue says 5 minutes; 20 s queues twenty readings through the same
  code path, and keeps the suite short): everything queued arrives, in order, and nothing is refused.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from bridge_e2e import BridgeProcess, Closer, SourceRegisters, Stack, first_stored_ts, source_for
from broker_helpers import LoggedInSubscriber
from fault_helpers import wait_until
from sqlalchemy import func, select

from backend.broker_auth import ORACLE_USER
from backend.db.models import Reading, Rejection
from backend.protocol.parser import parse_reading

pytestmark = pytest.mark.slow
# The suite's outage; VATIO_TEST_BROKER_DOWN_S=300 runs the full five minutes (done for the closing note).
BROKER_DOWN_S = int(os.environ.get("VATIO_TEST_BROKER_DOWN_S", "20"))


@pytest.fixture
def stack(tmp_path):
    started = Stack(tmp_path)
    yield started
    started.close()


def stored_in_arrival_order(stack: Stack) -> list[Reading]:
    with stack.database.sessions() as session:
        return list(session.scalars(select(Reading).where(Reading.meter == stack.meter).order_by(Reading.id)))


def rejections(stack: Stack) -> list[tuple[str, str]]:
    with stack.database.sessions() as session:
        return [(row.reason, row.topic) for row in session.scalars(select(Rejection))]


def saved_state(bridge: BridgeProcess) -> dict:
    return json.loads((bridge.state_dir / "state.json").read_text())


def start_p1_bridge(stack: Stack, tmp_path) -> tuple[BridgeProcess, SourceRegisters]:
    registers = SourceRegisters(t0=int(time.time()))
    source_args, feeder = source_for("p1", stack, registers)
    bridge = BridgeProcess(stack.community, stack.broker, stack.auth, tmp_path, source_args)
    stack.extras.append(bridge)
    bridge.start()
    stack.extras.append(feeder.start())
    first_stored_ts(stack)
    return bridge, registers


def test_kill_9_of_the_bridge_mid_stream_reuses_no_seq_and_loses_nothing_queued(stack, tmp_path):
    watcher = LoggedInSubscriber(stack.broker.url, stack.community.name, password=stack.auth.password_of(ORACLE_USER))
    stack.extras.append(Closer(watcher.close))
    bridge, _ = start_p1_bridge(stack, tmp_path)
    wait_until(lambda: len(stored_in_arrival_order(stack)) >= 5, 30, "five stored readings", stack.details)
    bridge.kill()
    outbox = {
        int(path.name.split(".")[0]): parse_reading(path.read_bytes()).reading
        for path in (bridge.state_dir / "outbox").glob("*.reading")
    }
    next_seq_at_kill = saved_state(bridge)["next_seq"]
    before = {row.seq for row in stored_in_arrival_order(stack)}
    time.sleep(2)  # telegrams keep coming while nobody reads them
    bridge.start()
    wait_until(
        lambda: max(row.seq for row in stored_in_arrival_order(stack)) >= next_seq_at_kill + 4,
        30,
        "four readings from the restarted bridge",
        stack.details,
    )
    bridge.stop()
    time.sleep(1)

    stored = stored_in_arrival_order(stack)
    seqs = [row.seq for row in stored]
    assert seqs == sorted(set(seqs)), f"stored out of order or twice: {seqs}"
    for seq, reading in outbox.items():  # queued on disk at the kill: arrives exactly as signed
        row = next((row for row in stored if row.seq == seq), None)
        assert row is not None, f"seq {seq} was queued when the bridge died and never arrived"
        assert (row.ts, row.consumed_wh, row.produced_wh) == (reading.ts, reading.consumed_wh, reading.produced_wh)
    after = [seq for seq in seqs if seq not in before and seq not in outbox]
    assert after and min(after) >= next_seq_at_kill, f"a seq spent before the kill was used again: {after}"
    missing = set(range(1, seqs[-1] + 1)) - set(seqs)
    # The only seq that may never arrive is one spent (state saved) but not yet queued when the bridge died.
    assert missing <= {next_seq_at_kill - 1} - set(outbox), f"readings lost: {sorted(missing)}"
    assert rejections(stack) == []
    # What the broker delivered: increasing seqs; a repeat is only a QoS 1 redelivery of the same bytes.
    seen: dict[int, bytes] = {}
    last = 0
    for _, payload in watcher.messages:
        seq = parse_reading(payload).reading.seq
        if seq in seen:
            assert seen[seq] == payload, f"seq {seq} published twice with different content"
            continue
        assert seq > last, f"seq {seq} after {last}"
        seen[seq], last = payload, seq


def test_readings_queued_while_the_broker_is_down_all_arrive_in_order(stack, tmp_path):
    bridge, _ = start_p1_bridge(stack, tmp_path)
    wait_until(lambda: len(stored_in_arrival_order(stack)) >= 3, 30, "three stored readings", stack.details)
    stack.broker.stop()
    down_since = time.monotonic()
    wait_until(lambda: time.monotonic() - down_since >= BROKER_DOWN_S, BROKER_DOWN_S + 5, "the outage")
    queued = bridge.status().get("queue_depth", 0)
    assert queued >= BROKER_DOWN_S // 2, f"only {queued} readings queued during a {BROKER_DOWN_S} s outage"
    assert not bridge.status()["broker"]["connected"]
    last_signed = saved_state(bridge)["next_seq"] - 1
    stack.broker.start()
    wait_until(
        lambda: {row.seq for row in stored_in_arrival_order(stack)} >= set(range(1, last_signed + 1)),
        90,
        f"every reading through seq {last_signed} to be stored",
        stack.details,
    )
    bridge.stop()
    seqs = [row.seq for row in stored_in_arrival_order(stack)]
    assert seqs == list(range(1, len(seqs) + 1)), f"stored out of order, twice or with gaps: {seqs}"
    assert rejections(stack) == []
    with stack.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Reading)) == len(seqs)
