"""The EIP-4361 parser and formatter (pure)."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.web.siwe import SiweError, SiweMessage, check_message, format_message, parse_message

ADDRESS = Account.create().address


def _message(**fields) -> SiweMessage:
    base = dict(domain="vatio.example", address=ADDRESS, uri="https://vatio.example", version="1", chain_id=31337,
                nonce="abcdef0123456789", issued_at=1_800_000_000)
    return SiweMessage(**{**base, **fields})


@pytest.mark.parametrize("fields", [
    {},
    {"statement": "Sign in to Vatio."},
    {"scheme": "https", "expiration_time": 1_800_000_300, "not_before": 1_800_000_000, "request_id": "r-1",
     "resources": ("https://vatio.example/terms", "ipfs://bafy")},
])
def test_format_and_parse_round_trip(fields):
    message = _message(**fields)
    assert parse_message(format_message(message)) == message


def test_wallet_spelling_without_statement_is_accepted():
    # Some wallets write one blank line where the grammar has two when there is no statement.
    text = format_message(_message()).replace("\n\n\nURI:", "\n\nURI:")
    assert parse_message(text).statement is None


@pytest.mark.parametrize("text", [
    "vatio.example wants you to sign in with your Ethereum account:\n0x12\n\nURI: https://x",
    format_message(_message()).replace("Chain ID: 31337", "Chain ID: 0x7a69"),
    format_message(_message()).replace("Nonce: abcdef0123456789", "Nonce: short"),
    format_message(_message()).replace("Issued At: 2027-01-15T08:00:00Z", "Issued At: yesterday"),
    format_message(_message()).replace("URI: https://vatio.example\n", ""),
    format_message(_message()) + "\nURI: https://again",
    format_message(_message()).replace("Version: 1\n", "") + "\nVersion: 1",  # out of order
])
def test_malformed_messages(text):
    with pytest.raises(SiweError) as error:
        parse_message(text)
    assert error.value.code == "invalid_message"


def test_checks():
    message = _message(expiration_time=1_800_000_300)
    check = dict(domains=("vatio.example",), chain_id=31337, now=1_800_000_100, max_age_s=300, clock_skew_s=60)
    check_message(message, **check)
    for changed, code in ((dict(domains=("other.example",)), "wrong_domain"), (dict(chain_id=1), "wrong_chain"),
                          (dict(now=1_800_000_300), "expired"), (dict(now=1_799_999_000), "not_yet_valid")):
        with pytest.raises(SiweError) as error:
            check_message(message, **{**check, **changed})
        assert error.value.code == code
