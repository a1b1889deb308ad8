"""Indexed event arguments read straight from their topic give what eth-abi gives, and
a topic eth-abi refuses (padding that is not zero) is still refused."""

from __future__ import annotations

import pytest
from eth_abi import decode
from eth_abi.exceptions import NonEmptyPaddingBytes
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.audit.logs import _topic_value

WIDTHS = {"address": 20, "bytes32": 32, "uint8": 1, "uint40": 5, "uint64": 8, "uint256": 32}


def reference(kind: str, raw: bytes):
    value = decode([kind], raw)[0]
    return to_checksum_address(value) if kind == "address" else value


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(WIDTHS)), st.data())
def test_a_topic_reads_as_eth_abi_decodes_it(kind, data):
    width = WIDTHS[kind]
    raw = bytes(32 - width) + data.draw(st.binary(min_size=width, max_size=width))
    value = _topic_value(kind, "0x" + raw.hex())
    assert value == reference(kind, raw) and type(value) is type(reference(kind, raw))


@pytest.mark.parametrize("kind", ["address", "uint8", "uint64"])
def test_a_topic_with_dirty_padding_is_refused(kind):
    raw = b"\x01" + bytes(31)
    with pytest.raises(NonEmptyPaddingBytes):
        _topic_value(kind, "0x" + raw.hex())


def test_other_static_kinds_still_go_through_eth_abi():
    assert _topic_value("bool", "0x" + (bytes(31) + b"\x01").hex()) is True
    assert _topic_value("int64", "0x" + (b"\xff" * 32).hex()) == -1
    assert _topic_value("string", "0x" + (b"\xab" * 32).hex()) == b"\xab" * 32  # only its hash is indexed
