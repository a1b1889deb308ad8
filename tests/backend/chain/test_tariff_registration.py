"""A schedule file registered at deployment: its hash, its bands' bounds and calendar on-chain, on real Anvil."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

from backend.chain.anvil import start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, deploy_community
from backend.chain.market_state import read_tariffs
from backend.chain.tariffs import TARIFFS_DIR, find_schedule, read_versions, version_at
from backend.tariffs.bands import interval_band_index
from backend.tariffs.onchain import band_bounds
from backend.tariffs.schema import TariffError, load_schedule

pytestmark = pytest.mark.slow  # deploys to a real Anvil node

SPAIN = TARIFFS_DIR / "es-2.0td-example.toml"


@pytest.fixture(scope="module")
def community():
    node = start_anvil()
    web3 = Web3(Web3.HTTPProvider(node.url))
    deployment = deploy_community(web3, Account.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings(tariff_schedule=SPAIN))
    yield web3, deployment
    node.stop()


def test_the_spanish_example_is_version_1_with_its_bounds_and_calendar(community):
    web3, deployment = community
    registry = deployment.contract(web3, "CommunityRegistry")
    schedule = load_schedule(SPAIN)
    versions = read_versions(registry)
    assert [v.version for v in versions] == [0, 1]
    assert versions[1].schedule_hash == schedule.source_hash
    assert deployment.settings["tariffSchedule"]["hash"] == "0x" + schedule.source_hash.hex()
    assert band_bounds(schedule) == [(60_000, 165_000), (60_000, 130_000), (60_000, 95_000)]
    start = versions[1].effective_from
    now = web3.eth.get_block("latest")["timestamp"] // 900
    assert now < start <= now + 2
    # Every interval of the next day: the chain's band is the file's band, DST and holidays included.
    for interval_id in range(start, start + 96):
        version, band = registry.functions.bandOf(interval_id).call()
        assert (version, band) == (1, interval_band_index(schedule, interval_id, 900))
        tariffs = read_tariffs(registry, interval_id=interval_id)
        assert (tariffs.feed_in_price, tariffs.retail_price) == band_bounds(schedule)[band]
    assert version_at(versions, start - 1).version == 0
    assert find_schedule(versions[1].schedule_hash).name == schedule.name


def test_a_changed_file_is_not_found_by_the_on_chain_hash(community, tmp_path):
    web3, deployment = community
    versions = read_versions(deployment.contract(web3, "CommunityRegistry"))
    (tmp_path / "es.toml").write_bytes(SPAIN.read_bytes().replace(b'"0.1650"', b'"0.1750"'))
    with pytest.raises(TariffError, match="the file was changed or is missing"):
        find_schedule(versions[1].schedule_hash, [tmp_path])
