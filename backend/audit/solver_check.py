"""Re-run the pay-as-clear solver on the on-chain inputs and compare with what was settled.

Inputs: the settled entries (HouseholdSettled; the archive checks tie them to
the signed readings) and the market as it stood at the block before the
interval's first settlement transaction: orders, the households' accounts
and token balances, tariffs. The same-block caveat: transactions that ran
earlier in that same block are not in this state. When the result differs
and such transactions touched the community's contracts, the finding says so.

Compared: the clearing price, every fill (by order, or by household for auto
orders: Wh and value), and, when those agree, each household's credited,
burned and grid-import Wh.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.audit.chain_view import ChainView, MarketInputs, SettledInterval
from backend.audit.report import format_euros, format_price
from backend.market.orderbook import Clearing, MeteredEntry, Side, cost
from backend.market.solver import clear_interval

FillKey = tuple[int, str, Side]  # (order id, household lower-case, side); order 0 = auto order


@dataclass
class FillTotal:
    household: str
    amount_wh: int = 0
    value: int = 0
    count: int = 0


def solve_settled_interval(settled: SettledInterval, inputs: MarketInputs) -> Clearing:
    entries = [MeteredEntry(e.household, e.produced_wh, e.consumed_wh) for e in settled.entries]
    return clear_interval(
        settled.interval_id, entries, inputs.orders, inputs.accounts, inputs.tariffs, inputs.token_balances
    )


def check_solver(settled: SettledInterval, chain: ChainView) -> tuple[list[str], Clearing]:
    """Problems found, and the solver's clearing (raises web3 errors when state is unavailable)."""
    state_block = settled.first_block - 1
    inputs = chain.market_inputs(state_block, [e.household for e in settled.entries], settled.interval_id)
    clearing = solve_settled_interval(settled, inputs)
    problems = []
    if clearing.clearing_price != settled.clearing_price:
        problems.append(
            f"clearing price on-chain {format_price(settled.clearing_price)}, "
            f"solver {format_price(clearing.clearing_price)}"
        )
    # At another price every value differs; then only the Wh say whether the allocation did too.
    same_price = clearing.clearing_price == settled.clearing_price
    problems += _compare_fills(_chain_fills(settled), _solver_fills(clearing, inputs), compare_values=same_price)
    if not problems:
        problems += _compare_outcomes(settled, clearing)
    if problems:
        block, tx_index = settled.first_position
        earlier = chain.transactions_before_in_block(block, tx_index) if tx_index else []
        if earlier:
            problems.append(
                f"note: {len(earlier)} earlier transaction(s) in block {block} touched the community's "
                f"contracts; the solver saw the state at block {state_block}"
            )
    return problems, clearing


def _chain_fills(settled: SettledInterval) -> dict[FillKey, FillTotal]:
    totals: dict[FillKey, FillTotal] = {}
    for fill in settled.fills:
        key = (fill.order_id, fill.household.lower(), fill.side)
        total = totals.setdefault(key, FillTotal(fill.household))
        total.amount_wh += fill.amount_wh
        total.value += fill.value
        total.count += 1
    return totals


def _solver_fills(clearing: Clearing, inputs: MarketInputs) -> dict[FillKey, FillTotal]:
    orders = {order.order_id: order for order in inputs.orders}
    totals: dict[FillKey, FillTotal] = {}
    for fill in clearing.fills:
        if fill.order_id:
            order = orders[fill.order_id]
            household, side = order.owner, order.side
        else:
            entry = clearing.entries[fill.auto_entry]
            household, side = entry.household, Side.ASK if entry.surplus_wh else Side.BID
        total = totals.setdefault((fill.order_id, household.lower(), side), FillTotal(household))
        total.amount_wh += fill.amount_wh
        total.value += cost(fill.amount_wh, clearing.clearing_price)
        total.count += 1
    return totals


def describe_fill(key: FillKey, household: str) -> str:
    order_id, _, side = key
    side_name = "bid" if side == Side.BID else "ask"
    if order_id:
        return f"fill of order {order_id} ({side_name} of {household})"
    return f"fill of the auto-{'buy' if side == Side.BID else 'sell'} of {household}"


def _amount(total: FillTotal | None) -> str:
    if total is None:
        return "none"
    return f"{total.amount_wh} Wh for {format_euros(total.value)}"


def _compare_fills(
    on_chain: dict[FillKey, FillTotal], solver: dict[FillKey, FillTotal], compare_values: bool
) -> list[str]:
    problems = []
    keys = sorted(on_chain.keys() | solver.keys(), key=lambda k: (k[0] == 0, k[0], int(k[1], 16), k[2]))
    for key in keys:
        chain_total, solver_total = on_chain.get(key), solver.get(key)
        household = (chain_total or solver_total).household
        if (
            chain_total is None
            or solver_total is None
            or chain_total.amount_wh != solver_total.amount_wh
            or (compare_values and chain_total.value != solver_total.value)
        ):
            problems.append(
                f"{describe_fill(key, household)}: on-chain {_amount(chain_total)}, solver {_amount(solver_total)}"
            )
        elif chain_total.count != solver_total.count:
            problems.append(
                f"{describe_fill(key, household)}: split into {chain_total.count} fills on-chain, "
                f"{solver_total.count} by the solver"
            )
    return problems


def _compare_outcomes(settled: SettledInterval, clearing: Clearing) -> list[str]:
    problems = []
    for entry in settled.entries:
        outcome = clearing.outcomes.get(entry.household.lower())
        if outcome is None:
            continue
        for name, on_chain, solved in (
            ("credited", entry.credited_wh, outcome.credited_wh),
            ("burned", entry.burned_wh, outcome.burned_wh),
            ("grid import", entry.grid_import_wh, outcome.grid_import_wh),
        ):
            if on_chain != solved:
                problems.append(f"household {entry.household}: {name} on-chain {on_chain} Wh, solver {solved} Wh")
    return problems
