"""Community settlement mechanisms, compared in ``vatio market compare``.

Each mechanism settles one interval's net positions and returns one
:class:`~backend.market.community_types.HouseholdBill` per position, in input
order. Pay-as-clear, the on-chain default, lives in :mod:`backend.market.solver`;
adding it to :data:`MECHANISMS` puts it in the comparison.
"""

from backend.market.community_types import Mechanism
from backend.market.mechanisms.baseline import no_community_bills
from backend.market.mechanisms.pay_as_bid import pay_as_bid
from backend.market.mechanisms.pay_as_clear import pay_as_clear
from backend.market.mechanisms.pooled import bill_sharing, mid_market_rate, supply_demand_ratio
from backend.market.mechanisms.rounding import grid_cost

MECHANISMS: dict[str, Mechanism] = {
    "pay-as-clear": pay_as_clear,  # the on-chain default
    "pay-as-bid": pay_as_bid,
    "mid-market-rate": mid_market_rate,
    "bill-sharing": bill_sharing,
    "supply-demand-ratio": supply_demand_ratio,
}

__all__ = [
    "MECHANISMS",
    "bill_sharing",
    "grid_cost",
    "mid_market_rate",
    "no_community_bills",
    "pay_as_bid",
    "supply_demand_ratio",
]
