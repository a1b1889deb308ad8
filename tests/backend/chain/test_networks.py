"""`vatio deploy --network`: the node's chain id checked, the build for the network's EVM level, keystore keys."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from eth_account import Account
from web3 import Web3

from backend.chain.anvil import rpc_call, start_anvil
from backend.chain.deploy import ANVIL_DEPLOYER_KEY, Deployer, load_deployment
from backend.chain.keys import create_keystore, keystore_address
from backend.chain.networks import NETWORKS
from backend.cli import main
from backend.oracle.runner import OracleCannotStart, build_oracle
from backend.settings import DeploySettings, OracleSettings, SettingsError

pytestmark = pytest.mark.slow  # deploys to real Anvil nodes

FAST_KDF = 2  # pbkdf2 rounds for test keystores; `vatio keys new` uses eth-account's default scrypt


@pytest.fixture
def deployments_dir(tmp_path):
    folder = tmp_path / "deployments"
    folder.mkdir()
    return folder


@pytest.fixture
def deployer_keystore(tmp_path):
    """A keystore and its password file, as `vatio keys new` writes them (a cheap KDF for speed)."""
    password_file = tmp_path / "password"
    password_file.write_text("correct horse battery\n")
    keystore = tmp_path / "deployer.json"
    create_keystore(keystore, "correct horse battery", iterations=FAST_KDF)
    return keystore, password_file


def node_for(chain_id: int, hardfork: str | None = None):
    return start_anvil(chain_id=chain_id, hardfork=hardfork)


def payment_token(url: str) -> str:
    """A 6-decimal ERC-20 already on the chain (a public network has EURe; a test euro stands in for it)."""
    deployer = Deployer(Web3(Web3.HTTPProvider(url)), Account.from_key(ANVIL_DEPLOYER_KEY))
    euro, _ = deployer.deploy("TestEuro")
    return euro.address


def fund(url: str, address: str) -> None:
    rpc_call(url, "anvil_setBalance", [address, hex(10**19)])


def deploy(network: str, url: str, deployments_dir, *args: str, variable: str | None = None):
    env = {"VATIO_DEPLOYMENTS_DIR": str(deployments_dir), variable or NETWORKS[network].rpc_url_variable: url}
    return CliRunner().invoke(main, ["deploy", "--network", network, *args], env=env)


def test_deploy_to_chiado_from_a_keystore(deployer_keystore, deployments_dir):
    keystore, password_file = deployer_keystore
    admin = keystore_address(keystore)
    node = node_for(10200)
    try:
        fund(node.url, admin)
        euro = payment_token(node.url)
        oracle = Account.create().address
        result = deploy(
            "chiado",
            node.url,
            deployments_dir,
            "--keystore",
            str(keystore),
            "--password-file",
            str(password_file),
            "--euro",
            euro,
            "--oracle",
            oracle,
        )
        assert result.exit_code == 0, result.output
        assert "cancun build to chiado (chain 10200)" in result.output
        deployment = load_deployment(10200, deployments_dir)
        assert deployment.settings["admin"] == admin and deployment.settings["evmVersion"] == "cancun"
        registry = deployment.contract(Web3(Web3.HTTPProvider(node.url)), "CommunityRegistry")
        assert registry.functions.hasRole(registry.functions.DEFAULT_ADMIN_ROLE().call(), admin).call()
        assert registry.functions.isOracle(oracle).call()
        assert deployment.address("Euro") == euro

        # An oracle may not settle on a public chain without a fee cap, and starts with one.
        oracle_settings = dict(
            rpc_url=node.url,
            deployment=deployments_dir / "10200.json",
            oracle_keystore=keystore,
            oracle_password_file=password_file,
            database_url=f"sqlite:///{deployments_dir / 'oracle.db'}",
            archive_dir=deployments_dir / "archive",
        )
        with pytest.raises(OracleCannotStart, match="VATIO_MAX_FEE_GWEI"):
            build_oracle(OracleSettings(**oracle_settings))
        capped = build_oracle(OracleSettings(**oracle_settings, max_fee_gwei=50))
        assert capped.settler.sender.max_fee_per_gas_wei == 50 * 10**9
    finally:
        node.stop()


def test_deploy_to_chiado_refuses_a_raw_key_and_a_missing_euro(deployer_keystore, deployments_dir):
    keystore, password_file = deployer_keystore
    node = node_for(10200)
    try:
        result = deploy(
            "chiado", node.url, deployments_dir, "--private-key", ANVIL_DEPLOYER_KEY, "--euro", Account.create().address
        )
        assert result.exit_code != 0
        assert "raw deployer private key is refused on chain 10200" in result.output
        result = CliRunner().invoke(
            main,
            ["deploy", "--network", "chiado"],
            env={
                "VATIO_DEPLOYMENTS_DIR": str(deployments_dir),
                "VATIO_RPC_URL_CHIADO": node.url,
                "VATIO_DEPLOYER_KEY": ANVIL_DEPLOYER_KEY,
            },
        )
        assert result.exit_code != 0 and "refused on chain 10200" in result.output
        fund(node.url, keystore_address(keystore))
        result = deploy(
            "chiado", node.url, deployments_dir, "--keystore", str(keystore), "--password-file", str(password_file)
        )
        assert result.exit_code != 0 and "TestEuro is for local chains only" in result.output
        wrong = password_file.parent / "wrong"
        wrong.write_text("not the password\n")
        result = deploy(
            "chiado",
            node.url,
            deployments_dir,
            "--keystore",
            str(keystore),
            "--password-file",
            str(wrong),
            "--euro",
            Account.create().address,
        )
        assert result.exit_code != 0 and "wrong password?" in result.output
    finally:
        node.stop()
    assert not list(deployments_dir.iterdir())


def test_deploy_refuses_a_node_on_another_chain(deployments_dir):
    node = node_for(31337)
    try:
        result = deploy("gnosis", node.url, deployments_dir)
        assert result.exit_code != 0
        assert "is on chain 31337, but gnosis is chain 100: refusing to deploy there" in result.output
        # --rpc-url wins over the variables, and is checked the same way
        result = CliRunner().invoke(
            main,
            ["deploy", "--network", "ewc", "--rpc-url", node.url],
            env={"VATIO_DEPLOYMENTS_DIR": str(deployments_dir)},
        )
        assert result.exit_code != 0 and "but ewc is chain 246" in result.output
    finally:
        node.stop()
    assert not list(deployments_dir.iterdir())


def test_a_public_network_needs_its_rpc_url():
    with pytest.raises(SettingsError, match="VATIO_RPC_URL_GNOSIS must name the gnosis node"):
        DeploySettings.from_env({}, network="gnosis")
    with pytest.raises(SettingsError, match="must be one of local, chiado, gnosis, volta, ewc"):
        DeploySettings.from_env({"VATIO_NETWORK": "mainnet"})
    settings = DeploySettings.from_env(
        {"VATIO_RPC_URL": "http://10.0.0.1:8545", "VATIO_RPC_URL_VOLTA": "https://volta.example:443"}, network="volta"
    )
    assert settings.rpc_url == "https://volta.example:443"
    assert DeploySettings.from_env({"VATIO_RPC_URL": "http://10.0.0.1:8545"}).rpc_url == "http://10.0.0.1:8545"


def test_deploy_to_volta_uses_the_london_build_on_a_london_node(deployer_keystore, deployments_dir):
    keystore, password_file = deployer_keystore
    node = node_for(73799, hardfork="london")
    try:
        fund(node.url, keystore_address(keystore))
        web3 = Web3(Web3.HTTPProvider(node.url))
        euro, _ = Deployer(web3, Account.from_key(ANVIL_DEPLOYER_KEY), "london").deploy("TestEuro")
        result = deploy(
            "volta",
            node.url,
            deployments_dir,
            "--keystore",
            str(keystore),
            "--password-file",
            str(password_file),
            "--euro",
            euro.address,
        )
        assert result.exit_code == 0, result.output
        deployment = json.loads((deployments_dir / "73799.json").read_text())
        assert deployment["settings"]["evmVersion"] == "london"
        market = web3.eth.contract(
            address=deployment["contracts"]["EnergyMarket"]["address"],
            abi=deployment["contracts"]["EnergyMarket"]["abi"],
        )
        assert market.functions.registry().call() == deployment["contracts"]["CommunityRegistry"]["address"]
    finally:
        node.stop()
