"""Check the kWh token's supply at an interval's settlement block.

Three numbers must agree at that block:
  * EnergyToken.totalSupply();
  * the sum of mints minus burns, from Transfer events from/to the zero address;
  * what settlements account for: credited surplus (HouseholdSettled) plus
    tokens bought by resting bids, minus burned deficits and tokens sold by
    resting asks (Filled).
The first two differ only for a token that hides mints; the third catches
tokens minted or burned outside settlement (a second minter, say).
Where the node no longer keeps the block's state, totalSupply is compared at
the head instead.
"""

from __future__ import annotations

from backend.audit.chain_view import ChainView


def check_supply(chain: ChainView, block: int) -> list[str]:
    read_at, total = chain.total_supply_at(block)  # the head's, where the node pruned the block's state
    transfers = chain.minted_minus_burned_through(block)
    settled = chain.settled_supply_through(block)
    problems = []
    if total != chain.minted_minus_burned_through(read_at):
        problems.append(
            f"token supply at block {read_at}: totalSupply {total} Wh, but Transfer events mint minus burn "
            f"{chain.minted_minus_burned_through(read_at)} Wh"
        )
    if transfers != settled:
        problems.append(
            f"token supply at block {block}: minted minus burned {transfers} Wh, but settlements "
            f"account for {settled} Wh ({transfers - settled:+d} Wh minted or burned outside settlement)"
        )
    return problems
