"""The audit's per-run memory of signers and digests: the same answers as the protocol's
functions, and keyed by the whole signed reading, so no altered or re-signed copy inherits
the signer of a reading checked before it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account

from backend.audit.verified_readings import VerifiedReadings, verified_under
from backend.protocol.readings import (
    InvalidSignature,
    MeterDomain,
    MeterReading,
    SignedReading,
    reading_digest,
    readings_hash,
    recover_signer,
    sign_reading,
)

DOMAIN = MeterDomain(31337, "0x" + "11" * 20)
METER = Account.create()
IMPOSTOR = Account.create()


def signed(seq: int, produced_wh: int = 1_000, key=METER.key) -> SignedReading:
    return sign_reading(MeterReading(METER.address, seq, 1_000 + seq, produced_wh, 50, 0), DOMAIN, key)


def test_gives_what_the_protocol_gives():
    verified = VerifiedReadings(DOMAIN)
    readings = [signed(seq) for seq in (3, 1, 2)]
    for reading in readings + readings:  # the second pass is answered from memory
        assert verified.signer(reading) == recover_signer(reading, DOMAIN) == METER.address
        assert verified.digest(reading.reading) == reading_digest(reading.reading, DOMAIN)
    assert verified.readings_hash(readings) == readings_hash(readings, DOMAIN)
    with pytest.raises(ValueError, match="share seq"):
        verified.readings_hash([signed(1), signed(1, produced_wh=7)])


def test_an_altered_reading_with_the_genuine_signature_is_recovered_again():
    verified = VerifiedReadings(DOMAIN)
    genuine = signed(1)
    assert verified.signer(genuine) == METER.address
    # same meter, seq and signature, one Wh more: a new key, and it recovers to someone else
    altered = SignedReading(replace(genuine.reading, produced_wh=1_001), genuine.signature)
    assert verified.signer(altered) != METER.address
    assert verified.digest(altered.reading) != verified.digest(genuine.reading)
    assert verified.signer(genuine) == METER.address


def test_the_same_content_signed_by_another_key_is_recovered_again():
    verified = VerifiedReadings(DOMAIN)
    assert verified.signer(signed(1)) == METER.address
    assert verified.signer(signed(1, key=IMPOSTOR.key)) == IMPOSTOR.address


def test_an_invalid_signature_fails_every_time_it_is_asked():
    verified = VerifiedReadings(DOMAIN)
    genuine = signed(1)
    high_s = SignedReading(genuine.reading, genuine.signature[:32] + b"\xff" * 32 + genuine.signature[64:])
    for _ in range(2):
        with pytest.raises(InvalidSignature, match="malleable"):
            verified.signer(high_s)
    with pytest.raises(InvalidSignature, match="65 bytes"):
        verified.signer(SignedReading(genuine.reading, bytearray(genuine.signature[:64])))
    assert verified.signer(genuine) == METER.address


def test_a_memory_of_another_domain_is_refused():
    verified = VerifiedReadings(DOMAIN)
    assert verified_under(DOMAIN, verified) is verified
    assert verified_under(DOMAIN, None).domain == DOMAIN
    with pytest.raises(ValueError, match="not the audited domain"):
        verified_under(MeterDomain(1, DOMAIN.verifying_contract), verified)
