"""`vatio demo`: a whole local community from one command.

For now: a local Anvil chain with saved state, the contracts deployed (or
found again after a restart), and demo households registered with meters and
test euros. Later stages (broker, oracle, simulation, web) plug in here.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from backend.chain.anvil import REPO_ROOT, AnvilNode, rpc_call, start_anvil
from backend.chain.deploy import (
    ANVIL_DEPLOYER_KEY,
    CommunitySettings,
    Deployment,
    deploy_community,
    is_deployed,
    load_deployment,
)
from backend.meters.registration import register_meters

STATE_DIR = REPO_ROOT / "var"
# Anvil's default accounts 2..6 (the public test mnemonic): demo households.
DEMO_HOUSEHOLD_KEYS = [
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
]


def demo_meter_key(index: int) -> str:
    """Deterministic demo meter keys, so a restarted demo finds its meters."""
    return "0x" + keccak(text=f"vatio demo meter {index}").hex()


@dataclass
class DemoCommunity:
    node: AnvilNode
    deployment: Deployment
    deployment_path: Path


@dataclass(frozen=True)
class DemoMeter:
    household: str
    meter: str


def register_demo_households(web3: Web3, deployment: Deployment, progress=print) -> None:
    meters = [DemoMeter(Account.from_key(key).address, Account.from_key(demo_meter_key(index)).address)
              for index, key in enumerate(DEMO_HOUSEHOLD_KEYS)]
    register_meters(web3, deployment, meters, capacity_w=10_000, progress=progress)


def start_demo_chain(port: int = 8545, state_dir: Path | None = None, progress=print) -> DemoCommunity:
    state_dir = state_dir or STATE_DIR
    state_file = state_dir / "chain" / "anvil-state.json"
    resumed = state_file.exists()
    progress(f"{'Resuming' if resumed else 'Starting'} Anvil on port {port} (state: {state_file})")
    node = start_anvil(port=port, state_file=state_file, log_path=state_dir / "chain" / "anvil.log")
    web3 = Web3(Web3.HTTPProvider(node.url))
    chain_id = web3.eth.chain_id
    try:
        deployment = load_deployment(chain_id)
        if not is_deployed(web3, deployment):
            raise FileNotFoundError
        progress("Contracts found on chain from the previous run")
    except FileNotFoundError:
        progress("Deploying contracts")
        deployment = deploy_community(web3, Account.from_key(ANVIL_DEPLOYER_KEY), CommunitySettings(),
                                      progress=lambda name: progress(f"  {name}"))
        deployment.save()
    progress("Registering demo households")
    register_demo_households(web3, deployment, progress=progress)
    rpc_call(node.url, "anvil_dumpState")  # make the deployment survive a hard stop
    return DemoCommunity(node=node, deployment=deployment, deployment_path=Path("deployments") / f"{chain_id}.json")


def print_summary(community: DemoCommunity, progress=print) -> None:
    progress("")
    progress(f"Chain      {community.node.url} (chain id {community.deployment.chain_id})")
    progress(f"Deployment {community.deployment_path}")
    for name, entry in community.deployment.contracts.items():
        progress(f"  {name:<18} {entry['address']}")
    progress("Demo household keys (import into MetaMask, local chain only):")
    for key in DEMO_HOUSEHOLD_KEYS:
        progress(f"  {Account.from_key(key).address}  {key}")


def run_demo(port: int = 8545, exit_after_setup: bool = False, progress=print) -> None:
    community = start_demo_chain(port=port, progress=progress)
    try:
        print_summary(community, progress)
        if exit_after_setup:
            return
        progress("\nRunning. Ctrl-C stops everything; the next `make demo` resumes from the saved state.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                if community.node.process.poll() is not None:
                    raise RuntimeError("anvil stopped unexpectedly; see var/chain/anvil.log")
        except KeyboardInterrupt:
            pass
    finally:
        progress("Stopping the chain (state saved)")
        community.node.stop()
