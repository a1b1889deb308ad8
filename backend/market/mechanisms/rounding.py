"""Exact money and energy arithmetic, rounded once per interval to integers.

Every mechanism first computes each household's bill as an exact fraction of a
payment unit, then rounds all of them together:

- The community's total is its net cost against the grid,
  ``ceil((import_wh * retail - export_wh * feed_in) / 1000)``: the grid rounds
  in its own favour, once, on the net amount (:func:`grid_cost`). A household
  alone with the grid is a community of one and is billed the same way.
- That total is shared by the largest-remainder method (:func:`round_to_total`):
  each household gets its exact bill rounded down, and the units still
  missing go, one each, to the households with the largest fractional parts
  (earlier in the input on ties). So every bill is its exact value rounded
  down or up, and the bills add up to the community total exactly.

Internal payments between households are exact fractions that cancel, so the
sum of the exact bills is the exact grid cost and the rounding remainder is
always less than one unit per household.
"""

import math
from collections.abc import Sequence
from fractions import Fraction

from backend.market.community_types import Tariffs

WH_PER_KWH = 1000


def grid_cost(import_wh: int, export_wh: int, tariffs: Tariffs) -> int:
    """Return what the grid charges for these flows: positive pays, negative is paid."""
    milli_units = import_wh * tariffs.retail_price - export_wh * tariffs.feed_in_price
    return -(-milli_units // WH_PER_KWH)  # ceiling division


def exact_grid_cost(import_wh: int, export_wh: int, tariffs: Tariffs) -> Fraction:
    """Return the unrounded cost of these grid flows in payment units."""
    return Fraction(import_wh * tariffs.retail_price - export_wh * tariffs.feed_in_price, WH_PER_KWH)


def round_to_total(exact: Sequence[Fraction], total: int) -> list[int]:
    """Round each exact amount down or up so that the results sum to ``total``.

    ``total`` must lie between the sum of the floors and the sum of the
    ceilings. Units are added to the largest fractional parts first, earlier
    index first on ties.
    """
    floors = [math.floor(value) for value in exact]
    missing = total - sum(floors)
    fractional = [value - floor for value, floor in zip(exact, floors, strict=True)]
    if not 0 <= missing <= sum(1 for part in fractional if part):
        raise ValueError(f"cannot round {len(exact)} amounts summing to {sum(exact)} to a total of {total}")
    order = sorted(range(len(exact)), key=lambda index: (-fractional[index], index))
    for index in order[:missing]:
        floors[index] += 1
    return floors


def apportion_wh(total_wh: int, weights_wh: Sequence[int]) -> list[int]:
    """Split ``total_wh`` in proportion to ``weights_wh`` (largest remainder, earlier first on ties)."""
    weight_sum = sum(weights_wh)
    if weight_sum == 0:
        if total_wh:
            raise ValueError(f"cannot split {total_wh} Wh over zero weights")
        return [0] * len(weights_wh)
    return round_to_total([Fraction(total_wh * weight, weight_sum) for weight in weights_wh], total_wh)


def round_bills(exact_bills: Sequence[Fraction], import_wh: int, export_wh: int, tariffs: Tariffs) -> list[int]:
    """Round exact bills so that they sum to the grid cost of the community's flows.

    Raises RuntimeError if the exact bills do not already sum to the exact
    grid cost, i.e. if internal payments did not cancel: a mechanism bug.
    """
    exact_total = exact_grid_cost(import_wh, export_wh, tariffs)
    if sum(exact_bills, Fraction(0)) != exact_total:
        raise RuntimeError(f"exact bills sum to {sum(exact_bills)}, grid flows cost {exact_total}")
    return round_to_total(exact_bills, grid_cost(import_wh, export_wh, tariffs))
