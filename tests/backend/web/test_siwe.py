"""The EIP-4361 parser and formatter (pure)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from backend.web.siwe import (
    SECP256K1_N,
    SiweError,
    SiweMessage,
    check_message,
    format_message,
    parse_message,
    recover_signer,
)

ADDRESS = Account.create().address


def _message(**fields) -> SiweMessage:
    base = dict(
        domain="vatio.example",
        address=ADDRESS,
        uri="https://vatio.example",
        version="1",
        chain_id=31337,
        nonce="abcdef0123456789",
        issued_at=1_800_000_000,
    )
    return SiweMessage(**{**base, **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"statement": "Sign in to Vatio."},
        {
            "scheme": "https",
            "expiration_time": 1_800_000_300,
            "not_before": 1_800_000_000,
            "request_id": "r-1",
            "resources": ("https://vatio.example/terms", "ipfs://bafy"),
        },
    ],
)
def test_format_and_parse_round_trip(fields):
    message = _message(**fields)
    assert parse_message(format_message(message)) == message


def test_wallet_spelling_without_statement_is_accepted():
    # Some wallets write one blank line where the grammar has two when there is no statement.
    text = format_message(_message()).replace("\n\n\nURI:", "\n\nURI:")
    assert parse_message(text).statement is None


@pytest.mark.parametrize(
    "text",
    [
        "vatio.example wants you to sign in with your Ethereum account:\n0x12\n\nURI: https://x",
        format_message(_message()).replace("Chain ID: 31337", "Chain ID: 0x7a69"),
        format_message(_message()).replace("Nonce: abcdef0123456789", "Nonce: short"),
        format_message(_message()).replace("Issued At: 2027-01-15T08:00:00Z", "Issued At: yesterday"),
        format_message(_message()).replace("URI: https://vatio.example\n", ""),
        format_message(_message()) + "\nURI: https://again",
        format_message(_message()).replace("Version: 1\n", "") + "\nVersion: 1",  # out of order
    ],
)
def test_malformed_messages(text):
    with pytest.raises(SiweError) as error:
        parse_message(text)
    assert error.value.code == "invalid_message"


def test_checks():
    message = _message(expiration_time=1_800_000_300)
    check = dict(domains=("vatio.example",), chain_id=31337, now=1_800_000_100, max_age_s=300, clock_skew_s=60)
    check_message(message, **check)
    for changed, code in (
        (dict(domains=("other.example",)), "wrong_domain"),
        (dict(chain_id=1), "wrong_chain"),
        (dict(now=1_800_000_300), "expired"),
        (dict(now=1_799_999_000), "not_yet_valid"),
    ):
        with pytest.raises(SiweError) as error:
            check_message(message, **{**check, **changed})
        assert error.value.code == code


@pytest.mark.parametrize(
    "fields",
    [
        {"statement": "Sign in\x00 to Vatio."},
        {"statement": "Sign in\x1b[8m to Vatio."},
        {"statement": "Sign in to \u202eoitaV."},
        {"statement": "Sign in\u2028to Vatio."},
        {"request_id": "r\x07"},
        {"scheme": "javascript"},
    ],
)
def test_control_characters_and_odd_schemes_are_malformed(fields):
    with pytest.raises(SiweError) as error:
        parse_message(format_message(_message(**fields)))
    assert error.value.code == "invalid_message"


def test_accented_statement_is_fine():
    message = _message(statement="Inicia sesión en Vatio, tu comunidad energética.")
    assert parse_message(format_message(message)) == message


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example",
        "javascript://vatio.example/%0Aalert(1)",
        "http://user@vatio.example",
        "https://vatio.example.evil",
        "data:text/html,x",
        "https://[::1",
    ],
)
def test_uri_must_be_on_the_sites_domain(uri):
    check = dict(domains=("vatio.example",), chain_id=31337, now=1_800_000_100, max_age_s=300, clock_skew_s=60)
    check_message(_message(uri="http://vatio.example/login"), **check)
    with pytest.raises(SiweError) as error:
        check_message(_message(uri=uri), **check)
    assert error.value.code == "wrong_uri"


def test_high_s_signature_is_refused():
    account = Account.create()
    text = format_message(_message(address=account.address))
    signed = account.sign_message(encode_defunct(text=text))
    assert recover_signer(text, "0x" + signed.signature.hex().removeprefix("0x")) == account.address
    twin_s = SECP256K1_N - signed.s
    twin = "0x" + (signed.r.to_bytes(32, "big") + twin_s.to_bytes(32, "big") + bytes([55 - signed.v])).hex()
    assert Account.recover_message(encode_defunct(text=text), signature=twin) == account.address  # malleable
    with pytest.raises(SiweError) as error:
        recover_signer(text, twin)
    assert error.value.code == "bad_signature"
    zero_s = "0x" + (signed.r.to_bytes(32, "big") + bytes(32) + bytes([signed.v])).hex()
    with pytest.raises(SiweError):
        recover_signer(text, zero_s)
