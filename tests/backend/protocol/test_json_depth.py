"""The JSON depth measure that every outside input passes before it is parsed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.protocol.json_depth import nesting_depth, nests_deeper_than


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"1", 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[{{{"}', 1),  # brackets in a string do not count
        (b'{"a": "\\"[[", "b": [[]]}', 3),  # nor after an escaped quote inside the string
        (b'["\\\\", [[]]]', 3),  # an escaped backslash ends its escape: the quote after it closes the string
    ],
)
def test_nesting_depth(raw, depth):
    assert nesting_depth(raw) == depth


def test_a_hostile_document_is_not_read_to_its_end():
    assert nesting_depth(b"[" * 1_000_000, stop_above=16) == 17
    assert nests_deeper_than(b"[" * 1_000_000, 16)
    assert not nests_deeper_than(b"[" * 16 + b"]" * 16, 16)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\ab'), children, max_size=3)
    ),
    max_leaves=20,
)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_nesting_depth_agrees_with_the_parsed_value(value):
    assert nesting_depth(json.dumps(value).encode()) == _depth(value)
