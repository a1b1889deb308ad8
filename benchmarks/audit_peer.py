"""The peer of `vatio audit` in bench_audit.py: a plain web3.py script that reads the events once.

Every event the audit reads (the market's settlements, fills, orders and
accounts, the registry's households and meters, the token's transfers),
fetched with web3.py's `get_logs` in windows of `blocks_per_query` blocks
from the deployment block to the head, and decoded. It checks nothing: its
time is the floor of any audit that reads the history from a node.

    .venv/bin/python benchmarks/audit_peer.py --rpc-url URL --deployment FILE
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.chain.deploy import Deployment  # noqa: E402

EVENTS = {
    "EnergyMarket": (
        "HouseholdSettled",
        "Filled",
        "ChunkSettled",
        "IntervalSettled",
        "OrderPlaced",
        "OrderClosed",
        "AutoOrderSet",
        "Deposited",
        "Withdrawn",
    ),
    "CommunityRegistry": ("HouseholdRegistered", "MeterReplaced"),
    "EnergyToken": ("Transfer",),
}


def read_events(web3: Web3, deployment: Deployment, blocks_per_query: int = 10_000) -> dict[str, int]:
    """Logs per event, read once up to the head."""
    head = web3.eth.block_number
    counts = {}
    for contract_name, names in EVENTS.items():
        contract = deployment.contract(web3, contract_name)
        for name in names:
            event, logs = contract.events[name], []
            for start in range(deployment.deploy_block, head + 1, blocks_per_query):
                logs += event.get_logs(from_block=start, to_block=min(start + blocks_per_query - 1, head))
            counts[name] = len(logs)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc-url", required=True)
    parser.add_argument("--deployment", required=True, type=Path)
    arguments = parser.parse_args()
    web3 = Web3(Web3.HTTPProvider(arguments.rpc_url, request_kwargs={"timeout": 120}))
    started = time.perf_counter()
    counts = read_events(web3, Deployment.read(arguments.deployment))
    print(f"{sum(counts.values())} logs in {time.perf_counter() - started:.2f} s: {counts}")


if __name__ == "__main__":
    main()
