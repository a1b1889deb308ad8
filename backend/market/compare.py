"""Compare settlement mechanisms over a simulated community, interval by interval.

Every mechanism in :data:`backend.market.mechanisms.MECHANISMS` settles the
same intervals, and so does the baseline without a community. Totals are kept
in integer units (Wh, payment units); only the averages are floats.

Average community prices exclude the grid: a buyer's community payment is its
bill less its grid import at retail, a seller's community revenue is minus its
bill less its grid export at feed-in; each is divided by the community energy
it bought or sold.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from backend.market.community_types import HouseholdBill, Mechanism, Position, Tariffs
from backend.market.mechanisms import MECHANISMS, no_community_bills
from backend.simulation.profiles import HouseholdSpec, community_households, community_profiles

NO_COMMUNITY = "no-community"
DEFAULT_TARIFFS = Tariffs(retail_price=150_000, feed_in_price=50_000)  # 0.15 and 0.05 €/kWh
PRICE_TICK = 1000  # limit prices are whole 0.001 €/kWh, like on-chain prices
LIMIT_MODES = ("none", "random")


@dataclass(frozen=True)
class LimitPrices:
    """A household's standing limits for every interval, payment units/kWh."""

    bid_price: int | None
    ask_price: int | None


def household_limits(specs: Sequence[HouseholdSpec], tariffs: Tariffs, mode: str, seed: int) -> list[LimitPrices]:
    """Give each household its limits: none (price takers) or random ones.

    ``random``: a bid uniform in [mid, retail] and an ask uniform in
    [feed-in, mid], on the price tick, drawn from ``(seed, household number)``.
    """
    if mode not in LIMIT_MODES:
        raise ValueError(f"limits must be one of {LIMIT_MODES}, got {mode!r}")
    if mode == "none":
        return [LimitPrices(None, None) for _ in specs]
    mid_ticks = (tariffs.retail_price + tariffs.feed_in_price) // 2 // PRICE_TICK
    low_ticks = -(-tariffs.feed_in_price // PRICE_TICK)
    high_ticks = tariffs.retail_price // PRICE_TICK
    limits = []
    for number, _ in enumerate(specs):
        rng = np.random.default_rng([seed, number, 1])
        limits.append(
            LimitPrices(
                bid_price=int(rng.integers(mid_ticks, high_ticks + 1)) * PRICE_TICK,
                ask_price=int(rng.integers(low_ticks, mid_ticks + 1)) * PRICE_TICK,
            )
        )
    return limits


@dataclass
class _Tally:
    """Running totals of one mechanism."""

    bills: np.ndarray  # per household, payment units
    grid_import_wh: int = 0
    grid_export_wh: int = 0
    traded_wh: int = 0
    community_payments: float = 0.0  # units paid by buyers for community energy
    community_revenue: float = 0.0  # units received by sellers for community energy

    def add(self, interval_bills: list[HouseholdBill], tariffs: Tariffs) -> None:
        for index, bill in enumerate(interval_bills):
            self.bills[index] += bill.bill
            self.grid_import_wh += bill.grid_import_wh
            self.grid_export_wh += bill.grid_export_wh
            self.traded_wh += bill.bought_community_wh
            if bill.bought_community_wh:
                self.community_payments += bill.bill - bill.grid_import_wh * tariffs.retail_price / 1000
            if bill.sold_community_wh:
                self.community_revenue += -bill.bill - bill.grid_export_wh * tariffs.feed_in_price / 1000


@dataclass(frozen=True)
class HouseholdResult:
    """One household's energy and total bill under each mechanism."""

    household: str
    pv_kwp: float
    load_source: str
    consumed_wh: int
    produced_wh: int
    bills: dict[str, int]  # mechanism (and "no-community") -> payment units


@dataclass(frozen=True)
class MechanismSummary:
    """One mechanism's community totals over the whole period."""

    mechanism: str
    community_bill: int  # payment units
    savings: int  # against no community, payment units
    self_sufficiency: float  # share of consumption not imported from the grid
    traded_wh: int
    grid_import_wh: int
    grid_export_wh: int
    avg_buy_price_per_kwh: float | None  # community energy only, payment units/kWh
    avg_sell_price_per_kwh: float | None
    households_worse_off: int  # paying more than without the community


@dataclass(frozen=True)
class Comparison:
    """Everything ``vatio market compare`` prints or writes."""

    parameters: dict[str, object]
    households: list[HouseholdResult]
    mechanisms: list[MechanismSummary] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """Return a JSON-ready dict; money in payment units, energy in Wh."""
        return {
            "parameters": self.parameters,
            "households": [
                {
                    "household": result.household,
                    "pv_kwp": result.pv_kwp,
                    "load_source": result.load_source,
                    "consumed_wh": result.consumed_wh,
                    "produced_wh": result.produced_wh,
                    "bills": result.bills,
                }
                for result in self.households
            ],
            "mechanisms": [summary.__dict__ for summary in self.mechanisms],
        }


def compare_mechanisms(
    profiles: pd.DataFrame,
    specs: Sequence[HouseholdSpec],
    tariffs: Tariffs,
    limits: Sequence[LimitPrices],
    mechanisms: Mapping[str, Mechanism] = MECHANISMS,
    parameters: Mapping[str, object] | None = None,
    on_interval: Callable[[], None] | None = None,
) -> Comparison:
    """Settle every interval of ``profiles`` under each mechanism and the baseline.

    ``profiles`` is :func:`~backend.simulation.profiles.community_profiles`'s
    frame: sorted by interval, with the households of ``specs`` in order.
    """
    n_households = len(specs)
    addresses = [spec.household for spec in specs]
    produced = profiles["produced_wh"].to_numpy().reshape(-1, n_households)
    consumed = profiles["consumed_wh"].to_numpy().reshape(-1, n_households)
    if list(profiles["household"].iloc[:n_households]) != addresses:
        raise ValueError("profiles and specs list different households")

    settle: dict[str, Mechanism] = {NO_COMMUNITY: no_community_bills, **mechanisms}
    tallies = {name: _Tally(bills=np.zeros(n_households, dtype=np.int64)) for name in settle}
    for produced_row, consumed_row in zip(produced, consumed, strict=True):
        positions = [
            Position(address, int(produced_wh), int(consumed_wh), limit.bid_price, limit.ask_price)
            for address, produced_wh, consumed_wh, limit in zip(
                addresses, produced_row, consumed_row, limits, strict=True
            )
        ]
        for name, mechanism in settle.items():
            tallies[name].add(mechanism(positions, tariffs), tariffs)
        if on_interval is not None:
            on_interval()

    total_consumed_wh = int(consumed.sum())
    baseline_bill = int(sum(tallies[NO_COMMUNITY].bills))
    summaries = []
    for name, tally in tallies.items():
        community_bill = int(sum(tally.bills))
        baseline = tallies[NO_COMMUNITY].bills
        summaries.append(
            MechanismSummary(
                mechanism=name,
                community_bill=community_bill,
                savings=baseline_bill - community_bill,
                self_sufficiency=1.0 - tally.grid_import_wh / total_consumed_wh if total_consumed_wh else 0.0,
                traded_wh=tally.traded_wh,
                grid_import_wh=tally.grid_import_wh,
                grid_export_wh=tally.grid_export_wh,
                avg_buy_price_per_kwh=tally.community_payments / tally.traded_wh * 1000 if tally.traded_wh else None,
                avg_sell_price_per_kwh=tally.community_revenue / tally.traded_wh * 1000 if tally.traded_wh else None,
                households_worse_off=int(
                    sum(1 for own, alone in zip(tally.bills, baseline, strict=True) if own > alone)
                ),
            )
        )
    households = [
        HouseholdResult(
            household=spec.household,
            pv_kwp=spec.pv_kwp,
            load_source=spec.load_source,
            consumed_wh=int(consumed[:, index].sum()),
            produced_wh=int(produced[:, index].sum()),
            bills={name: int(tally.bills[index]) for name, tally in tallies.items()},
        )
        for index, spec in enumerate(specs)
    ]
    return Comparison(parameters=dict(parameters or {}), households=households, mechanisms=summaries)


def simulate_and_compare(
    n_households: int,
    start: date | str,
    days: int,
    seed: int,
    tariffs: Tariffs = DEFAULT_TARIFFS,
    limits: str = "none",
    pv_share: float = 0.6,
    mechanisms: Mapping[str, Mechanism] = MECHANISMS,
    on_interval: Callable[[], None] | None = None,
) -> Comparison:
    """Simulate a community (see :mod:`backend.simulation.profiles`) and compare mechanisms on it."""
    specs = community_households(n_households, seed, pv_share=pv_share)
    profiles = community_profiles(n_households, start, days, seed, pv_share=pv_share)
    parameters = {
        "households": n_households,
        "start": str(pd.Timestamp(start).date()),
        "days": days,
        "seed": seed,
        "interval_seconds": 900,
        "retail_price_per_kwh": tariffs.retail_price,
        "feed_in_price_per_kwh": tariffs.feed_in_price,
        "limits": limits,
        "pv_share": pv_share,
        "load_sources": sorted({spec.load_source for spec in specs}),
    }
    return compare_mechanisms(
        profiles,
        specs,
        tariffs,
        household_limits(specs, tariffs, limits, seed),
        mechanisms=mechanisms,
        parameters=parameters,
        on_interval=on_interval,
    )


def interval_count(days: int, interval_seconds: int = 900) -> int:
    """Return how many intervals ``days`` days hold."""
    return days * 86400 // interval_seconds
