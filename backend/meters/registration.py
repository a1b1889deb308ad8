"""Registering simulated households and meters on a local chain."""

from __future__ import annotations

from eth_account import Account
from web3 import Web3

from backend.chain.deploy import ANVIL_DEPLOYER_KEY, LOCAL_CHAIN_IDS, Deployer, Deployment


def register_meters(
    web3: Web3,
    deployment: Deployment,
    meters,
    admin_key: str = ANVIL_DEPLOYER_KEY,
    capacity_w: int = 15_000,
    progress=print,
) -> int:
    """Registers each meter's household (idempotent), funds it with gas and test
    euros on a local chain. Returns how many were new."""
    registry = deployment.contract(web3, "CommunityRegistry")
    euro = deployment.contract(web3, "Euro")
    admin = Deployer(web3, Account.from_key(admin_key))
    local = web3.eth.chain_id in LOCAL_CHAIN_IDS
    added = 0
    for meter in meters:
        household = meter.household
        if registry.functions.isRegistered(household).call():
            continue
        admin.call(registry.functions.registerHousehold(household, meter.meter, capacity_w))
        if local:
            web3.provider.make_request("anvil_setBalance", [household, hex(10**19)])
            if deployment.contracts["Euro"].get("testToken"):
                admin.call(euro.functions.faucet(household))
        added += 1
    progress(f"registered {added} new households ({len(meters) - added} already were)")
    return added
