"""Rounding planned shares to millionths: rows sum to 1 exactly, bounds hold, ties go to the first member."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.coefficients.rounding import MICRO, round_shares


def test_thirds_round_with_the_extra_millionth_to_the_first_member():
    assert round_shares(np.array([[1 / 3, 1 / 3, 1 / 3]])).tolist() == [[333_334, 333_333, 333_333]]


def test_the_largest_fraction_gets_the_millionth():
    assert round_shares(np.array([[0.1000004, 0.2000007, 0.6999989]])).tolist() == [[100_000, 200_001, 699_999]]


def test_a_member_at_its_upper_bound_gets_no_extra_millionth():
    upper = np.array([333_333, MICRO, MICRO])
    rounded = round_shares(np.array([[1 / 3, 1 / 3, 1 / 3]]), upper_micro=upper)
    assert rounded.tolist() == [[333_333, 333_334, 333_333]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=20), min_size=1, max_size=5).filter(
        lambda rows: all(sum(r) > 0 for r in rows) and len({len(r) for r in rows}) == 1
    )
)
def test_rows_sum_to_one_million_and_stay_within_one_millionth(rows):
    shares = np.array(rows) / np.array(rows).sum(axis=1, keepdims=True)
    rounded = round_shares(shares)
    assert np.all(rounded.sum(axis=1) == MICRO)
    assert np.all(np.abs(rounded - shares * MICRO) < 1 + 1e-6)


def test_rows_not_summing_to_one_are_refused():
    with pytest.raises(ValueError, match="sum to 0.9"):
        round_shares(np.array([[0.5, 0.4]]))
