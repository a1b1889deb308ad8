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


def test_balances_are_read_once_per_block_and_again_after_a_new_one(community):
    """Cached per head block: a second read in the same block asks the node nothing; a transfer (a new block)
    shows at once when the head is read again (head_ttl_s=0 here; 1 s by default)."""
    web3, deployment = community.web3, community.deployment
    household = Account.create()
    euro = deployment.contract(web3, "Euro")
    gateway = ChainGateway(community.url, deployment, head_ttl_s=0)
    requests: list[str] = []
    make_request, make_batch_request = gateway.web3.provider.make_request, gateway.web3.provider.make_batch_request

    def counted(method, params):
        requests.append(method)
        return make_request(method, params)

    def counted_batch(batch):
        requests.extend(method for method, _ in batch)
        return make_batch_request(batch)

    gateway.web3.provider.make_request = counted
    gateway.web3.provider.make_batch_request = counted_batch

    before = gateway.balances(household.address)
    assert before["walletEuro"] == 0 and requests.count("eth_call") == 3
    assert gateway.balances(household.address) == before
    assert requests.count("eth_call") == 3  # the same block: from the cache

    Deployer(web3, community.admin).call(euro.functions.faucet(household.address))
    after = gateway.balances(household.address)
    assert requests.count("eth_call") == 6
    assert after == {**before, "walletEuro": euro.functions.balanceOf(household.address).call()}
    assert after["walletEuro"] > 0


def test_balances_are_the_head_blocks_for_the_head_ttl(community):
    """With the default head TTL, a read right after a new block may still show the block before: never a mix."""
    web3, deployment = community.web3, community.deployment
    household = Account.create()
    euro = deployment.contract(web3, "Euro")
    gateway = ChainGateway(community.url, deployment, head_ttl_s=60)
    head = web3.eth.block_number
    first = gateway.balances(household.address)
    Deployer(web3, community.admin).call(euro.functions.faucet(household.address))
    assert gateway.balances(household.address) == first  # the head is still `head` for this gateway
    assert first["walletEuro"] == euro.functions.balanceOf(household.address).call(block_identifier=head)
