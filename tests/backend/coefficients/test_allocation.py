"""Allocation of an interval's production: exact sums, the remainder rule, and each member's split."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.coefficients.allocation import (
    allocate,
    allocate_hours,
    allocate_interval,
    largest_remainder,
    settle_allocation,
)
from backend.coefficients.rounding import MICRO


@st.composite
def coefficient_sets(draw):
    """Millionths summing to 1 (the file's precision) for 1..30 members."""
    n = draw(st.integers(1, 30))
    cuts = sorted(draw(st.lists(st.integers(0, MICRO), min_size=n - 1, max_size=n - 1)))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, MICRO], strict=True)]
    return {f"ES{number:016d}XX": share for number, share in enumerate(shares)}


@settings(max_examples=300, deadline=None)
@given(energy_wh=st.integers(0, 10**9), coefficients=coefficient_sets())
def test_allocations_sum_to_the_production_and_stay_within_one_wh(energy_wh, coefficients):
    allocated = allocate(energy_wh, coefficients)
    assert sum(allocated.values()) == energy_wh
    for member, share in coefficients.items():
        assert abs(allocated[member] - share * energy_wh / MICRO) < 1


def test_the_remainder_goes_to_the_largest_fractions_then_the_smaller_key():
    # 10 Wh in thirds: quotas 3.33 each; the one Wh left goes to the smallest key.
    assert allocate(10, {"b": 1, "a": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    # 10 Wh at 0.25 / 0.35 / 0.40: quotas 2.5, 3.5, 4.0 -> floors 2, 3, 4; one Wh left, tie at .5 -> key "x" < "y".
    assert largest_remainder(10, [250_000, 350_000, 400_000], ["x", "y", "z"]) == [3, 3, 4]
    assert largest_remainder(10, [250_000, 350_000, 400_000], ["y", "x", "z"]) == [2, 4, 4]
    # The largest fraction wins over the key: quotas 1.2 and 1.8 of 3 Wh.
    assert largest_remainder(3, [400_000, 600_000], ["a", "b"]) == [1, 2]


def test_the_result_does_not_depend_on_the_members_order():
    forwards = allocate(1001, {"a": 333_333, "b": 333_333, "c": 333_334})
    backwards = allocate(1001, dict(reversed(list({"a": 333_333, "b": 333_333, "c": 333_334}.items()))))
    assert forwards == backwards


def test_settle_splits_the_allocation_against_consumption():
    short = settle_allocation("a", allocated_wh=300, consumed_wh=500)
    assert (short.self_consumed_wh, short.unused_wh, short.deficit_wh) == (300, 0, 200)
    long = settle_allocation("b", allocated_wh=700, consumed_wh=250)
    assert (long.self_consumed_wh, long.unused_wh, long.deficit_wh) == (250, 450, 0)


def test_allocate_interval_settles_every_member():
    rows = allocate_interval(1000, {"a": 600_000, "b": 400_000}, {"a": 100, "b": 900})
    assert [(r.member, r.allocated_wh, r.self_consumed_wh, r.unused_wh, r.deficit_wh) for r in rows] == [
        ("a", 600, 100, 500, 0),
        ("b", 400, 400, 0, 500),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: largest_remainder(-1, [1], ["a"]), "at least 0"),
        (lambda: largest_remainder(5, [0, 0], ["a", "b"]), "not all be 0"),
        (lambda: largest_remainder(5, [1, 1], ["a", "a"]), "distinct"),
        (lambda: settle_allocation("a", -1, 0), "at least 0"),
        (lambda: allocate_interval(10, {"a": MICRO}, {"b": 3}), "different members"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@settings(max_examples=100, deadline=None)
@given(energies=st.lists(st.integers(0, 10**8), min_size=1, max_size=5), coefficients=coefficient_sets())
def test_the_vectorised_allocation_is_the_same_rule(energies, coefficients):
    members = sorted(coefficients)
    table = np.tile([coefficients[m] for m in members], (len(energies), 1))
    parts = allocate_hours(np.array(energies), table)
    for energy, row in zip(energies, parts.tolist(), strict=True):
        assert row == [allocate(energy, coefficients)[m] for m in members]
