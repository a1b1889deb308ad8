"""Pure parsing of MQTT readings messages: a bad-input corpus, exact valid parses, a fuzz test; encoding and topics."""

from __future__ import annotations

import json
import sys

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.protocol.parser import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_JSON_DEPTH,
    READING_FIELDS,
    Reason,
    RejectedReading,
    encode_reading,
    parse_reading,
    reading_json,
)
from backend.protocol.readings import MeterDomain, MeterReading, SignedReading, recover_signer, sign_reading
from backend.protocol.topics import check_topic_matches, meter_from_topic, readings_subscription, readings_topic

METER_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
METER = Account.from_key(METER_KEY).address
DOMAIN = MeterDomain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
COMMUNITY = "sunnyside"


def valid_message(**overrides) -> dict:
    reading = MeterReading(METER, seq=42, ts=1_764_000_900, produced_wh=15_000, consumed_wh=9_800, power_w=1_200)
    signed = sign_reading(reading, DOMAIN, METER_KEY)
    message = {
        "meter": METER,
        "seq": 42,
        "ts": 1_764_000_900,
        "producedWh": 15_000,
        "consumedWh": 9_800,
        "powerW": 1_200,
        "signature": "0x" + signed.signature.hex(),
    }
    message.update(overrides)
    return message


def encode(message: object) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def without(field: str) -> dict:
    message = valid_message()
    del message[field]
    return message


VALID = encode(valid_message())
SIGNATURE_HEX = valid_message()["signature"]

BAD_CORPUS = {
    # too_large
    "huge_payload": (b"{" + b" " * 2_000 + b"}", Reason.TOO_LARGE),
    "huge_valid_json": (encode(valid_message(pad="x" * 1_100)), Reason.TOO_LARGE),
    # bad_json
    "empty": (b"", Reason.BAD_JSON),
    "truncated": (VALID[:-1], Reason.BAD_JSON),
    "trailing_garbage": (VALID + b"x", Reason.BAD_JSON),
    "two_objects": (VALID[:200] + b"}{}", Reason.BAD_JSON),
    "single_quotes": (VALID.replace(b'"', b"'"), Reason.BAD_JSON),
    "not_utf8": (b'{"meter":"\xff\xfe"}', Reason.BAD_JSON),
    "utf16": (VALID.decode().encode("utf-16"), Reason.BAD_JSON),
    "utf8_bom": (b"\xef\xbb\xbf" + VALID, Reason.BAD_JSON),
    "nan": (VALID.replace(b'"powerW":1200', b'"powerW":NaN'), Reason.BAD_JSON),
    "infinity": (VALID.replace(b'"powerW":1200', b'"powerW":Infinity'), Reason.BAD_JSON),
    "minus_infinity": (VALID.replace(b'"powerW":1200', b'"powerW":-Infinity'), Reason.BAD_JSON),
    "duplicate_key": (VALID[:-1] + b',"seq":43}', Reason.BAD_JSON),
    "duplicate_key_same_value": (VALID[:-1] + b',"seq":42}', Reason.BAD_JSON),
    "duplicate_key_nested": (
        encode(valid_message(seq={"a": 1})).replace(b'{"a":1}', b'{"a":1,"a":2}'),
        Reason.BAD_JSON,
    ),
    "deep_nesting": (b"[" * 1_000 + b"]" * 0, Reason.BAD_JSON),
    "deep_nesting_closed": (b"[" * 500 + b"]" * 500, Reason.BAD_JSON),  # deeper than MAX_JSON_DEPTH: refused unparsed
    # bad_schema: not an object
    "array": (encode([valid_message()]), Reason.BAD_SCHEMA),
    "string": (b'"hello"', Reason.BAD_SCHEMA),
    "number": (b"42", Reason.BAD_SCHEMA),
    "null": (b"null", Reason.BAD_SCHEMA),
    "true": (b"true", Reason.BAD_SCHEMA),
    # bad_schema: fields
    "empty_object": (b"{}", Reason.BAD_SCHEMA),
    "missing_meter": (encode(without("meter")), Reason.BAD_SCHEMA),
    "missing_seq": (encode(without("seq")), Reason.BAD_SCHEMA),
    "missing_power": (encode(without("powerW")), Reason.BAD_SCHEMA),
    "missing_signature": (encode(without("signature")), Reason.BAD_SCHEMA),
    "extra_field": (encode(valid_message(extra=1)), Reason.BAD_SCHEMA),
    "snake_case_field": (encode({**without("producedWh"), "produced_wh": 15_000}), Reason.BAD_SCHEMA),
    "wrong_case_field": (encode({**without("powerW"), "powerw": 1_200}), Reason.BAD_SCHEMA),
    # bad_schema: numbers
    "seq_string_digits": (encode(valid_message(seq="42")), Reason.BAD_SCHEMA),
    "seq_float_integral": (encode(valid_message(seq=42.0)), Reason.BAD_SCHEMA),
    "seq_exponent": (VALID.replace(b'"seq":42', b'"seq":4.2e1'), Reason.BAD_SCHEMA),
    "seq_huge_exponent": (VALID.replace(b'"seq":42', b'"seq":1e400'), Reason.BAD_SCHEMA),
    "seq_bool": (encode(valid_message(seq=True)), Reason.BAD_SCHEMA),
    "seq_null": (encode(valid_message(seq=None)), Reason.BAD_SCHEMA),
    "seq_negative": (encode(valid_message(seq=-1)), Reason.BAD_SCHEMA),
    "seq_overflow": (encode(valid_message(seq=2**64)), Reason.BAD_SCHEMA),
    "ts_overflow": (encode(valid_message(ts=2**64)), Reason.BAD_SCHEMA),
    "ts_float": (encode(valid_message(ts=1_764_000_900.5)), Reason.BAD_SCHEMA),
    "produced_negative": (encode(valid_message(producedWh=-5)), Reason.BAD_SCHEMA),
    "produced_overflow": (encode(valid_message(producedWh=2**64)), Reason.BAD_SCHEMA),
    "produced_enormous": (encode(valid_message(producedWh=10**300)), Reason.BAD_SCHEMA),
    "consumed_false": (encode(valid_message(consumedWh=False)), Reason.BAD_SCHEMA),
    "consumed_list": (encode(valid_message(consumedWh=[9_800])), Reason.BAD_SCHEMA),
    "power_overflow_uint32": (encode(valid_message(powerW=2**32)), Reason.BAD_SCHEMA),
    "power_negative": (encode(valid_message(powerW=-1_200)), Reason.BAD_SCHEMA),
    "power_nested_object": (encode(valid_message(powerW={"value": 1_200})), Reason.BAD_SCHEMA),
    # bad_schema: meter address
    "meter_nested_object": (encode(valid_message(meter={"address": METER})), Reason.BAD_SCHEMA),
    "meter_short": (encode(valid_message(meter=METER[:-2])), Reason.BAD_SCHEMA),
    "meter_long": (encode(valid_message(meter=METER + "00")), Reason.BAD_SCHEMA),
    "meter_no_prefix": (encode(valid_message(meter=METER[2:])), Reason.BAD_SCHEMA),
    "meter_upper_prefix": (encode(valid_message(meter="0X" + METER[2:])), Reason.BAD_SCHEMA),
    "meter_not_hex": (encode(valid_message(meter="0x" + "g" * 40)), Reason.BAD_SCHEMA),
    "meter_trailing_newline": (encode(valid_message(meter=METER + "\n")), Reason.BAD_SCHEMA),
    "meter_number": (encode(valid_message(meter=int(METER, 16))), Reason.BAD_SCHEMA),
    "meter_ens_name": (encode(valid_message(meter="alice.eth")), Reason.BAD_SCHEMA),
    # bad_signature: format only (recovery is the verifier's)
    "signature_short": (encode(valid_message(signature=SIGNATURE_HEX[:-2])), Reason.BAD_SIGNATURE),
    "signature_long": (encode(valid_message(signature=SIGNATURE_HEX + "00")), Reason.BAD_SIGNATURE),
    "signature_no_prefix": (encode(valid_message(signature=SIGNATURE_HEX[2:])), Reason.BAD_SIGNATURE),
    "signature_not_hex": (encode(valid_message(signature="0x" + "zz" * 65)), Reason.BAD_SIGNATURE),
    "signature_empty": (encode(valid_message(signature="")), Reason.BAD_SIGNATURE),
    "signature_number": (encode(valid_message(signature=12345)), Reason.BAD_SIGNATURE),
    "signature_list": (encode(valid_message(signature=[SIGNATURE_HEX])), Reason.BAD_SIGNATURE),
    "signature_rsv_object": (encode(valid_message(signature={"r": "0x1", "s": "0x2", "v": 27})), Reason.BAD_SIGNATURE),
}


@pytest.mark.parametrize(("payload", "reason"), list(BAD_CORPUS.values()), ids=list(BAD_CORPUS))
def test_parse_reading_rejects_bad_input_with_reason(payload, reason):
    with pytest.raises(RejectedReading) as rejected:
        parse_reading(payload)
    assert rejected.value.reason is reason
    assert rejected.value.detail
    assert str(rejected.value).startswith(reason.value + ": ")


def test_parse_reading_valid_payload_parses_exactly():
    signed = parse_reading(VALID)
    assert signed == SignedReading(
        MeterReading(METER, seq=42, ts=1_764_000_900, produced_wh=15_000, consumed_wh=9_800, power_w=1_200),
        bytes.fromhex(SIGNATURE_HEX[2:]),
    )
    assert recover_signer(signed, DOMAIN) == METER


@pytest.mark.parametrize("meter", [METER.lower(), "0x" + METER[2:].upper(), METER], ids=["lower", "upper", "checksum"])
def test_parse_reading_normalises_meter_of_any_case(meter):
    signed = parse_reading(encode(valid_message(meter=meter)))
    assert signed.reading.meter == METER
    assert recover_signer(signed, DOMAIN) == METER


def test_parse_reading_accepts_whitespace_key_order_and_bytearray():
    message = valid_message(signature=SIGNATURE_HEX.upper().replace("0X", "0x"))
    pretty = json.dumps(dict(reversed(list(message.items()))), indent=2).encode()
    assert parse_reading(bytearray(pretty)) == parse_reading(VALID)
    assert parse_reading(memoryview(VALID)) == parse_reading(VALID)


@pytest.mark.parametrize(
    "overrides",
    [
        {"seq": 0, "ts": 0, "producedWh": 0, "consumedWh": 0, "powerW": 0},
        {"seq": 2**64 - 1, "ts": 2**64 - 1, "producedWh": 2**64 - 1, "consumedWh": 2**64 - 1, "powerW": 2**32 - 1},
    ],
    ids=["zeros", "maxima"],
)
def test_parse_reading_accepts_range_bounds(overrides):
    reading = parse_reading(encode(valid_message(**overrides))).reading
    assert (reading.seq, reading.ts, reading.produced_wh, reading.consumed_wh, reading.power_w) == (
        overrides["seq"],
        overrides["ts"],
        overrides["producedWh"],
        overrides["consumedWh"],
        overrides["powerW"],
    )


def test_parse_reading_size_limit_is_inclusive_and_configurable():
    padded = VALID[:-1] + b" " * (DEFAULT_MAX_PAYLOAD_BYTES - len(VALID)) + b"}"
    assert len(padded) == DEFAULT_MAX_PAYLOAD_BYTES
    assert parse_reading(padded) == parse_reading(VALID)
    with pytest.raises(RejectedReading) as rejected:
        parse_reading(padded + b" ")
    assert rejected.value.reason is Reason.TOO_LARGE
    with pytest.raises(RejectedReading) as rejected:
        parse_reading(VALID, max_bytes=len(VALID) - 1)
    assert rejected.value.reason is Reason.TOO_LARGE
    assert parse_reading(padded + b" " * 100, max_bytes=4096) == parse_reading(VALID)


@pytest.mark.parametrize(
    "payload",
    [b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b'{"seq":' + b"9" * 5_000 + b"}"],
    ids=["deep_array", "deep_object", "5000_digit_integer"],
)
def test_parse_reading_with_raised_limit_still_rejects_pathological_json(payload):
    with pytest.raises(RejectedReading) as rejected:
        parse_reading(payload, max_bytes=1_000_000)
    assert rejected.value.reason is Reason.BAD_JSON


def test_deep_json_is_refused_whatever_the_recursion_limit():
    """The answer must not depend on sys.getrecursionlimit(), which other libraries raise."""
    deep = b"[" * 50_000 + b"]" * 50_000
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200_000)
    try:
        with pytest.raises(RejectedReading) as rejected:
            parse_reading(deep, max_bytes=1_000_000)
    finally:
        sys.setrecursionlimit(limit)
    assert rejected.value.reason is Reason.BAD_JSON and "deeper than" in rejected.value.detail


def test_nesting_depth_counts_containers_not_brackets_in_strings():
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    with pytest.raises(RejectedReading) as rejected:
        parse_reading(at_limit)
    assert rejected.value.reason is Reason.BAD_SCHEMA  # parsed, then refused as not an object
    with pytest.raises(RejectedReading) as rejected:
        parse_reading(b"[" + at_limit + b"]")
    assert rejected.value.reason is Reason.BAD_JSON
    brackets_in_a_string = b'{"meter": "' + b"[{" * 40 + b'\\"[["}'
    with pytest.raises(RejectedReading) as rejected:
        parse_reading(brackets_in_a_string)
    assert rejected.value.reason is Reason.BAD_SCHEMA


def test_parse_reading_refuses_non_bytes_as_programming_error():
    with pytest.raises(TypeError):
        parse_reading(VALID.decode())  # type: ignore[arg-type]


def test_reasons_are_stable_strings():
    assert {reason.value for reason in Reason} == {
        "too_large",
        "bad_json",
        "bad_schema",
        "bad_signature",
        "wrong_topic",
        "unknown_meter",
        "inactive_meter",
        "wrong_signer",
        "replayed_seq",
        "register_backwards",
        "future_timestamp",
        "stale_timestamp",
        "impossible_power",
    }
    assert RejectedReading("replayed_seq", "seq 3 <= 5").reason is Reason.REPLAYED_SEQ
    with pytest.raises(ValueError):
        RejectedReading("made_up", "no such reason")


# --- fuzzing: nothing but RejectedReading escapes --------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
near_valid = st.builds(
    lambda field, value: encode(valid_message(**{field: value})) if field else VALID,
    st.sampled_from([None, "meter", "seq", "ts", "producedWh", "consumedWh", "powerW", "signature", "extra"]),
    json_values,
)


def mutate(payload: bytes, position: int, replacement: bytes) -> bytes:
    position %= len(payload) + 1
    return payload[:position] + replacement + payload[position + 1 :]


@settings(max_examples=400, deadline=None)
@given(
    payload=st.one_of(
        st.binary(max_size=1_100),
        json_values.map(lambda value: json.dumps(value).encode()),
        near_valid,
        st.builds(mutate, st.just(VALID), st.integers(min_value=0), st.binary(max_size=3)),
    )
)
def test_parse_reading_raises_only_rejected_reading(payload):
    try:
        signed = parse_reading(payload)
    except RejectedReading as rejected:
        assert isinstance(rejected.reason, Reason)
    else:
        assert isinstance(signed, SignedReading)
        assert len(signed.signature) == 65


# --- topics ------------------------------------------------------------------------------------


def test_encode_reading_is_the_compact_payload_that_parses_back():
    signed = parse_reading(VALID)
    assert encode_reading(signed) == VALID  # same fields, same order, no spaces: what the meters publish
    assert list(reading_json(signed)) == list(READING_FIELDS)
    assert parse_reading(encode_reading(signed)) == signed


def test_readings_topic_is_what_the_oracle_subscribes_to_and_reads():
    topic = readings_topic(COMMUNITY, METER)
    assert topic == f"vatio/{COMMUNITY}/meters/{METER}/readings"
    assert meter_from_topic(topic, COMMUNITY) == METER
    assert readings_subscription(COMMUNITY).replace("+", METER) == topic


def test_meter_from_topic_returns_checksummed_meter():
    assert meter_from_topic(f"vatio/{COMMUNITY}/meters/{METER.lower()}/readings", COMMUNITY) == METER
    assert meter_from_topic(f"vatio/{COMMUNITY}/meters/{METER}/readings", COMMUNITY) == METER


@pytest.mark.parametrize(
    "topic",
    [
        f"vatio/othercommunity/meters/{METER}/readings",
        f"vatio/{COMMUNITY}/meters/{METER}/reading",
        f"vatio/{COMMUNITY}/meters/{METER}/readings/",
        f"/vatio/{COMMUNITY}/meters/{METER}/readings",
        f"vatio/{COMMUNITY}/meter/{METER}/readings",
        f"vatio/{COMMUNITY}/meters/{METER[:-1]}/readings",
        f"vatio/{COMMUNITY}/meters/{METER[2:]}/readings",
        f"vatio/{COMMUNITY}/meters/+/readings",
        f"$share/oracle/vatio/{COMMUNITY}/meters/{METER}/readings",
        f"Vatio/{COMMUNITY}/meters/{METER}/readings",
        "",
    ],
)
def test_meter_from_topic_rejects_foreign_topics(topic):
    with pytest.raises(RejectedReading) as rejected:
        meter_from_topic(topic, COMMUNITY)
    assert rejected.value.reason is Reason.WRONG_TOPIC


def test_readings_subscription_plain_and_shared():
    assert readings_subscription(COMMUNITY) == f"vatio/{COMMUNITY}/meters/+/readings"
    shared = readings_subscription(COMMUNITY, share_group="oracle")
    assert shared == f"$share/oracle/vatio/{COMMUNITY}/meters/+/readings"
    for bad in ("", "a/b", "+", "#"):
        with pytest.raises(ValueError):
            readings_subscription(bad)
        with pytest.raises(ValueError):
            meter_from_topic(f"vatio/{COMMUNITY}/meters/{METER}/readings", bad)
    with pytest.raises(ValueError):
        readings_subscription(COMMUNITY, share_group="a/b")


def test_check_topic_matches():
    signed = parse_reading(VALID)
    check_topic_matches(meter_from_topic(f"vatio/{COMMUNITY}/meters/{METER.lower()}/readings", COMMUNITY), signed)
    check_topic_matches(METER.lower(), signed.reading)
    other = Account.from_key(b"\x22" * 32).address
    with pytest.raises(RejectedReading) as rejected:
        check_topic_matches(other, signed)
    assert rejected.value.reason is Reason.WRONG_TOPIC
