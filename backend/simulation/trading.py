"""Standing auto orders for simulated households, so a demo community trades.

Each household deposits a budget and sets an auto-sell and an auto-buy limit
between the feed-in and retail tariffs: its metered surplus is then offered
and its deficit bid for every interval, and the oracle's settlements clear
them at one price. Limits vary per household (seeded), so the clearing price
moves with the balance of surplus and deficit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from eth_account import Account
from web3 import Web3

from backend.chain.deploy import Deployer, Deployment
from backend.chain.market_state import read_common_bounds
from backend.market.orderbook import PRICE_TICK

BUDGET_EURO_UNITS = 100 * 10**6  # 100 test euros per household


def auto_limits(tariffs, count: int, seed: int) -> list[tuple[int, int]]:
    """(sell limit, buy limit) per household, on the price tick, feed-in < sell <= buy < retail."""
    rng = np.random.default_rng(seed)
    span = tariffs.retail_price - tariffs.feed_in_price
    limits = []
    for _ in range(count):
        sell = tariffs.feed_in_price + span * rng.uniform(0.15, 0.5)
        buy = tariffs.feed_in_price + span * rng.uniform(0.5, 0.85)
        limits.append((int(sell) // PRICE_TICK * PRICE_TICK, int(buy) // PRICE_TICK * PRICE_TICK))
    return limits


def enable_auto_trading(
    web3: Web3, deployment: Deployment, household_keys: Sequence[str], seed: int = 1, progress=print
) -> int:
    """Sets auto orders and deposits a budget for households that have none
    yet (idempotent); returns how many it set up."""
    market = deployment.contract(web3, "EnergyMarket")
    euro = deployment.contract(web3, "Euro")
    # Inside every band of the newest tariff version, so the auto orders trade in all of them.
    limits = auto_limits(read_common_bounds(deployment.contract(web3, "CommunityRegistry")), len(household_keys), seed)
    configured = 0
    for key, (sell, buy) in zip(household_keys, limits, strict=True):
        household = Deployer(web3, Account.from_key(key))
        address = household.account.address
        balance, auto_sell, auto_buy = market.functions.getAccount(address).call()
        if auto_sell and auto_buy:
            continue
        household.call(market.functions.setAutoSell(sell))
        household.call(market.functions.setAutoBuy(buy))
        if balance < BUDGET_EURO_UNITS and euro.functions.balanceOf(address).call() >= BUDGET_EURO_UNITS:
            household.call(euro.functions.approve(market.address, BUDGET_EURO_UNITS))
            household.call(market.functions.deposit(BUDGET_EURO_UNITS))
        configured += 1
    progress(f"auto trading on for {configured} households ({len(household_keys) - configured} already were)")
    return configured
