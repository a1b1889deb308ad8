"""Seq across restarts, the on-disk outbox, and the status a bridge reports."""

from __future__ import annotations

import json

import pytest
from bridge_helpers import make_bridge
from click.testing import CliRunner

from backend.bridge.cli import bridge as bridge_command
from backend.bridge.outbox import Outbox
from backend.bridge.samples import BridgeReason, MeterSample, SourceProblem
from backend.bridge.state import load_state


def sample(consumed_wh: int) -> MeterSample:
    return MeterSample(consumed_wh=consumed_wh, produced_wh=0, power_w=0)


def test_seq_continues_across_a_restart(tmp_path):
    first = make_bridge(tmp_path)
    assert [first.offer(sample(100 + i), 1000 + 10 * i).reading.seq for i in range(3)] == [1, 2, 3]
    second = make_bridge(tmp_path)
    assert second.offer(sample(200), 1100).reading.seq == 4
    assert load_state(tmp_path / "state.json").next_seq == 5


def test_seq_is_never_reused_when_the_state_file_lags_the_outbox(tmp_path):
    bridge = make_bridge(tmp_path)
    bridge.offer(sample(100), 1000)
    bridge.offer(sample(110), 1010)
    # A crash after the reading was queued but before the state was saved: the state says seq 2 is next.
    state = json.loads((tmp_path / "state.json").read_text())
    state["next_seq"] = 2
    (tmp_path / "state.json").write_text(json.dumps(state))
    assert make_bridge(tmp_path).offer(sample(120), 1020).reading.seq == 3


def test_queue_survives_a_restart_in_order(tmp_path):
    bridge = make_bridge(tmp_path)
    for i in range(5):
        bridge.offer(sample(100 + i), 1000 + 10 * i)
    reopened = make_bridge(tmp_path)
    assert [seq for seq, _ in reopened.outbox.peek()] == [1, 2, 3, 4, 5]
    assert [json.loads(payload)["consumedWh"] for _, payload in reopened.outbox.peek()] == [100, 101, 102, 103, 104]


def test_outbox_refuses_the_same_seq_with_other_content(tmp_path):
    outbox = Outbox(tmp_path)
    outbox.put(7, b'{"a":1}')
    outbox.put(7, b'{"a":1}')  # the same bytes again: fine (a retry)
    with pytest.raises(ValueError, match="seq 7 is already queued"):
        outbox.put(7, b'{"a":2}')


def test_outbox_bound_drops_the_oldest_with_a_warning_and_a_counter(tmp_path, caplog):
    bridge = make_bridge(tmp_path, queue_max_bytes=1024)  # room for about three readings of ~300 bytes
    for i in range(6):
        bridge.offer(sample(100 + i), 1000 + 10 * i)
    seqs = [seq for seq, _ in bridge.outbox.peek()]
    assert seqs == list(range(7 - len(seqs), 7)) and len(seqs) < 6  # the newest kept, in order
    assert bridge.outbox.size_bytes <= 1024
    assert bridge.state.counters["queue_full"] == 6 - len(seqs)
    assert "dropped the 1 oldest" in caplog.text


def test_status_command_prints_last_reading_queue_counters_and_broker(tmp_path):
    bridge = make_bridge(tmp_path)
    bridge.offer(sample(100), 1000)
    bridge.on_event(SourceProblem(BridgeReason.BAD_CRC, "x"))
    bridge.write_status()
    result = CliRunner().invoke(bridge_command, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "last reading: seq 1" in result.output and "import 100 Wh" in result.output
    assert "queue:    1 readings waiting" in result.output
    assert "bad_crc                1" in result.output
    assert "broker:   None NOT connected" in result.output  # no publisher in this test
    missing = CliRunner().invoke(bridge_command, ["status", "--state-dir", str(tmp_path / "nothing")])
    assert missing.exit_code != 0 and "no bridge status" in missing.output
