"""The baseline every mechanism is compared with: no community at all."""

from collections.abc import Sequence

from backend.market.community_types import HouseholdBill, Position, Tariffs, validate_interval
from backend.market.mechanisms.rounding import grid_cost


def no_community_bills(positions: Sequence[Position], tariffs: Tariffs) -> list[HouseholdBill]:
    """Bill each household alone against the grid (a community of one, same rounding)."""
    validate_interval(positions, tariffs)
    return [
        HouseholdBill(
            household=position.household,
            bought_community_wh=0,
            sold_community_wh=0,
            grid_import_wh=position.deficit_wh,
            grid_export_wh=position.surplus_wh,
            bill=grid_cost(position.deficit_wh, position.surplus_wh, tariffs),
        )
        for position in positions
    ]
