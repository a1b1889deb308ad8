"""The oracle's meter cache follows the real registry on a real chain."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

from backend.chain.anvil import start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, deploy_community
from backend.oracle.registry_cache import RegistryCache

pytestmark = pytest.mark.slow  # follows a real Anvil's registry events


@pytest.fixture(scope="module")
def community():
    node = start_anvil()
    web3 = Web3(Web3.HTTPProvider(node.url))
    admin = Account.from_key(ANVIL_DEPLOYER_KEY)
    deployment = deploy_community(web3, admin, CommunitySettings())
    yield web3, deployment, Deployer(web3, admin)
    node.stop()


def test_cache_follows_registrations_replacements_and_deactivations(community):
    web3, deployment, admin = community
    registry = deployment.contract(web3, "CommunityRegistry")
    household, meter, new_meter = (Account.create().address for _ in range(3))
    cache = RegistryCache(web3, deployment, min_refresh_s=0)
    assert cache.lookup(meter) is None

    admin.call(registry.functions.registerHousehold(household, meter, 7_000))
    info = cache.lookup(meter)  # unknown -> refresh -> found
    assert (info.household, info.capacity_w, info.active) == (household, 7_000, True)

    admin.call(registry.functions.setHouseholdActive(household, False))
    cache.refresh()
    assert not cache.lookup(meter).active

    admin.call(registry.functions.replaceMeter(household, new_meter))
    cache.refresh()
    assert cache.lookup(meter) is None
    assert cache.lookup(new_meter).household == household and not cache.lookup(new_meter).active

    fresh = RegistryCache(web3, deployment)  # a restarted oracle replays the same history
    assert fresh.meters == cache.meters


def test_refresh_is_throttled(community):
    web3, deployment, _ = community
    cache = RegistryCache(web3, deployment, min_refresh_s=60)
    assert not cache.refresh()
    assert cache.refresh(force=True)
