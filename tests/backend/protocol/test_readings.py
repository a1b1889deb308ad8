"""EIP-712 meter readings: the fast digest against eth-account, signing and recovery."""

from __future__ import annotations

from dataclasses import replace

import pytest
from coincurve import PublicKey
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak as reference_keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.protocol.readings import (
    SECP256K1_HALF_N,
    SECP256K1_N,
    InvalidSignature,
    MeterDomain,
    MeterReading,
    SignedReading,
    reading_digest,
    readings_hash,
    recover_address,
    recover_from_digest,
    recover_signer,
    sign_reading,
    typed_data,
)

METER_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
OTHER_KEY = bytes.fromhex("8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f")
METER = Account.from_key(METER_KEY).address
OTHER = Account.from_key(OTHER_KEY).address
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = MeterDomain(chain_id=31337, verifying_contract=REGISTRY)

uint64 = st.integers(min_value=0, max_value=2**64 - 1)
uint32 = st.integers(min_value=0, max_value=2**32 - 1)
addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
domains = st.builds(MeterDomain, chain_id=st.integers(min_value=0, max_value=2**256 - 1), verifying_contract=addresses)
readings = st.builds(
    MeterReading, meter=addresses, seq=uint64, ts=uint64, produced_wh=uint64, consumed_wh=uint64, power_w=uint32
)


def make_reading(**overrides) -> MeterReading:
    fields = {
        "meter": METER,
        "seq": 7,
        "ts": 1_764_000_000,
        "produced_wh": 12_345,
        "consumed_wh": 6_789,
        "power_w": 850,
    }
    return MeterReading(**{**fields, **overrides})


def eth_account_digest(reading: MeterReading, domain: MeterDomain) -> bytes:
    signable = encode_typed_data(full_message=typed_data(reading, domain))
    return reference_keccak(b"\x19" + signable.version + signable.header + signable.body)


def with_byte(signature: bytes, index: int, value: int) -> bytes:
    return signature[:index] + bytes((value,)) + signature[index + 1 :]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reading=readings, domain=domains)
def test_reading_digest_equals_eth_account(reading, domain):
    assert reading_digest(reading, domain) == eth_account_digest(reading, domain)


@settings(max_examples=25, deadline=None)
@given(reading=readings.map(lambda reading: replace(reading, meter=METER)))
def test_recover_signer_accepts_eth_account_signatures(reading):
    signature = Account.sign_message(encode_typed_data(full_message=typed_data(reading, DOMAIN)), METER_KEY).signature
    assert signature[64] in (27, 28)
    assert recover_signer(SignedReading(reading, bytes(signature)), DOMAIN) == METER


@settings(max_examples=25, deadline=None)
@given(reading=readings)
def test_sign_reading_round_trips_and_matches_eth_account(reading):
    signed = sign_reading(reading, DOMAIN, METER_KEY)
    assert recover_signer(signed, DOMAIN) == METER
    # RFC 6979 nonces: both libraries produce the very same bytes.
    expected = Account.unsafe_sign_hash(reading_digest(reading, DOMAIN), METER_KEY).signature
    assert signed.signature == bytes(expected)


def test_sign_reading_accepts_hex_key():
    hex_key = "0x" + METER_KEY.hex()
    assert sign_reading(make_reading(), DOMAIN, hex_key) == sign_reading(make_reading(), DOMAIN, METER_KEY)


def test_recover_signer_returns_checksummed_address():
    signed = sign_reading(make_reading(meter=METER.lower()), DOMAIN, METER_KEY)
    assert signed.reading.meter == METER
    assert recover_signer(signed, DOMAIN) == METER


def test_recover_signer_accepts_v_0_and_1():
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    raw_v = with_byte(signed.signature, 64, signed.signature[64] - 27)
    assert recover_signer(SignedReading(signed.reading, raw_v), DOMAIN) == METER


# --- well-formed signatures that recover someone else: the caller compares -------------


def test_recover_signer_other_key_gives_other_address():
    signed = sign_reading(make_reading(), DOMAIN, OTHER_KEY)
    assert recover_signer(signed, DOMAIN) == OTHER != METER


@pytest.mark.parametrize(
    "domain",
    [
        MeterDomain(chain_id=1, verifying_contract=REGISTRY),
        MeterDomain(chain_id=31337, verifying_contract="0x" + "11" * 20),
    ],
    ids=["wrong_chain_id", "wrong_verifying_contract"],
)
def test_recover_signer_wrong_domain_gives_other_address(domain):
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    assert recover_signer(signed, domain) != METER


def test_recover_signer_altered_reading_gives_other_address():
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    altered = SignedReading(make_reading(produced_wh=signed.reading.produced_wh + 1), signed.signature)
    assert recover_signer(altered, DOMAIN) != METER


@pytest.mark.parametrize("byte_index", [0, 17, 31, 32, 50, 63])
def test_recover_signer_bit_flip_never_gives_meter(byte_index):
    """A flipped bit in r or s either recovers another key or recovers none."""
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    forged = SignedReading(signed.reading, with_byte(signed.signature, byte_index, signed.signature[byte_index] ^ 0x01))
    try:
        assert recover_signer(forged, DOMAIN) != METER
    except InvalidSignature:
        pass


def test_recover_signer_flipped_v_gives_other_address():
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    flipped = SignedReading(signed.reading, with_byte(signed.signature, 64, 55 - signed.signature[64]))
    try:
        assert recover_signer(flipped, DOMAIN) != METER
    except InvalidSignature:  # no point with that x and the other parity
        pass


# --- malformed or malleable signatures: InvalidSignature ---------------------------------


@pytest.mark.parametrize("length", [0, 64, 66, 130])
def test_recover_signer_wrong_length_raises(length):
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    signature = (signed.signature * 3)[:length]
    with pytest.raises(InvalidSignature, match="65 bytes"):
        recover_signer(SignedReading(signed.reading, signature), DOMAIN)


@pytest.mark.parametrize("v", [2, 26, 29, 35, 36, 255])
def test_recover_signer_bad_v_raises(v):
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    with pytest.raises(InvalidSignature, match="v must be"):
        recover_signer(SignedReading(signed.reading, with_byte(signed.signature, 64, v)), DOMAIN)


def test_recover_signer_high_s_raises():
    """The malleated twin (r, n - s, v ^ 1) is a valid ECDSA signature of the same key: refuse it."""
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    s = int.from_bytes(signed.signature[32:64], "big")
    twin = signed.signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - signed.signature[64],))
    # the twin really is the meter's signature to plain ecrecover
    digest = reading_digest(signed.reading, DOMAIN)
    twin_key = PublicKey.from_signature_and_message(twin[:64] + bytes((twin[64] - 27,)), digest, hasher=None)
    assert twin_key.format() == PublicKey.from_secret(METER_KEY).format()
    with pytest.raises(InvalidSignature, match="malleable"):
        recover_signer(SignedReading(signed.reading, twin), DOMAIN)


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 1), (SECP256K1_N, 1), (2**256 - 1, 1), (1, 0)],
    ids=["r_zero", "r_n", "r_max", "s_zero"],
)
def test_recover_signer_out_of_range_raises(r, s):
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + b"\x1b"
    with pytest.raises(InvalidSignature):
        recover_signer(SignedReading(make_reading(), signature), DOMAIN)


def test_range_checks_stop_exactly_at_their_bounds():
    """The bounds are compared as 32-byte words: s = n/2 is canonical, one more is not; r = n - 1 is in range."""
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    digest = reading_digest(signed.reading, DOMAIN)
    r = signed.signature[:32]
    assert recover_from_digest(digest, r + SECP256K1_HALF_N.to_bytes(32, "big") + b"\x1b") != METER
    with pytest.raises(InvalidSignature, match="malleable"):
        recover_from_digest(digest, r + (SECP256K1_HALF_N + 1).to_bytes(32, "big") + b"\x1b")
    with pytest.raises(InvalidSignature, match="no key"):  # in range; x = n - 1 just has no point
        recover_from_digest(digest, (SECP256K1_N - 1).to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x1b")


def test_recover_address_is_the_raw_form_of_recover_from_digest():
    signed = sign_reading(make_reading(), DOMAIN, METER_KEY)
    digest = reading_digest(signed.reading, DOMAIN)
    assert recover_address(digest, signed.signature) == bytes.fromhex(METER[2:])
    assert recover_from_digest(digest, bytearray(signed.signature)) == METER


def test_recover_signer_unrecoverable_point_raises():
    # r = 5: x = 5 is not on secp256k1 (5^3 + 7 = 132 is a non-residue mod p), so no key recovers.
    signature = (5).to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x1b"
    with pytest.raises(InvalidSignature, match="no key"):
        recover_signer(SignedReading(make_reading(), signature), DOMAIN)


# --- value objects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"meter": "0x1234"},
        {"meter": "1" * 40},
        {"seq": -1},
        {"ts": 2**64},
        {"produced_wh": 1.0},
        {"consumed_wh": True},
        {"power_w": 2**32},
    ],
)
def test_meter_reading_rejects_out_of_range(overrides):
    with pytest.raises(ValueError):
        make_reading(**overrides)


def test_meter_domain_normalises_contract_and_rejects_bad_values():
    assert MeterDomain(1, REGISTRY.lower()).verifying_contract == REGISTRY
    assert MeterDomain(1, REGISTRY.lower()) == MeterDomain(1, REGISTRY)
    with pytest.raises(ValueError):
        MeterDomain(-1, REGISTRY)
    with pytest.raises(ValueError):
        MeterDomain(1, "0xnothex")


# --- readings_hash ---------------------------------------------------------------------------


def test_readings_hash_is_keccak_of_digests_in_seq_order():
    signed = [sign_reading(make_reading(seq=seq, produced_wh=100 * seq), DOMAIN, METER_KEY) for seq in (3, 1, 2)]
    in_order = sorted(signed, key=lambda item: item.reading.seq)
    expected = reference_keccak(b"".join(reading_digest(item.reading, DOMAIN) for item in in_order))
    assert readings_hash(signed, DOMAIN) == expected
    assert readings_hash(reversed(signed), DOMAIN) == expected
    assert len(expected) == 32
    # a remembered digest (the auditor's) is called in the same order and gives the same hash
    seen = []
    assert readings_hash(signed, DOMAIN, digest=lambda r: seen.append(r.seq) or reading_digest(r, DOMAIN)) == expected
    assert seen == [1, 2, 3]


def test_readings_hash_commits_to_content_and_domain():
    signed = [sign_reading(make_reading(seq=seq), DOMAIN, METER_KEY) for seq in (1, 2)]
    altered = [signed[0], SignedReading(make_reading(seq=2, consumed_wh=1), signed[1].signature)]
    assert readings_hash(signed, DOMAIN) != readings_hash(altered, DOMAIN)
    assert readings_hash(signed, DOMAIN) != readings_hash(signed, MeterDomain(1, REGISTRY))


def test_readings_hash_empty_and_duplicate_seq():
    assert readings_hash([], DOMAIN) == reference_keccak(b"")
    twice = [
        sign_reading(make_reading(seq=1), DOMAIN, METER_KEY),
        sign_reading(make_reading(seq=1, ts=5), DOMAIN, METER_KEY),
    ]
    with pytest.raises(ValueError, match="share seq"):
        readings_hash(twice, DOMAIN)


# --- the worked example of docs/mqtt.md: a public test vector -------------------------------


def test_docs_worked_example_is_stable():
    domain = MeterDomain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
    reading = MeterReading(METER, seq=42, ts=1_764_000_900, produced_wh=15_000, consumed_wh=9_800, power_w=1_200)
    assert METER == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    assert domain.separator.hex() == "af93cd497286f50ada03805f0fc9ba31270acd04d9daa48482d715d94e09934a"
    assert reading_digest(reading, domain).hex() == "f049e0e384516d99b49c7c576efcfdb53d9a1ee6bb35c14cb07a8667475fa1aa"
    assert sign_reading(reading, domain, METER_KEY).signature.hex() == (
        "036ddeb8f20ba2b6b53b6b94d69601dd7e8e1b0f6d7b5dba8af5caa8f1ef8d1b"
        "7a46b9516ed88b1ecf5038eeb72469e25a3842925d296c4da072327c4bcae97a1b"
    )
