"""The verifier rejects each kind of bad reading with its reason."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.oracle.verifier import MeterInfo, MeterState, verify_reading
from backend.protocol.parser import RejectedReading
from backend.protocol.readings import MeterDomain, MeterReading, SignedReading, sign_reading

DOMAIN = MeterDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
METER, OTHER, STRANGER = Account.create(), Account.create(), Account.create()
HOUSE = Account.create().address
METERS = {
    METER.address: MeterInfo(METER.address, HOUSE, 10_000, True),
    OTHER.address: MeterInfo(OTHER.address, Account.create().address, 10_000, False),
}
LAST = MeterState(seq=10, ts=1_000, produced_wh=5_000, consumed_wh=7_000)
NOW = 1_100


def signed(key=METER, meter=None, seq=11, ts=1_060, produced=5_010, consumed=7_020, power=900, domain=DOMAIN):
    reading = MeterReading(meter or key.address, seq, ts, produced, consumed, power)
    return sign_reading(reading, domain, key.key)


def check(reading: SignedReading, topic_meter=None, last=LAST):
    return verify_reading(reading, topic_meter or reading.reading.meter, METERS, last, DOMAIN, NOW)


def test_a_reading_older_than_the_age_limit_is_stale_but_a_late_backlog_is_not():
    late_now = 1_060 + 30 * 86400  # the reading (ts 1,060) is exactly 30 days old: still accepted
    assert verify_reading(signed(), METER.address, METERS, LAST, DOMAIN, late_now).household == HOUSE
    with pytest.raises(RejectedReading) as raised:
        verify_reading(signed(), METER.address, METERS, LAST, DOMAIN, late_now + 1)
    assert raised.value.reason == "stale_timestamp"


def test_a_good_reading_passes():
    assert check(signed()).household == HOUSE
    assert check(signed(), last=None).meter == METER.address


@pytest.mark.parametrize(
    "reading, topic_meter, reason",
    [
        (signed(), OTHER.address, "wrong_topic"),
        (signed(key=STRANGER), None, "unknown_meter"),
        (signed(key=OTHER), None, "inactive_meter"),
        (signed(key=STRANGER, meter=METER.address), None, "wrong_signer"),
        (signed(domain=MeterDomain(1, DOMAIN.verifying_contract)), None, "wrong_signer"),
        (SignedReading(signed().reading, signed().signature[:64] + b"\x05"), None, "bad_signature"),
        (signed(seq=10), None, "replayed_seq"),
        (signed(seq=3), None, "replayed_seq"),
        (signed(ts=1_000), None, "replayed_seq"),
        (signed(produced=4_999), None, "register_backwards"),
        (signed(consumed=6_000), None, "register_backwards"),
        (signed(ts=NOW + 31), None, "future_timestamp"),
        (signed(power=12_501), None, "impossible_power"),
        # 300 Wh in 60 s is 18 kW on a 10 kW connection
        (signed(produced=5_300), None, "impossible_power"),
    ],
)
def test_bad_readings_are_rejected_with_their_reason(reading, topic_meter, reason):
    with pytest.raises(RejectedReading) as raised:
        check(reading, topic_meter)
    assert raised.value.reason == reason
