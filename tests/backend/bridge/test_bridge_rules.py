"""The real-meter rules, on their own and inside the bridge's signing step."""

from __future__ import annotations

import json

from bridge_helpers import DOMAIN, TEST_METER, make_bridge

from backend.bridge.rules import Accepted, LastAccepted, RegisterRules, Rejected
from backend.bridge.samples import BridgeReason, MeterSample
from backend.protocol.parser import parse_reading
from backend.protocol.readings import recover_signer

RULES = RegisterRules(connection_rating_w=10_000, max_clock_drift_s=30, gap_s=120)


def sample(consumed_wh: int, produced_wh: int = 0, power_w: int = 0, meter_ts: float | None = None) -> MeterSample:
    return MeterSample(consumed_wh=consumed_wh, produced_wh=produced_wh, power_w=power_w, meter_ts=meter_ts)


def test_register_backwards_is_rejected_and_halts():
    verdict = RULES.check(sample(999), 1010, LastAccepted(1000, 1000, 0))
    assert isinstance(verdict, Rejected) and verdict.reason is BridgeReason.REGISTER_BACKWARDS and verdict.halt
    verdict = RULES.check(sample(1000, 4), 1010, LastAccepted(1000, 1000, 5))
    assert isinstance(verdict, Rejected) and verdict.reason is BridgeReason.REGISTER_BACKWARDS


def test_jump_above_the_connection_rating_is_rejected_and_just_below_passes():
    # 10 kW for 36 s is 100 Wh.
    assert RULES.check(sample(1100), 1036, LastAccepted(1000, 1000, 0)) == Accepted()
    verdict = RULES.check(sample(1101), 1036, LastAccepted(1000, 1000, 0))
    assert isinstance(verdict, Rejected) and verdict.reason is BridgeReason.IMPOSSIBLE_POWER and not verdict.halt


def test_clock_drift_and_gap_are_flags_not_rejections():
    verdict = RULES.check(sample(1001, meter_ts=1300 - 31), 1300, LastAccepted(1000, 1000, 0))
    assert isinstance(verdict, Accepted)
    assert [reason for reason, _ in verdict.flags] == [BridgeReason.CLOCK_DRIFT, BridgeReason.GAP]
    assert "1269" in verdict.flags[0][1] and "1300" in verdict.flags[0][1]  # both clocks are logged
    assert RULES.check(sample(1001, meter_ts=1100 - 30), 1100, LastAccepted(1000, 1000, 0)) == Accepted()


def test_bridge_publishes_nothing_after_a_register_goes_backwards(tmp_path):
    bridge = make_bridge(tmp_path, RULES)
    assert bridge.offer(sample(5000, 100), 1000) is not None
    assert bridge.offer(sample(4000, 100), 1010) is None  # meter replaced
    assert bridge.offer(sample(5010, 100), 1020) is None  # even plausible values: halted until re-registration
    assert len(bridge.outbox) == 1
    assert bridge.state.counters == {"register_backwards": 1}
    assert bridge.state.halted.startswith("register_backwards")
    assert "register a new meter key" in bridge.snapshot()["halted"]
    restarted = make_bridge(tmp_path, RULES)  # a restart does not clear the halt
    assert restarted.offer(sample(5020, 100), 1030) is None


def test_clock_drift_reading_is_signed_with_the_bridge_clock(tmp_path):
    bridge = make_bridge(tmp_path, RULES)
    signed = bridge.offer(sample(5000, 100, power_w=-1500, meter_ts=900), 1000)
    assert signed.reading.ts == 1000 and signed.reading.power_w == 1500
    assert bridge.state.counters == {"clock_drift": 1}
    ((seq, payload),) = bridge.outbox.peek()
    parsed = parse_reading(payload)
    assert parsed == signed and recover_signer(parsed, DOMAIN) == TEST_METER


def test_rejected_jump_is_not_published_and_the_next_plausible_one_is(tmp_path):
    bridge = make_bridge(tmp_path, RULES)
    bridge.offer(sample(5000), 1000)
    assert bridge.offer(sample(9000), 1010) is None
    signed = bridge.offer(sample(5020), 1020)
    assert signed is not None and signed.reading.seq == 2  # the rejected sample spent no seq
    assert bridge.state.counters == {"impossible_power": 1}
    assert [json.loads(payload)["consumedWh"] for _, payload in bridge.outbox.peek()] == [5000, 5020]
