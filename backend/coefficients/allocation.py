"""Share an installation's production among members by their coefficients, in integer Wh.

The remainder rule (largest remainder, Hamilton's method), used for energy here and for the planner's
coefficients in :mod:`backend.coefficients.rounding`:

1. each member gets the floor of its exact quota ``E * c_i / C`` (integer arithmetic, no floats);
2. the ``E - sum(floors)`` Wh left over (fewer than the number of members) go one each to the members with
   the largest fractional parts ``(E * c_i) mod C``;
3. equal fractional parts go to the smaller key first (the member's CUPS), so the result never depends on the
   order the members are given in.

Allocations therefore sum to ``E`` exactly and each lies within 1 Wh of ``c_i / C * E``.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MemberAllocation:
    """One member's part of one interval's production, Wh."""

    member: str
    allocated_wh: int  # its share of the production
    self_consumed_wh: int  # the allocation up to its consumption
    unused_wh: int  # allocated, not consumed: the energy it may sell
    deficit_wh: int  # consumption the allocation does not cover


def largest_remainder(total: int, weights: Sequence[int], keys: Sequence[str]) -> list[int]:
    """Split the integer ``total`` in proportion to integer ``weights``; the parts sum to ``total`` exactly."""
    if total < 0:
        raise ValueError(f"the total to share must be at least 0, got {total}")
    if len(weights) != len(keys):
        raise ValueError(f"{len(weights)} weights for {len(keys)} keys")
    if len(set(keys)) != len(keys):
        raise ValueError("the keys must be distinct")
    if any(w < 0 for w in weights):
        raise ValueError(f"weights must be at least 0, got {list(weights)}")
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("the weights must not all be 0")
    parts = [total * w // weight_sum for w in weights]
    left = total - sum(parts)
    # Largest fractional part first, then the smaller key.
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % weight_sum), keys[i]))
    for i in order[:left]:
        parts[i] += 1
    return parts


def allocate(production_wh: int, coefficients: Mapping[str, int]) -> dict[str, int]:
    """Each member's allocated Wh of ``production_wh``, from its coefficient in integer units (e.g. millionths)."""
    members = sorted(coefficients)
    parts = largest_remainder(production_wh, [coefficients[m] for m in members], members)
    return dict(zip(members, parts, strict=True))


def settle_allocation(member: str, allocated_wh: int, consumed_wh: int) -> MemberAllocation:
    """Split one member's allocation into self-consumed and unused energy, and what it still lacks."""
    if allocated_wh < 0 or consumed_wh < 0:
        raise ValueError(f"{member}: allocated and consumed Wh must be at least 0, got {allocated_wh}, {consumed_wh}")
    self_consumed = min(allocated_wh, consumed_wh)
    return MemberAllocation(
        member, allocated_wh, self_consumed, allocated_wh - self_consumed, consumed_wh - self_consumed
    )


def allocate_interval(
    production_wh: int, coefficients: Mapping[str, int], consumed_wh: Mapping[str, int]
) -> list[MemberAllocation]:
    """Allocate one interval's production and settle each member against its consumption (sorted by member)."""
    if set(consumed_wh) != set(coefficients):
        unknown = sorted(set(consumed_wh) ^ set(coefficients))
        raise ValueError(f"consumption and coefficients name different members: {unknown}")
    allocated = allocate(production_wh, coefficients)
    return [settle_allocation(m, allocated[m], consumed_wh[m]) for m in sorted(allocated)]


def allocate_hours(production_wh: np.ndarray, coefficients_micro: np.ndarray) -> np.ndarray:
    """:func:`allocate` for many hours at once: ``[hours]`` Wh and ``[hours, members]`` millionths -> Wh.

    Members are the columns, in key order (sorted CUPS), so a tie goes to the earlier column.
    """
    production = np.asarray(production_wh, dtype=np.int64)
    coefficients = np.asarray(coefficients_micro, dtype=np.int64)
    if np.any(production < 0):
        raise ValueError("production must be at least 0")
    totals = coefficients.sum(axis=1)
    if np.any(totals <= 0):
        raise ValueError("every hour needs a coefficient above 0")
    quota = production[:, None] * coefficients  # exact: Wh below 1e12 times millionths fit in int64
    parts = quota // totals[:, None]
    fractions = quota % totals[:, None]
    left = production - parts.sum(axis=1)
    order = np.argsort(-fractions, axis=1, kind="stable")  # largest fraction first, earlier column on ties
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(coefficients.shape[1]), order.shape).copy(), axis=1)
    return parts + (ranks < left[:, None])
