"""Fixtures for the contract suite: a fresh community on Ape's Anvil node.

Run with `ape test tests/contracts` (make test does). Ape reverts the chain
after every test, so each test starts from the deployment below.

VATIO_EVM_VERSION=london (`make test-contracts-london`) runs the same suite
on the London build (.build/london/, compiled first when missing) and on
`anvil --hardfork london`, as Energy Web Chain runs it; unset, the default
build runs on Anvil's default hardfork.
"""

from __future__ import annotations

import atexit
import os

import pytest

from backend.chain.anvil import start_anvil
from backend.chain.artifacts import (
    DEFAULT_EVM_VERSION,
    ape_project,
    build_contracts,
    configured_evm_version,
    manifest_path,
)

EVM_VERSION = configured_evm_version()
# The London build runs on a London node; the default build on Anvil's default (newest) hardfork.
HARDFORK = None if EVM_VERSION == DEFAULT_EVM_VERSION else EVM_VERSION

# The suite starts its own Anvil and hands it to Ape through APE_FOUNDRY_HOST.
# (ape-foundry 0.8.12 polls the node's log for "Listening on" without waiting
# between polls, which fails at random when it starts Anvil itself.)
if "APE_FOUNDRY_HOST" not in os.environ:
    _anvil = start_anvil(accounts=10, hardfork=HARDFORK)
    os.environ["APE_FOUNDRY_HOST"] = _anvil.url
    atexit.register(_anvil.stop)

INTERVAL_SECONDS = 900
RETAIL_PRICE = 200_000  # 0.20 EUR/kWh, payment units per kWh
FEED_IN_PRICE = 50_000  # 0.05 EUR/kWh
EURO = 10**6
BID, ASK = 0, 1


if EVM_VERSION != DEFAULT_EVM_VERSION:

    @pytest.fixture(scope="session")
    def project():
        """The contracts built for EVM_VERSION (Ape's `project`, compiled with only evm_version changed)."""
        if not manifest_path(EVM_VERSION).is_file():
            build_contracts(EVM_VERSION)
        return ape_project(EVM_VERSION)


@pytest.fixture(scope="session")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def oracle(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def outsider(accounts):
    return accounts[9]


@pytest.fixture(scope="session")
def households(accounts):
    return [accounts[i] for i in range(2, 8)]


@pytest.fixture(scope="session")
def meters(accounts):
    return [accounts.generate_test_account() for _ in range(6)]


@pytest.fixture(scope="module")
def registry(project, admin, oracle):
    contract = admin.deploy(project.CommunityRegistry, admin, INTERVAL_SECONDS, RETAIL_PRICE, FEED_IN_PRICE)
    contract.grantRole(contract.ORACLE_ROLE(), oracle, sender=admin)
    return contract


@pytest.fixture(scope="module")
def token(project, admin):
    return admin.deploy(project.EnergyToken, admin)


@pytest.fixture(scope="module")
def euro(project, admin):
    return admin.deploy(project.TestEuro)


@pytest.fixture(scope="module")
def market(project, admin, registry, token, euro, households, meters):
    contract = admin.deploy(project.EnergyMarket, registry, token, euro)
    token.grantRole(token.SETTLEMENT_ROLE(), contract, sender=admin)
    for household, meter in zip(households, meters, strict=True):
        registry.registerHousehold(household, meter, 10_000, sender=admin)
        euro.faucet(household, sender=household)
        euro.approve(contract, 2**256 - 1, sender=household)
        token.approve(contract, 2**256 - 1, sender=household)
    return contract


@pytest.fixture
def interval(chain, market):
    """Returns the id of the current interval, aligned to its start."""
    now = chain.pending_timestamp
    start = (now // INTERVAL_SECONDS + 1) * INTERVAL_SECONDS
    chain.mine(timestamp=start)
    return start // INTERVAL_SECONDS


def advance_intervals(chain, count: int = 1) -> None:
    """Moves the chain's clock `count` whole intervals forward."""
    chain.mine(timestamp=chain.pending_timestamp + count * INTERVAL_SECONDS)


def sort_households(addresses):
    return sorted(addresses, key=lambda a: int(str(a), 16))
