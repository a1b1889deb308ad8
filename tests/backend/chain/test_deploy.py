"""`vatio deploy` and `vatio demo` against a real Anvil node."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from eth_account import Account
from web3 import Web3
from web3.exceptions import Web3Exception

from backend.chain.anvil import start_anvil
from backend.chain.deploy import load_deployment, resolve_account
from backend.cli import main
from backend.processes import free_port
from backend.settings import DemoSettings

pytestmark = pytest.mark.slow  # deploys to real Anvil nodes and restarts them


@pytest.fixture
def anvil():
    node = start_anvil()
    yield node
    node.stop()


@pytest.fixture
def deployments_dir(tmp_path):
    """A folder for the deployment files, instead of the repo's deployments/ ($VATIO_DEPLOYMENTS_DIR)."""
    folder = tmp_path / "deployments"
    folder.mkdir()
    return folder


def test_deploy_writes_a_usable_deployment_file(anvil, deployments_dir):
    oracle = Account.create().address
    result = CliRunner().invoke(
        main,
        ["deploy", "--rpc-url", anvil.url, "--oracle", oracle, "--retail-price", "180000", "--feed-in-price", "40000"],
        env={"VATIO_DEPLOYMENTS_DIR": str(deployments_dir)},
    )
    assert result.exit_code == 0, result.output
    data = json.loads((deployments_dir / "31337.json").read_text())
    assert set(data["contracts"]) == {"CommunityRegistry", "EnergyToken", "Euro", "EnergyMarket"}
    assert data["deployBlock"] >= 1

    web3 = Web3(Web3.HTTPProvider(anvil.url))
    deployment = load_deployment(31337, deployments_dir)
    registry = deployment.contract(web3, "CommunityRegistry")
    market = deployment.contract(web3, "EnergyMarket")
    token = deployment.contract(web3, "EnergyToken")
    assert registry.functions.isOracle(oracle).call()
    assert registry.functions.retailPrice().call() == 180_000
    assert registry.functions.mechanismName().call() == "pay-as-clear"
    assert token.functions.hasRole(token.functions.SETTLEMENT_ROLE().call(), market.address).call()
    assert market.functions.registry().call() == registry.address


def test_deploy_refuses_bad_input(anvil, deployments_dir):
    runner = CliRunner(env={"VATIO_DEPLOYMENTS_DIR": str(deployments_dir)})
    result = runner.invoke(main, ["deploy", "--rpc-url", "http://127.0.0.1:9"])
    assert result.exit_code != 0 and "no JSON-RPC node answers" in result.output
    result = runner.invoke(main, ["deploy", "--rpc-url", "ftp://127.0.0.1:9"])
    assert result.exit_code != 0 and "VATIO_RPC_URL must be a http/https/ws/wss URL" in result.output
    result = runner.invoke(main, ["deploy", "--rpc-url", anvil.url, "--feed-in-price", "300000"])
    assert result.exit_code != 0
    assert not (deployments_dir / "31337.json").exists()


def test_production_chains_need_a_keystore():
    with pytest.raises(ValueError, match="not local"):
        resolve_account(None, None, None, chain_id=1)
    key = Account.create()
    with pytest.raises(ValueError, match="raw deployer private key is refused on chain 1"):
        resolve_account(key.key.hex(), None, None, chain_id=1)
    assert resolve_account(key.key.hex(), None, None, chain_id=31337).address == key.address


def test_keystore_needs_its_password(tmp_path):
    key = Account.create()
    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(key.key, "s3cret")))
    assert resolve_account(None, keystore, "s3cret", chain_id=1).address == key.address
    with pytest.raises(ValueError, match="password"):
        resolve_account(None, keystore, None, chain_id=1)
    with pytest.raises(ValueError):
        resolve_account(None, keystore, "wrong", chain_id=1)


def test_demo_deploys_then_resumes_from_saved_state(tmp_path, deployments_dir):
    from backend.demo import run_demo

    settings = DemoSettings.from_env(
        {"VATIO_VAR_DIR": str(tmp_path / "var"), "VATIO_DEPLOYMENTS_DIR": str(deployments_dir)}, chain_port=free_port()
    )
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'vatio.db'}"
    lines: list[str] = []
    run_demo(settings, exit_after_setup=True, progress=lines.append)
    assert any("Deploying contracts" in line for line in lines)
    assert (tmp_path / "var" / "chain" / "anvil-state.json").is_file()
    first = json.loads((deployments_dir / "31337.json").read_text())["contracts"]["EnergyMarket"]["address"]

    lines.clear()
    run_demo(settings, exit_after_setup=True, progress=lines.append)
    assert any("found on chain" in line for line in lines)
    assert json.loads((deployments_dir / "31337.json").read_text())["contracts"]["EnergyMarket"]["address"] == first


def test_a_busy_port_is_refused_and_stop_leaves_no_node(anvil):
    import subprocess

    port = int(anvil.url.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="already in use"):
        start_anvil(port=port)
    node = start_anvil()
    pid = node.process.pid
    node.stop()
    leftover = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.strip()
    assert leftover == ""


def test_a_restarted_chain_keeps_its_state_and_logs_but_not_old_states(tmp_path):
    """A chain restarted from its state file has its current state and every block's logs; it keeps no
    historical states (they made the file grow with blocks x state): `vatio audit` replays the solver's
    inputs at old blocks from the events (tests/backend/audit/test_audit.py restarts a chain the same way)."""
    from backend.chain.deploy import ANVIL_DEPLOYER_KEY, CommunitySettings, Deployer, deploy_community

    state = tmp_path / "anvil-state.json"
    node = start_anvil(state_file=state)
    try:
        web3 = Web3(Web3.HTTPProvider(node.url))
        deployment = deploy_community(
            web3, Account.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings(retail_price=210_000)
        )
        registry = deployment.contract(web3, "CommunityRegistry")
        Deployer(web3, Account.from_key(ANVIL_DEPLOYER_KEY)).call(registry.functions.setTariffs(250_000, 50_000))
        before_change = web3.eth.block_number - 1
    finally:
        node.stop()
    node = start_anvil(state_file=state)
    try:
        registry = deployment.contract(Web3(Web3.HTTPProvider(node.url)), "CommunityRegistry")
        # setTariffs adds a version from the next interval on (never backwards): count the versions.
        assert registry.functions.tariffVersionCount().call() == 2
        added = registry.events.TariffVersionAdded.get_logs(from_block=0)
        assert len(added) == 2 and added[0]["blockNumber"] <= before_change < added[1]["blockNumber"]
        with pytest.raises(Web3Exception):
            registry.functions.tariffVersionCount().call(block_identifier=before_change)
    finally:
        node.stop()
