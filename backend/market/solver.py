"""Pay-as-clear: the uniform-price double auction that settles each interval.

The default mechanism of the community (CommunityRegistry.setMechanism
"pay-as-clear", version MECHANISM_VERSION). Pure and deterministic: the same
chain state and meter data always give the same price and fills, so an
auditor re-running it must reproduce the on-chain settlement exactly.

Participants in interval t:
  * resting bids and asks that are open, have Wh left and are valid in t;
  * the standing auto-buy of each household with a metered deficit in t (its
    demand is that deficit, capped by what its deposited balance pays for);
  * the standing auto-sell of each household with a metered surplus in t.

Price. Candidate prices are the limit prices rounded onto the price tick
(bids down, asks up) plus the tariffs, all within [feed-in, retail]. The
clearing price is the candidate that
  1. maximises traded energy min(demand, supply), then
  2. minimises the imbalance |demand - supply|, then
  3. is the midpoint of the lowest and highest prices left, rounded down
     onto the tick (a k = 1/2 double auction: the surplus of the marginal
     pair is split). Demand only falls and supply only rises with price, so
     the midpoint trades the same maximal volume.
No crossing (zero volume) means no trade and a clearing price of 0.

Allocation. The short side trades everything it offers at that price. The
long side is served by priority: price (higher bids, lower asks first), then
time (resting orders by order id, which grows with placement; auto orders
come into being when the interval closes, after every resting order), then
pro rata among auto orders with the same limit at the margin. Pro-rata
shares are floored and the leftover Wh go one each to the largest remainders,
ties to the lower household address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from backend.market.orderbook import (
    PRICE_TICK,
    WH_PER_KWH,
    Account,
    Clearing,
    Fill,
    HouseholdOutcome,
    MeteredEntry,
    RestingOrder,
    Side,
    Tariffs,
    address_key,
    cost,
)

MECHANISM_NAME = "pay-as-clear"
MECHANISM_VERSION = "1"

RESTING, AUTO = 0, 1


@dataclass
class _Book:
    """One side's participants as parallel arrays (numpy, for speed)."""

    limit: np.ndarray  # payment units per kWh
    group: np.ndarray  # RESTING or AUTO
    order_id: np.ndarray  # resting order id, 0 for auto
    entry: np.ndarray  # entry index for auto orders, -1 for resting
    capacity: np.ndarray  # Wh it can trade, before any budget cap
    budget: np.ndarray  # auto-buy balance; -1 where no budget cap applies

    def __len__(self) -> int:
        return len(self.limit)

    def capacity_at(self, price: int) -> np.ndarray:
        """Wh each can trade at `price` (auto-buys are capped by their balance)."""
        capped = self.budget >= 0
        if not capped.any() or price <= 0:
            return self.capacity
        affordable = np.where(capped, self.budget * WH_PER_KWH // price, self.capacity)
        return np.minimum(self.capacity, affordable)


def clear_interval(
    interval_id: int,
    entries: Iterable[MeteredEntry],
    orders: Iterable[RestingOrder],
    accounts: Mapping[str, Account],
    tariffs: Tariffs,
    token_balances: Mapping[str, int] | None = None,
    price_tick: int = PRICE_TICK,
) -> Clearing:
    """Clears one interval. `token_balances` are the households' kWh-token
    balances before settlement; they only change the reported burn and grid
    import, never the price or fills."""
    sorted_entries = _sorted_entries(entries)
    bids, asks, resting = _books(interval_id, sorted_entries, orders, accounts)
    price, demand, supply = _clearing_price(bids, asks, tariffs, price_tick)

    fills: list[Fill] = []
    if price > 0:
        volume = min(demand, supply)
        fills = _allocate(bids, price, volume, Side.BID) + _allocate(asks, price, volume, Side.ASK)
        fills.sort(key=lambda f: (f.order_id == 0, f.order_id, f.auto_entry))

    clearing = Clearing(
        interval_id=interval_id,
        clearing_price=price,
        entries=sorted_entries,
        fills=fills,
        demand_wh=demand,
        supply_wh=supply,
    )
    clearing.outcomes = settle_outcomes(clearing, resting, token_balances or {})
    return clearing


def settle_outcomes(
    clearing: Clearing,
    orders_by_id: Mapping[int, RestingOrder],
    token_balances: Mapping[str, int],
) -> dict[str, HouseholdOutcome]:
    """Applies the fills and entries the way EnergyMarket.settleInterval does
    and reports each household's result."""
    outcomes: dict[str, HouseholdOutcome] = {}

    def outcome(household: str) -> HouseholdOutcome:
        key = household.lower()
        if key not in outcomes:
            outcomes[key] = HouseholdOutcome(household=household)
        return outcomes[key]

    metered_left = [max(e.surplus_wh, e.deficit_wh) for e in clearing.entries]
    tokens = {k.lower(): v for k, v in token_balances.items()}
    for fill in clearing.fills:
        value = cost(fill.amount_wh, clearing.clearing_price)
        if fill.order_id == 0:
            entry = clearing.entries[fill.auto_entry]
            metered_left[fill.auto_entry] -= fill.amount_wh
            side = Side.ASK if entry.surplus_wh else Side.BID
            party = outcome(entry.household)
        else:
            order = orders_by_id[fill.order_id]
            side = order.side
            party = outcome(order.owner)
            if side == Side.BID:  # resting bids receive tokens
                tokens[order.owner.lower()] = tokens.get(order.owner.lower(), 0) + fill.amount_wh
        if side == Side.BID:
            party.bought_wh += fill.amount_wh
            party.paid += value
        else:
            party.sold_wh += fill.amount_wh
            party.received += value

    for entry, left in zip(clearing.entries, metered_left, strict=True):
        party = outcome(entry.household)
        party.surplus_wh = entry.surplus_wh
        party.deficit_wh = entry.deficit_wh
        if entry.surplus_wh:
            party.credited_wh = left
        elif entry.deficit_wh:
            held = tokens.get(entry.household.lower(), 0)
            party.burned_wh = min(held, left)
            party.grid_import_wh = left - party.burned_wh
    return outcomes


# --- building the books -------------------------------------------------


def _sorted_entries(entries: Iterable[MeteredEntry]) -> list[MeteredEntry]:
    result = sorted(entries, key=lambda e: address_key(e.household))
    for previous, current in pairwise(result):
        if address_key(previous.household) == address_key(current.household):
            raise ValueError(f"two entries for household {current.household}")
    for entry in result:
        if entry.produced_wh < 0 or entry.consumed_wh < 0:
            raise ValueError(f"negative energy for household {entry.household}")
    return result


def _books(
    interval_id: int,
    entries: Sequence[MeteredEntry],
    orders: Iterable[RestingOrder],
    accounts: Mapping[str, Account],
) -> tuple[_Book, _Book, dict[int, RestingOrder]]:
    resting = {o.order_id: o for o in orders}
    tradable = [o for o in resting.values() if o.tradable_in(interval_id)]
    accounts_by_key = {k.lower(): v for k, v in accounts.items()}

    # Per side: limit, group, order id, entry, capacity and budget, one list each, later one array each.
    columns: dict[Side, tuple[list[int], ...]] = {side: ([], [], [], [], [], []) for side in (Side.BID, Side.ASK)}
    for order in tradable:
        limit, group, order_id, entry, capacity, budget = columns[order.side]
        limit.append(order.limit_price)
        group.append(RESTING)
        order_id.append(order.order_id)
        entry.append(-1)
        # A bid's escrow always pays its remaining Wh at any price up to its limit.
        capacity.append(order.remaining_wh)
        budget.append(-1)

    for index, metered in enumerate(entries):
        account = accounts_by_key.get(metered.household.lower())
        if account is None:
            continue
        if metered.surplus_wh and account.auto_sell_price:
            side, price, wh, budget_value = Side.ASK, account.auto_sell_price, metered.surplus_wh, -1
        elif metered.deficit_wh and account.auto_buy_price:
            side, price, wh, budget_value = Side.BID, account.auto_buy_price, metered.deficit_wh, account.balance
        else:
            continue
        limit, group, order_id, entry, capacity, budget = columns[side]
        limit.append(price)
        group.append(AUTO)
        order_id.append(0)
        entry.append(index)
        capacity.append(wh)
        budget.append(budget_value)

    def book(side: Side) -> _Book:
        arrays = [np.asarray(column, dtype=np.int64) for column in columns[side]]
        return _Book(*arrays)

    return book(Side.BID), book(Side.ASK), resting


# --- price ----------------------------------------------------------------


def _clearing_price(bids: _Book, asks: _Book, tariffs: Tariffs, tick: int) -> tuple[int, int, int]:
    """Returns (price, demand, supply) at the chosen price; (0, 0, 0) when
    nothing crosses."""
    low, high = tariffs.feed_in_price, tariffs.retail_price
    if low % tick or high % tick:
        raise ValueError(f"tariffs must be multiples of the price tick {tick}")
    if len(bids) == 0 or len(asks) == 0:
        return 0, 0, 0

    candidates = np.concatenate(
        [
            (bids.limit // tick) * tick,
            -((-asks.limit) // tick) * tick,
            np.array([low, high], dtype=np.int64),
        ]
    )
    candidates = np.unique(np.clip(candidates, low, high))

    demand = _demand_curve(bids, candidates)
    supply = _supply_curve(asks, candidates)
    volume = np.minimum(demand, supply)
    best = volume.max()
    if best <= 0:
        return 0, 0, 0
    tied = np.flatnonzero(volume == best)
    imbalance = np.abs(demand[tied] - supply[tied])
    tied = tied[imbalance == imbalance.min()]
    low_price, high_price = int(candidates[tied[0]]), int(candidates[tied[-1]])
    price = (low_price + high_price) // 2 // tick * tick
    at_price = np.array([price], dtype=np.int64)
    return price, int(_demand_curve(bids, at_price)[0]), int(_supply_curve(asks, at_price)[0])


def _demand_curve(bids: _Book, prices: np.ndarray) -> np.ndarray:
    """Wh demanded at each price: every bid with limit >= price."""
    capped = bids.budget >= 0
    fixed = ~capped | (bids.budget * WH_PER_KWH >= bids.capacity * np.maximum(bids.limit, 1))
    # Bids whose budget pays for all their Wh at their own limit are never
    # capped at a lower price, so a sorted cumulative sum answers for them.
    order = np.argsort(-bids.limit[fixed], kind="stable")
    limits = bids.limit[fixed][order]
    cumulative = np.concatenate([[0], np.cumsum(bids.capacity[fixed][order])])
    count = np.searchsorted(-limits, -prices, side="right")
    demand = cumulative[count]

    short = ~fixed
    if short.any():
        limits_s = bids.limit[short][:, None]
        affordable = bids.budget[short][:, None] * WH_PER_KWH // np.maximum(prices[None, :], 1)
        capacity = np.minimum(bids.capacity[short][:, None], affordable)
        demand = demand + np.where(limits_s >= prices[None, :], capacity, 0).sum(axis=0)
    return demand


def _supply_curve(asks: _Book, prices: np.ndarray) -> np.ndarray:
    """Wh offered at each price: every ask with limit <= price."""
    order = np.argsort(asks.limit, kind="stable")
    limits = asks.limit[order]
    cumulative = np.concatenate([[0], np.cumsum(asks.capacity[order])])
    return cumulative[np.searchsorted(limits, prices, side="right")]


# --- allocation -----------------------------------------------------------


def _allocate(book: _Book, price: int, volume: int, side: Side) -> list[Fill]:
    """Serves `volume` Wh to one side at `price` by price, time, pro rata."""
    if len(book) == 0 or volume <= 0:
        return []
    capacity = book.capacity_at(price)
    eligible = book.limit >= price if side == Side.BID else book.limit <= price
    eligible &= capacity > 0
    index = np.flatnonzero(eligible)
    if len(index) == 0:
        return []
    limit = book.limit[index]
    better_first = -limit if side == Side.BID else limit
    # lexsort: last key is primary -> price, then resting before auto, then order id, then entry
    order = np.lexsort((book.entry[index], book.order_id[index], book.group[index], better_first))
    index = index[order]
    capacity = capacity[index]

    allocation = capacity.copy()
    cumulative = np.cumsum(capacity)
    if cumulative[-1] > volume:
        marginal = int(np.searchsorted(cumulative, volume, side="right"))
        start, end = _margin_block(book, index, marginal)
        served_before = int(cumulative[start - 1]) if start > 0 else 0
        allocation[end:] = 0
        allocation[start:end] = _pro_rata(volume - served_before, capacity[start:end])

    fills = []
    for position, amount in zip(index, allocation, strict=True):
        if amount <= 0:
            continue
        if book.group[position] == AUTO:
            fills.append(Fill(order_id=0, auto_entry=int(book.entry[position]), amount_wh=int(amount)))
        else:
            fills.append(Fill(order_id=int(book.order_id[position]), auto_entry=0, amount_wh=int(amount)))
    return fills


def _margin_block(book: _Book, index: np.ndarray, marginal: int) -> tuple[int, int]:
    """The participants that share the marginal volume: the marginal resting
    order alone, or every auto order with the marginal auto order's limit."""
    position = index[marginal]
    if book.group[position] == RESTING:
        return marginal, marginal + 1
    same = (book.group[index] == AUTO) & (book.limit[index] == book.limit[position])
    block = np.flatnonzero(same)
    return int(block[0]), int(block[-1]) + 1


def _pro_rata(volume: int, capacity: np.ndarray) -> np.ndarray:
    """Integer shares of `volume` proportional to capacity; the Wh left by
    flooring go to the largest remainders, earlier participants (lower
    address) first on ties."""
    total = int(capacity.sum())
    scaled = capacity.astype(object) * volume  # exact, no int64 overflow
    shares = np.array([int(s // total) for s in scaled], dtype=np.int64)
    remainders = np.array([int(s % total) for s in scaled], dtype=np.int64)
    left = volume - int(shares.sum())
    if left:
        ranking = np.lexsort((np.arange(len(capacity)), -remainders))
        shares[ranking[:left]] += 1
    return shares
