"""Coefficients compared on a simulated shared installation: what is self-consumed, left unused, and billed.

Each member's bill is the energy part of a flat tariff: grid import at retail, minus unused allocation sent to
the grid at the compensation price; or, with the market, the leftover first sold to members short in the same
hour by backend/market's pay-as-clear solver (uniform price between compensation and retail, price takers),
the rest to and from the grid. Fixed and network terms are the same in every case and left out.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from backend.coefficients.allocation import allocate_hours
from backend.market.community_types import Position, Tariffs
from backend.market.mechanisms.pay_as_clear import pay_as_clear


@dataclass(frozen=True)
class Outcome:
    """One set of coefficients over the simulated hours."""

    name: str
    market: bool
    production_wh: int
    self_consumed_wh: int
    unused_wh: int  # allocated, not used by its member
    sold_in_market_wh: int  # of the unused, sold to members short in the same hour
    grid_import_wh: int
    bills: dict[str, int]  # payment units per member, positive = pays

    @property
    def self_consumed_share(self) -> float:
        return self.self_consumed_wh / self.production_wh if self.production_wh else 0.0

    def row(self) -> dict[str, object]:
        return {
            "coefficients": self.name,
            "market": self.market,
            "self_consumed_kwh": round(self.self_consumed_wh / 1000, 1),
            "self_consumed_share": round(self.self_consumed_share, 4),
            "unused_kwh": round(self.unused_wh / 1000, 1),
            "sold_in_market_kwh": round(self.sold_in_market_wh / 1000, 1),
            "grid_import_kwh": round(self.grid_import_wh / 1000, 1),
            "total_bill_eur": round(sum(self.bills.values()) / 1e6, 2),
            "mean_bill_eur": round(sum(self.bills.values()) / len(self.bills) / 1e6, 2),
        }


def evaluate(
    name: str,
    members: Sequence[str],
    production_wh: np.ndarray,
    consumption_wh: np.ndarray,
    coefficients_micro: np.ndarray,
    tariffs: Tariffs,
    market: bool,
) -> Outcome:
    """Allocate every hour's production by the coefficients and bill the members, with or without the market."""
    allocated = allocate_hours(production_wh, coefficients_micro)
    consumption = np.asarray(consumption_wh, dtype=np.int64)
    self_consumed = np.minimum(allocated, consumption)
    unused = allocated - self_consumed
    deficit = consumption - self_consumed
    bills = (deficit.sum(axis=0) * tariffs.retail_price - unused.sum(axis=0) * tariffs.feed_in_price) / 1000
    bills = np.round(bills).astype(np.int64)
    sold = 0
    grid_import = int(deficit.sum())
    if market:
        both = np.flatnonzero((unused.sum(axis=1) > 0) & (deficit.sum(axis=1) > 0))
        for hour in both:
            positions = [
                Position(m, int(u), int(d)) for m, u, d in zip(members, unused[hour], deficit[hour], strict=True)
            ]
            settled = pay_as_clear(positions, tariffs)
            before = np.round((deficit[hour] * tariffs.retail_price - unused[hour] * tariffs.feed_in_price) / 1000)
            bills += np.array([b.bill for b in settled], dtype=np.int64) - before.astype(np.int64)
            traded = sum(b.sold_community_wh for b in settled)
            sold += traded
            grid_import -= traded
    return Outcome(
        name,
        market,
        int(np.asarray(production_wh).sum()),
        int(self_consumed.sum()),
        int(unused.sum()),
        sold,
        grid_import,
        dict(zip(members, bills.tolist(), strict=True)),
    )
