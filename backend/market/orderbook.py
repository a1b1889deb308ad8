"""What the pay-as-clear solver reads and writes, mirroring the contracts.

Units never mix: energy is integer Wh, money is payment base units (6
decimals), prices are payment units per kWh. Addresses are 0x strings; the
solver orders households by their numeric value, as the contract does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from backend.market.community_types import Tariffs

__all__ = ["Tariffs"]  # re-exported: one tariff type for the solver and the mechanisms

WH_PER_KWH = 1000
# Clearing prices move in ticks of 0.001 EUR/kWh, so q Wh at a price on the
# tick cost exactly q * price / 1000 payment units (CommunityRegistry.PRICE_TICK).
PRICE_TICK = 1000


class Side(IntEnum):
    """Same numbering as EnergyMarket.Side."""

    BID = 0
    ASK = 1


@dataclass(frozen=True)
class RestingOrder:
    """An on-chain limit order (EnergyMarket.Order)."""

    order_id: int
    owner: str
    side: Side
    limit_price: int
    amount_wh: int
    filled_wh: int = 0
    escrow: int = 0  # euros still escrowed by a bid
    valid_from: int = 0
    valid_to: int = 2**40 - 1
    open: bool = True

    @property
    def remaining_wh(self) -> int:
        return self.amount_wh - self.filled_wh

    def tradable_in(self, interval_id: int) -> bool:
        return self.open and self.remaining_wh > 0 and self.valid_from <= interval_id <= self.valid_to


@dataclass(frozen=True)
class Account:
    """A household's market account (EnergyMarket.Account); prices 0 = off."""

    balance: int = 0
    auto_sell_price: int = 0
    auto_buy_price: int = 0


@dataclass(frozen=True)
class MeteredEntry:
    """One household's metered energy over the interval (EnergyMarket.Entry)."""

    household: str
    produced_wh: int
    consumed_wh: int

    @property
    def surplus_wh(self) -> int:
        return max(self.produced_wh - self.consumed_wh, 0)

    @property
    def deficit_wh(self) -> int:
        return max(self.consumed_wh - self.produced_wh, 0)

    def as_tuple(self) -> tuple[str, int, int]:
        return (self.household, self.produced_wh, self.consumed_wh)


@dataclass(frozen=True)
class Fill:
    """One order's allocation (EnergyMarket.Fill). order_id 0 is the auto
    order of entries[auto_entry].household."""

    order_id: int
    auto_entry: int
    amount_wh: int

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.order_id, self.auto_entry, self.amount_wh)


@dataclass
class HouseholdOutcome:
    """What the interval means for one household, as the contract will apply it."""

    household: str
    surplus_wh: int = 0
    deficit_wh: int = 0
    sold_wh: int = 0
    bought_wh: int = 0
    received: int = 0  # euros credited to its market account
    paid: int = 0  # euros taken from its escrow or account
    credited_wh: int = 0  # unsold surplus minted to it as tokens
    burned_wh: int = 0  # held tokens burned against its deficit
    grid_import_wh: int = 0  # deficit left for the grid

    @property
    def net_paid(self) -> int:
        return self.paid - self.received


@dataclass
class Clearing:
    """The solver's answer for one interval, in the contract's terms."""

    interval_id: int
    clearing_price: int  # 0 when nothing trades
    entries: list[MeteredEntry]  # sorted by household address
    fills: list[Fill]
    outcomes: dict[str, HouseholdOutcome] = field(default_factory=dict)
    demand_wh: int = 0  # at the clearing price
    supply_wh: int = 0

    @property
    def traded_wh(self) -> int:
        return sum(o.sold_wh for o in self.outcomes.values())


def address_key(address: str) -> int:
    """The order the contract compares addresses in."""
    return int(address, 16)


def cost(amount_wh: int, price_per_kwh: int) -> int:
    """Payment units for amount_wh at a price on the tick (exact)."""
    return amount_wh * price_per_kwh // WH_PER_KWH


def ceil_cost(amount_wh: int, price_per_kwh: int) -> int:
    """Escrow for a bid: rounded up, as EnergyMarket._ceilCost."""
    return -(-amount_wh * price_per_kwh // WH_PER_KWH)
