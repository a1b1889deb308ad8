"""Splitting one interval's settlement into transactions that fit a block.

EnergyMarket.settleChunk takes households in ascending address order across
chunks, and an auto fill must name an entry of its own chunk. A resting
order's fill goes with its owner's entry when the owner has one, so tokens a
bid buys are there when that household's deficit is burned: the chunked
result is then identical to settling everything at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.market.orderbook import Clearing, Fill, MeteredEntry, RestingOrder

# Measured on Anvil (benchmarks/bench_gas.py): about 12k gas per entry and
# 20-35k per fill. A chunk stays well under EIP-7825's 16.8M cap per tx.
ENTRY_GAS = 16_000
FILL_GAS = 40_000
CHUNK_GAS_BUDGET = 12_000_000


@dataclass
class Chunk:
    entries: list[MeteredEntry]
    fills: list[Fill]

    def estimated_gas(self) -> int:
        return ENTRY_GAS * len(self.entries) + FILL_GAS * len(self.fills)


def split_settlement(
    clearing: Clearing,
    orders_by_id: dict[int, RestingOrder],
    gas_budget: int = CHUNK_GAS_BUDGET,
) -> list[Chunk]:
    """Chunks in the order they must be sent; one chunk when it all fits."""
    entry_index = {e.household.lower(): i for i, e in enumerate(clearing.entries)}
    fills_by_entry: dict[int, list[Fill]] = {}
    loose: list[Fill] = []  # resting fills whose owner has no entry this interval
    for fill in clearing.fills:
        if fill.order_id == 0:
            fills_by_entry.setdefault(fill.auto_entry, []).append(fill)
            continue
        owner_entry = entry_index.get(orders_by_id[fill.order_id].owner.lower())
        if owner_entry is None:
            loose.append(fill)
        else:
            fills_by_entry.setdefault(owner_entry, []).append(fill)

    chunks: list[Chunk] = []
    current = Chunk(entries=[], fills=[])
    for index, entry in enumerate(clearing.entries):
        own_fills = fills_by_entry.get(index, [])
        cost = ENTRY_GAS + FILL_GAS * len(own_fills)
        if current.entries and current.estimated_gas() + cost > gas_budget:
            chunks.append(current)
            current = Chunk(entries=[], fills=[])
        position = len(current.entries)
        current.entries.append(entry)
        for fill in own_fills:
            auto_entry = position if fill.order_id == 0 else 0
            current.fills.append(Fill(order_id=fill.order_id, auto_entry=auto_entry, amount_wh=fill.amount_wh))
    for fill in loose:
        if current.estimated_gas() + FILL_GAS > gas_budget:
            chunks.append(current)
            current = Chunk(entries=[], fills=[])
        current.fills.append(fill)
    if current.entries or current.fills or not chunks:
        chunks.append(current)
    return chunks
