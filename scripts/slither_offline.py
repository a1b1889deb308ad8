"""Run Slither on contracts/ offline, through the project's solc-js wrapper.

`make slither` calls this from the repository root. It compiles the contracts
with the same compiler and settings Ape uses (`ape-config.yaml`), with
OpenZeppelin read from node_modules, runs every Slither detector, prints the
findings in our own files grouped by impact, and exits 1 when a High or Medium
finding is not in ALLOWED below. Nothing is downloaded: the compiler (this
checkout's scripts/solc/solc-native.cjs) is passed as an explicit path, so
crytic-compile never asks solc-select for one, and any attempt to open a
network connection from this process fails the run.
"""

import argparse
import os
import shutil
import socket
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = "contracts"
SOLC_WRAPPER = REPO_ROOT / "scripts" / "solc" / "solc-native.cjs"
OPENZEPPELIN_REMAPPING = "@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"
IMPACT_ORDER = ("High", "Medium", "Low", "Informational", "Optimization")
GATED_IMPACTS = ("High", "Medium")


@dataclass(frozen=True)
class Allowed:
    """A High/Medium finding that was reviewed and explained (see docs/security.md)."""

    check: str
    location: str  # Contract.function, or Contract.function.variable for local variables
    reason: str


_ENERGY_TOKEN_CALLS = (
    "calls go only to the immutable EnergyToken (OZ ERC20, no transfer hooks), whose "
    "mint/burn cannot call back; settleInterval/settleChunk are nonReentrant and onlyOracle"
)
_ZERO_DEFAULT = "zero default is intended: assigned on one branch only, 0 means none"

ALLOWED = (
    Allowed("reentrancy-no-eth", "EnergyMarket._applyChunk", _ENERGY_TOKEN_CALLS),
    Allowed("reentrancy-no-eth", "EnergyMarket.settleChunk", _ENERGY_TOKEN_CALLS),
    Allowed("uninitialized-local", "EnergyMarket._applyChunk.askSoldWh", _ZERO_DEFAULT),
    Allowed("uninitialized-local", "EnergyMarket._settleEntry.credited", _ZERO_DEFAULT),
    Allowed("uninitialized-local", "EnergyMarket._settleEntry.burned", _ZERO_DEFAULT),
    Allowed("uninitialized-local", "EnergyMarket._settleEntry.gridImport", _ZERO_DEFAULT),
    Allowed("uninitialized-local", "EnergyMarket._closeAndRefund.refundEuro", _ZERO_DEFAULT),
    Allowed("uninitialized-local", "EnergyMarket._closeAndRefund.refundWh", _ZERO_DEFAULT),
    Allowed(
        "divide-before-multiply",
        "CommunityRegistry.bandOf",
        "truncating to the day and the hour is the point: the day keys the calendar, the hour its band byte",
    ),
    Allowed(
        "incorrect-equality",
        "CommunityRegistry.bandOf",
        "compares configuration the registry wrote (a version's band count, a calendar byte), not a balance",
    ),
    Allowed(
        "unused-return",
        "CommunityRegistry.readingSigner",
        "drops only tryRecover's errArg (detail of the error); err is checked and any failure gives address(0)",
    ),
)


def _refuse_network(*_args, **_kwargs):
    """Stand in for socket.connect: refuse, loudly."""
    raise RuntimeError("slither_offline: a network connection was attempted; this run must stay offline")


def _forbid_network() -> None:
    """Make any connection attempt from this process fail instead of downloading."""
    socket.socket.connect = _refuse_network
    socket.socket.connect_ex = _refuse_network


def _compiler_settings() -> dict:
    """Read the compiler version and settings Ape compiles with."""
    import yaml

    with open(REPO_ROOT / "ape-config.yaml", encoding="utf-8") as config_file:
        solidity = yaml.safe_load(config_file)["solidity"]
    return {
        "version": str(solidity["version"]),
        "evm_version": solidity.get("evm_version"),
        "optimize": bool(solidity.get("optimize", True)),
        "optimization_runs": int(solidity.get("optimization_runs", 200)),
    }


def _write_solc_shim(shim_dir: Path) -> Path:
    """Write an executable that runs this checkout's solc-js wrapper, like the one `make solc` installs.

    Not ~/.solcx/solc-v0.8.28 itself: every checkout's `make solc` rewrites that
    shared file to point at its own tree, so it may run another checkout's solc-js.
    """
    node = shutil.which("node")
    if node is None:
        sys.exit("slither_offline: node is not on PATH; run `make setup`")
    if not (REPO_ROOT / "node_modules" / "solc").is_dir():
        sys.exit("slither_offline: node_modules/solc is missing; run `make setup`")
    shim = shim_dir / "solc"
    shim.write_text(f'#!/bin/sh\nexec "{node}" "{SOLC_WRAPPER}" "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return shim


def _ours(path: Path) -> bool:
    """Tell whether a path lies in contracts/ outside a hidden folder: Ape may copy OpenZeppelin into
    contracts/.cache/, which is not ours to analyse."""
    relative = path.resolve().relative_to(REPO_ROOT / CONTRACTS_DIR)
    return not any(part.startswith(".") for part in relative.parts)


def _source_files() -> list[str]:
    """List the project's Solidity files, relative to the repository root."""
    return sorted(
        path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / CONTRACTS_DIR).rglob("*.sol") if _ours(path)
    )


def _run_detectors(settings: dict, solc: Path) -> list[dict]:
    """Compile through the wrapper with standard JSON and return every detector result."""
    import inspect

    # Imported here, not at the top: importing crytic-compile imports solc-select,
    # which must see the environment main() sets up.
    from crytic_compile.platform.exceptions import InvalidCompilation
    from crytic_compile.platform.solc_standard_json import SolcStandardJson
    from slither import Slither
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector
    from slither.exceptions import SlitherError

    compiler_input = {
        "language": "Solidity",
        "sources": {},
        "settings": {
            "remappings": [OPENZEPPELIN_REMAPPING],
            "optimizer": {"enabled": settings["optimize"], "runs": settings["optimization_runs"]},
        },
    }
    if settings["evm_version"]:
        compiler_input["settings"]["evmVersion"] = settings["evm_version"]
    platform = SolcStandardJson(compiler_input)
    platform.add_source_files(_source_files())

    try:
        slither = Slither(
            platform,
            solc=str(solc),
            solc_working_dir=str(REPO_ROOT),
            # Ape already shows compiler warnings; Slither's shadowing-local reports the same ones.
            solc_disable_warnings=True,
            # ALLOWED is the one place a finding is explained: no inline slither-disable
            # comments and no slither.db.json triage file can hide one.
            show_ignored_findings=True,
        )
    except (InvalidCompilation, SlitherError) as error:
        sys.exit(f"slither_offline: compilation failed:\n{error}")

    compiled_version = slither.crytic_compile.compilation_units["standard_json"].compiler_version.version
    if compiled_version != settings["version"]:
        sys.exit(
            f"slither_offline: the wrapper is solc {compiled_version}, ape-config.yaml asks for {settings['version']}"
        )

    # A filter that matched nothing would pass the gate silently: make sure our contracts were analysed.
    if not any(_in_contracts(contract.source_mapping.filename.absolute) for contract in slither.contracts):
        sys.exit(f"slither_offline: Slither saw no contract under {CONTRACTS_DIR}/")

    for _, detector in inspect.getmembers(all_detectors, inspect.isclass):
        if issubclass(detector, AbstractDetector):
            slither.register_detector(detector)
    return [result for detector_results in slither.run_detectors() for result in detector_results]


def _in_contracts(filename_absolute: str) -> bool:
    """Tell whether a source file lies in the project's contracts/ folder."""
    if not filename_absolute or not Path(filename_absolute).resolve().is_relative_to(REPO_ROOT / CONTRACTS_DIR):
        return False
    return _ours(Path(filename_absolute))


def _is_ours(result: dict) -> bool:
    """Keep a result when any of its elements lies in contracts/ (OpenZeppelin-only results are dropped)."""
    return any(
        _in_contracts(element.get("source_mapping", {}).get("filename_absolute", "")) for element in result["elements"]
    )


def _location(result: dict) -> str:
    """Name what a result is about: Contract.function, Contract.function.variable or Contract."""
    if not result["elements"]:
        return "-"
    element = result["elements"][0]
    names = [element["name"]]
    parent = element.get("type_specific_fields", {}).get("parent")
    while parent is not None:
        names.append(parent["name"])
        parent = parent.get("type_specific_fields", {}).get("parent")
    return ".".join(reversed(names))


def _explanation(result: dict) -> Allowed | None:
    """Return the ALLOWED entry that explains a result, if any."""
    location = _location(result)
    return next((entry for entry in ALLOWED if entry.check == result["check"] and entry.location == location), None)


def _shorten(text: str, width: int) -> str:
    """Cut text to width characters, marking the cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _print_report(results: list[dict], dependency_only: int, verbose: bool) -> list[dict]:
    """Print the findings grouped by impact and return the unexplained High/Medium ones."""
    by_impact: dict[str, list[dict]] = defaultdict(list)
    for result in results:
        by_impact[result["impact"]].append(result)

    unexplained = []
    for impact in IMPACT_ORDER:
        findings = sorted(by_impact.get(impact, []), key=lambda r: (r["check"], _location(r), r["description"]))
        print(f"\n=== {impact}: {len(findings)} ===")
        for result in findings:
            gated = impact in GATED_IMPACTS
            allowed = _explanation(result) if gated else None
            if gated and allowed is None:
                unexplained.append(result)
            status = f"explained: {allowed.reason}" if allowed else ("NOT EXPLAINED" if gated else "")
            heading = f"[{result['check']}] ({result['confidence']} confidence) {_location(result)}"
            print(f"\n{heading}" + (f"  -- {status}" if status else ""))
            description = result["description"].rstrip()
            if gated or verbose:
                print("\t" + description.replace("\n", "\n\t"))
            else:
                print("\t" + _shorten(" ".join(description.split()), 240))

    seen = {(r["check"], _location(r)) for r in results}
    for entry in ALLOWED:
        if (entry.check, entry.location) not in seen:
            print(f"\nnote: ALLOWED entry no longer matches any finding, remove it: {entry.check} {entry.location}")

    counts = ", ".join(f"{impact} {len(by_impact.get(impact, []))}" for impact in IMPACT_ORDER)
    print(f"\nSummary: {counts}; {dependency_only} OpenZeppelin-only findings not shown.")
    return unexplained


def main() -> int:
    """Run the analysis and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print Low/Informational/Optimization findings in full")
    args = parser.parse_args()

    _forbid_network()
    # Source names, and so the paths in the findings, are relative to the repository root.
    os.chdir(REPO_ROOT)
    # solc-select creates its artifacts folder when imported: keep it in the venv, not $HOME.
    os.environ.setdefault("VIRTUAL_ENV", sys.prefix)

    settings = _compiler_settings()
    print(
        f"Slither on {CONTRACTS_DIR}/ with solc {settings['version']} ({SOLC_WRAPPER.relative_to(REPO_ROOT)}, offline)"
    )
    with tempfile.TemporaryDirectory(prefix="slither-solc-") as shim_dir:
        results = _run_detectors(settings, _write_solc_shim(Path(shim_dir)))
    ours = [result for result in results if _is_ours(result)]
    unexplained = _print_report(ours, len(results) - len(ours), args.verbose)

    if unexplained:
        print(
            f"\nFAIL: {len(unexplained)} High/Medium finding(s) not explained in ALLOWED (scripts/slither_offline.py):"
        )
        for result in unexplained:
            print(f"  {result['impact']} {result['check']} {_location(result)}")
        return 1
    print("\nOK: every High/Medium finding is explained.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
