"""Compiled contracts (ABI and bytecode) from Ape's build manifests, one per EVM level.

`ape compile` (run by `make setup`) writes `.build/__local__.json` with the
EVM version of ape-config.yaml (`solidity.evm_version`, cancun: Gnosis,
Chiado, Anvil's default hardfork). `build_contracts("london")` (`make
contracts-london`) compiles the same sources with the same settings, only
`evm_version` changed, into `.build/london/__local__.json`: the build for
London-level chains (Energy Web Chain, Volta), which lack PUSH0, MCOPY,
TLOAD and TSTORE. The deployer reads contract types from these files, so
Python never compiles Solidity at run time and the bytecode deployed is the
bytecode tested.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from backend.paths import REPO_ROOT

__all__ = [
    "DEFAULT_EVM_VERSION",
    "EVM_VERSIONS",
    "EVM_VERSION_ENV",
    "MANIFEST",
    "ContractArtifact",
    "build_contracts",
    "configured_evm_version",
    "load_artifact",
    "manifest_path",
]

MANIFEST = REPO_ROOT / ".build" / "__local__.json"
APE_CONFIG = REPO_ROOT / "ape-config.yaml"
# The EVM levels the contracts are built for; the first is ape-config.yaml's (the default build).
EVM_VERSIONS = ("cancun", "london")
DEFAULT_EVM_VERSION = "cancun"
# Selects the build for `ape test tests/contracts` (and the Anvil hardfork it runs on).
EVM_VERSION_ENV = "VATIO_EVM_VERSION"


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list
    bytecode: str
    deployed_bytecode: str = ""


def check_evm_version(evm_version: str) -> str:
    if evm_version not in EVM_VERSIONS:
        raise ValueError(f"unknown EVM version {evm_version!r}: the contracts are built for {', '.join(EVM_VERSIONS)}")
    return evm_version


def configured_evm_version(environ=None) -> str:
    """The EVM version $VATIO_EVM_VERSION asks for; the default build's when unset."""
    value = (os.environ if environ is None else environ).get(EVM_VERSION_ENV, "").strip()
    return check_evm_version(value or DEFAULT_EVM_VERSION)


def manifest_path(evm_version: str = DEFAULT_EVM_VERSION) -> Path:
    """Where the build for `evm_version` is: Ape's own manifest for the default, .build/<version>/ for another."""
    check_evm_version(evm_version)
    return MANIFEST if evm_version == DEFAULT_EVM_VERSION else REPO_ROOT / ".build" / evm_version / "__local__.json"


def solidity_settings(evm_version: str) -> dict:
    """ape-config.yaml's `solidity` section with only `evm_version` replaced: one source, one choice."""
    import yaml

    section = dict(yaml.safe_load(APE_CONFIG.read_text())["solidity"])
    section["evm_version"] = check_evm_version(evm_version)
    return section


def ape_project(evm_version: str):
    """The Ape project of this checkout, compiling for `evm_version` into its own manifest (imports Ape)."""
    from ape import Project, project

    if evm_version == DEFAULT_EVM_VERSION:
        return project
    # A config override replaces the whole section, hence all of ape-config.yaml's solidity settings.
    return Project(
        REPO_ROOT,
        manifest_path=manifest_path(evm_version),
        config_override={"solidity": solidity_settings(evm_version)},
    )


def build_contracts(evm_version: str) -> Path:
    """Compile every contract for `evm_version` (Ape and the offline solc); return the manifest's path."""
    project = ape_project(evm_version)
    project.load_contracts()
    _manifest.cache_clear()
    return manifest_path(evm_version)


@lru_cache(maxsize=4)
def _manifest(path: Path = MANIFEST) -> dict:
    if not path.exists():
        hint = "`make setup` (it runs `ape compile`)" if path == MANIFEST else "`make contracts-london`"
        raise FileNotFoundError(f"{path} not found: run {hint}")
    return json.loads(path.read_text())


def load_artifact(name: str, evm_version: str = DEFAULT_EVM_VERSION) -> ContractArtifact:
    contract_types = _manifest(manifest_path(evm_version)).get("contractTypes", {})
    if name not in contract_types:
        raise KeyError(f"contract {name!r} is not in the {evm_version} build; known: {sorted(contract_types)}")
    contract = contract_types[name]
    bytecode = contract.get("deploymentBytecode", {}).get("bytecode")
    if not bytecode:
        raise ValueError(f"contract {name!r} has no deployment bytecode")
    return ContractArtifact(
        name=name,
        abi=contract["abi"],
        bytecode=bytecode,
        deployed_bytecode=contract.get("runtimeBytecode", {}).get("bytecode") or "",
    )
