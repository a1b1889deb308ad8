"""The web app's contract reads (backend/web/chain.py): a household's balances, read in one JSON-RPC batch."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.chain.anvil import free_port
from backend.chain.deploy import Deployer
from backend.simulation.trading import BUDGET_EURO_UNITS, enable_auto_trading
from backend.web.chain import ChainGateway, ChainUnavailable


def test_balances_are_each_contracts_own_answers(community):
    """A fresh household (the shared ones stay untouched) with test euros, an auto-order pair and a deposit."""
    web3, deployment = community.web3, community.deployment
    household, meter = Account.create(), Account.create()
    admin = Deployer(web3, community.admin)
    admin.call(
        deployment.contract(web3, "CommunityRegistry").functions.registerHousehold(
            household.address, meter.address, 7_000
        )
    )
    admin._send({"to": household.address, "value": web3.to_wei(1, "ether")})
    euro = deployment.contract(web3, "Euro")
    admin.call(euro.functions.faucet(household.address))
    enable_auto_trading(web3, deployment, [household.key.hex()], progress=lambda message: None)

    balances = ChainGateway(community.url, deployment).balances(household.address)

    market_euro, auto_sell, auto_buy = (
        deployment.contract(web3, "EnergyMarket").functions.getAccount(household.address).call()
    )
    assert balances == {
        "energyWh": deployment.contract(web3, "EnergyToken").functions.balanceOf(household.address).call(),
        "walletEuro": euro.functions.balanceOf(household.address).call(),
        "marketEuro": market_euro,
        "autoSellPrice": auto_sell,
        "autoBuyPrice": auto_buy,
    }
    # Distinct, non-zero values where the batch could mix its answers up.
    assert balances["marketEuro"] == BUDGET_EURO_UNITS
    assert len({balances["walletEuro"], balances["marketEuro"], auto_sell, auto_buy}) == 4 and auto_sell and auto_buy


def test_balances_without_a_node_raise_chain_unavailable(community):
    gateway = ChainGateway(f"http://127.0.0.1:{free_port()}", community.deployment, timeout_s=2)
    with pytest.raises(ChainUnavailable, match="the chain did not answer"):
        gateway.balances(community.alice.address)
