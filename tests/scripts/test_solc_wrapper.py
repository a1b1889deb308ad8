"""The solc-js wrapper speaks native solc's command line (what py-solc-x,
ape-solidity and crytic-compile call)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the solc-js wrapper as a process, many times

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "scripts" / "solc" / "solc-native.cjs"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(WRAPPER), *args], input=stdin, capture_output=True, text=True, timeout=120)


def standard_json(sources: dict) -> str:
    return json.dumps(
        {
            "language": "Solidity",
            "sources": sources,
            "settings": {"outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}},
        }
    )


def test_version_is_native_format():
    result = run("--version")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert lines[1].startswith("Version: 0.8.28+commit.7893614a")


def test_standard_json_reads_imports_from_include_paths(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Base.sol").write_text("pragma solidity ^0.8.20; contract Base { uint256 public x = 7; }")
    source = 'pragma solidity ^0.8.20; import "Base.sol"; contract Child is Base {}'
    result = run(
        "--standard-json",
        "--base-path",
        str(tmp_path),
        "--include-path",
        str(tmp_path / "lib"),
        stdin=standard_json({"Child.sol": {"content": source}}),
    )
    output = json.loads(result.stdout)
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"], output.get("errors")
    assert output["contracts"]["Child.sol"]["Child"]["evm"]["bytecode"]["object"]


def test_imports_outside_allowed_paths_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Secret.sol").write_text("pragma solidity ^0.8.20; contract Secret {}")
    base = tmp_path / "base"
    base.mkdir()
    source = f'pragma solidity ^0.8.20; import "{outside / "Secret.sol"}"; contract A {{}}'
    result = run("--standard-json", "--base-path", str(base), stdin=standard_json({"A.sol": {"content": source}}))
    errors = json.loads(result.stdout)["errors"]
    assert any("not found" in e["message"].lower() for e in errors)


def test_large_output_is_not_truncated():
    # Many contracts produce a big JSON document; it must arrive whole on a pipe.
    body = "".join(
        f"contract C{i} {{ function f() external pure returns (uint256) {{ return {i}; }} }}\n" for i in range(150)
    )
    result = run("--standard-json", stdin=standard_json({"Many.sol": {"content": "pragma solidity ^0.8.20;\n" + body}}))
    assert len(result.stdout) > 65_536
    assert len(json.loads(result.stdout)["contracts"]["Many.sol"]) == 150


@pytest.mark.parametrize("args", [(), ("--combined-json", "abi"), ("--base-path",)])
def test_unsupported_use_fails_clearly(args):
    result = run(*args)
    assert result.returncode != 0
    assert result.stderr.strip()
