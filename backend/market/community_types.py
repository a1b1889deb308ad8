"""Value types shared by every community settlement mechanism.

Units (DESIGN.md, "Units and identities"), never mixed:

- energy: integer Wh;
- money: integer payment base units (6 decimals, 1 € = 1_000_000);
- prices: payment base units per kWh (0.12 €/kWh = 120_000).

The money for ``q`` Wh at ``p`` units/kWh is ``q * p / 1000`` units; how each
mechanism rounds it is documented in :mod:`backend.market.mechanisms.rounding`.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral


def _require_wh(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer number of Wh, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return int(value)


def _require_price(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer price in payment units/kWh, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return int(value)


@dataclass(frozen=True)
class Position:
    """One household's metered energy in one interval, with optional limit prices."""

    household: str  # 0x address
    produced_wh: int
    consumed_wh: int
    # Limit for buying its deficit (payment units/kWh); None = price taker (retail).
    bid_price: int | None = None
    # Limit for selling its surplus; None = price taker (feed-in).
    ask_price: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.household, str) or not self.household:
            raise ValueError(f"household must be a non-empty address string, got {self.household!r}")
        # Integral values (numpy ints from a DataFrame included) are stored as plain int.
        object.__setattr__(self, "produced_wh", _require_wh("produced_wh", self.produced_wh))
        object.__setattr__(self, "consumed_wh", _require_wh("consumed_wh", self.consumed_wh))
        if self.bid_price is not None:
            object.__setattr__(self, "bid_price", _require_price("bid_price", self.bid_price))
        if self.ask_price is not None:
            object.__setattr__(self, "ask_price", _require_price("ask_price", self.ask_price))

    @property
    def surplus_wh(self) -> int:
        """Net energy it can sell this interval (0 when short)."""
        return max(0, self.produced_wh - self.consumed_wh)

    @property
    def deficit_wh(self) -> int:
        """Net energy it must buy this interval (0 when long)."""
        return max(0, self.consumed_wh - self.produced_wh)


@dataclass(frozen=True)
class Tariffs:
    """Grid prices that bound every community price, in payment units/kWh."""

    retail_price: int  # grid import price
    feed_in_price: int  # grid export price

    def __post_init__(self) -> None:
        object.__setattr__(self, "retail_price", _require_price("retail_price", self.retail_price))
        object.__setattr__(self, "feed_in_price", _require_price("feed_in_price", self.feed_in_price))
        if self.feed_in_price > self.retail_price:
            raise ValueError(
                f"feed_in_price ({self.feed_in_price}) must not exceed retail_price "
                f"({self.retail_price}): households could buy from the grid to sell back to it"
            )


GridTariffs = Tariffs


@dataclass(frozen=True)
class HouseholdBill:
    """What one household bought, sold and pays in one interval."""

    household: str
    bought_community_wh: int
    sold_community_wh: int
    grid_import_wh: int
    grid_export_wh: int
    bill: int  # positive = pays, negative = is paid; payment units


Mechanism = Callable[[Sequence[Position], Tariffs], list[HouseholdBill]]


def validate_interval(positions: Sequence[Position], tariffs: Tariffs) -> None:
    """Raise ValueError unless the positions can be settled together under these tariffs.

    Each household appears once, and every limit price lies within
    [feed_in_price, retail_price]: a bid above retail or an ask below feed-in
    would trade worse than the grid, which bounds all community prices.
    """
    if not isinstance(tariffs, Tariffs):
        raise ValueError(f"tariffs must be a Tariffs, got {type(tariffs).__name__}")
    seen: set[str] = set()
    for position in positions:
        if not isinstance(position, Position):
            raise ValueError(f"positions must be Position objects, got {type(position).__name__}")
        if position.household in seen:
            raise ValueError(f"duplicate household {position.household} in one interval")
        seen.add(position.household)
        for name, limit in (("bid_price", position.bid_price), ("ask_price", position.ask_price)):
            if limit is not None and not tariffs.feed_in_price <= limit <= tariffs.retail_price:
                raise ValueError(
                    f"{position.household}: {name} {limit} is outside the grid tariffs "
                    f"[{tariffs.feed_in_price}, {tariffs.retail_price}]"
                )
