"""Deploying a community to any EVM JSON-RPC endpoint.

Writes `deployments/<chainId>.json`: the addresses, ABIs and deployment
block that the oracle, the indexer and the browser all read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from backend.chain.artifacts import DEFAULT_EVM_VERSION, load_artifact
from backend.chain.keys import ANVIL_DEPLOYER_KEY, resolve_account
from backend.chain.networks import LOCAL_CHAIN_IDS
from backend.market.solver import MECHANISM_NAME, MECHANISM_VERSION
from backend.paths import DEPLOYMENTS_DIR

__all__ = [
    "ANVIL_DEPLOYER_KEY",
    "LOCAL_CHAIN_IDS",
    "CommunitySettings",
    "Deployer",
    "Deployment",
    "deploy_community",
    "is_deployed",
    "load_deployment",
    "resolve_account",
]


@dataclass
class CommunitySettings:
    interval_seconds: int = 900
    retail_price: int = 200_000  # 0.20 EUR/kWh
    feed_in_price: int = 50_000  # 0.05 EUR/kWh
    oracle: str | None = None  # defaults to the deployer
    euro: str | None = None  # an existing 6-decimal ERC-20; None deploys TestEuro (local chains only)
    evm_version: str = DEFAULT_EVM_VERSION  # which build to deploy: "london" for EWC and Volta
    # A tariff schedule file (config/tariffs/*.toml) registered as version 1 from the next intervals on
    # (backend/chain/tariffs.py); None keeps the flat retail and feed-in prices above.
    tariff_schedule: Path | None = None


@dataclass
class Deployment:
    chain_id: int
    deploy_block: int
    contracts: dict[str, dict] = field(default_factory=dict)  # name -> {address, abi}
    settings: dict = field(default_factory=dict)

    def address(self, name: str) -> str:
        return self.contracts[name]["address"]

    def contract(self, web3: Web3, name: str) -> Contract:
        entry = self.contracts[name]
        return web3.eth.contract(address=entry["address"], abi=entry["abi"])

    def to_json(self) -> dict:
        return {
            "chainId": self.chain_id,
            "deployBlock": self.deploy_block,
            "contracts": self.contracts,
            "settings": self.settings,
        }

    @classmethod
    def read(cls, path: Path) -> Deployment:
        """The deployment file at `path` (raises OSError, ValueError or KeyError when it is not one)."""
        return cls.from_json(json.loads(Path(path).read_text()))

    @classmethod
    def from_json(cls, data: dict) -> Deployment:
        return cls(
            chain_id=data["chainId"],
            deploy_block=data["deployBlock"],
            contracts=data["contracts"],
            settings=data.get("settings", {}),
        )

    def save(self, directory: Path | None = None) -> Path:
        directory = directory or DEPLOYMENTS_DIR
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.chain_id}.json"
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path


def load_deployment(chain_id: int, directory: Path | None = None) -> Deployment:
    path = (directory or DEPLOYMENTS_DIR) / f"{chain_id}.json"
    if not path.exists():
        raise FileNotFoundError(f"no deployment for chain {chain_id}: run `vatio deploy` first")
    return Deployment.read(path)


def is_deployed(web3: Web3, deployment: Deployment) -> bool:
    """True when every contract of the file has code on this chain."""
    return all(web3.eth.get_code(Web3.to_checksum_address(c["address"])) for c in deployment.contracts.values())


class Deployer:
    """Sends signed transactions from one key, waiting for each receipt."""

    def __init__(self, web3: Web3, account: LocalAccount, evm_version: str = DEFAULT_EVM_VERSION):
        self.web3 = web3
        self.account = account
        self.evm_version = evm_version
        self.nonce = web3.eth.get_transaction_count(account.address, "pending")

    def _send(self, transaction: dict) -> dict:
        transaction.setdefault("from", self.account.address)
        transaction["nonce"] = self.nonce
        transaction["chainId"] = self.web3.eth.chain_id
        transaction.setdefault("gas", int(self.web3.eth.estimate_gas(transaction) * 1.2))
        fees = self.web3.eth.fee_history(1, "latest")
        base_fee = fees["baseFeePerGas"][-1]
        transaction.setdefault("maxPriorityFeePerGas", self.web3.to_wei(1, "gwei"))
        transaction.setdefault("maxFeePerGas", base_fee * 2 + transaction["maxPriorityFeePerGas"])
        signed = self.account.sign_transaction(transaction)
        tx_hash = self.web3.eth.send_raw_transaction(signed.raw_transaction)
        self.nonce += 1
        receipt = self.web3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.hex()} reverted")
        return receipt

    def deploy(self, name: str, *args) -> tuple[Contract, dict]:
        artifact = load_artifact(name, self.evm_version)
        factory = self.web3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self._send(factory.constructor(*args).build_transaction({"from": self.account.address}))
        contract = self.web3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)
        return contract, receipt

    def call(self, function) -> dict:
        return self._send(function.build_transaction({"from": self.account.address}))


def deploy_community(
    web3: Web3, account: LocalAccount, settings: CommunitySettings, progress=lambda message: None
) -> Deployment:
    """Deploys registry, token, (test euro), market and wires their roles."""
    chain_id = web3.eth.chain_id
    if settings.euro is None and chain_id not in LOCAL_CHAIN_IDS:
        raise ValueError("TestEuro is for local chains only: pass the payment token with --euro")
    deployer = Deployer(web3, account, settings.evm_version)
    admin = account.address
    oracle = Web3.to_checksum_address(settings.oracle or admin)

    progress("CommunityRegistry")
    registry, first_receipt = deployer.deploy(
        "CommunityRegistry", admin, settings.interval_seconds, settings.retail_price, settings.feed_in_price
    )
    progress("EnergyToken")
    token, _ = deployer.deploy("EnergyToken", admin)
    if settings.euro is None:
        progress("TestEuro")
        euro, _ = deployer.deploy("TestEuro")
        euro_address, euro_abi = euro.address, euro.abi
    else:
        euro_address = Web3.to_checksum_address(settings.euro)
        euro_abi = load_artifact("TestEuro", settings.evm_version).abi
    progress("EnergyMarket")
    market, _ = deployer.deploy("EnergyMarket", registry.address, token.address, euro_address)

    progress("roles and mechanism")
    deployer.call(token.functions.grantRole(token.functions.SETTLEMENT_ROLE().call(), market.address))
    deployer.call(registry.functions.grantRole(registry.functions.ORACLE_ROLE().call(), oracle))
    deployer.call(registry.functions.setMechanism(MECHANISM_NAME, MECHANISM_VERSION))
    tariff = None
    if settings.tariff_schedule is not None:
        from backend.chain.tariffs import register_schedule
        from backend.tariffs.schema import load_schedule
        from backend.tariffs.validate import validate_schedule

        progress("tariff schedule")
        schedule = validate_schedule(load_schedule(settings.tariff_schedule))
        # The calendar for 400 days (or up to the end of the schedule's years): a demo's fast clock stays covered.
        registered = register_schedule(deployer, registry, schedule, calendar_days=400)
        tariff = {
            "file": Path(settings.tariff_schedule).name,
            "hash": "0x" + schedule.source_hash.hex(),
            "version": registered.version,
            "effectiveFrom": registered.effective_from,
        }

    contracts = {
        "CommunityRegistry": {"address": registry.address, "abi": registry.abi},
        "EnergyToken": {"address": token.address, "abi": token.abi},
        "Euro": {"address": euro_address, "abi": euro_abi, "testToken": settings.euro is None},
        "EnergyMarket": {"address": market.address, "abi": market.abi},
    }
    return Deployment(
        chain_id=chain_id,
        deploy_block=first_receipt["blockNumber"],
        contracts=contracts,
        settings={
            "intervalSeconds": settings.interval_seconds,
            "retailPrice": settings.retail_price,
            "feedInPrice": settings.feed_in_price,
            "admin": admin,
            "oracle": oracle,
            "mechanism": {"name": MECHANISM_NAME, "version": MECHANISM_VERSION},
            "evmVersion": settings.evm_version,
            "tariffSchedule": tariff,
            "deployedAt": int(time.time()),
        },
    )
