"""Compiled contracts (ABI and bytecode) from Ape's build manifest.

`ape compile` (run by `make setup`) writes `.build/__local__.json`; the
deployer reads contract types from it, so Python never compiles Solidity
itself and the bytecode deployed is the bytecode tested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from backend.paths import REPO_ROOT

MANIFEST = REPO_ROOT / ".build" / "__local__.json"


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list
    bytecode: str


@lru_cache(maxsize=1)
def _manifest(path: Path = MANIFEST) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{path.name} not found: run `make setup` (it runs `ape compile`)")
    return json.loads(path.read_text())


def load_artifact(name: str) -> ContractArtifact:
    contract_types = _manifest().get("contractTypes", {})
    if name not in contract_types:
        raise KeyError(f"contract {name!r} is not in the build; known: {sorted(contract_types)}")
    contract = contract_types[name]
    bytecode = contract.get("deploymentBytecode", {}).get("bytecode")
    if not bytecode:
        raise ValueError(f"contract {name!r} has no deployment bytecode")
    return ContractArtifact(name=name, abi=contract["abi"], bytecode=bytecode)
