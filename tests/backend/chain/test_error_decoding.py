"""Every custom error of every compiled ABI decodes by name in the oracle's ErrorDecoder."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from backend.chain.artifacts import MANIFEST, load_artifact
from backend.oracle.outbox import ErrorDecoder


def _contract_types() -> dict[str, dict[str, Any]]:
    if not MANIFEST.exists():
        pytest.fail(f"{MANIFEST.name} is missing: run `make setup` (it runs `ape compile`)")
    return json.loads(MANIFEST.read_text())["contractTypes"]


def _abi_type(component: dict[str, Any]) -> str:
    kind = component["type"]
    if kind.startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in component['components'])}){kind[len('tuple') :]}"
    return kind


def _sample(kind: str, seed: int) -> Any:
    """A value of ABI type `kind`, different for each seed (so swapped arguments show)."""
    if kind.endswith("]"):
        inner, size = kind[: kind.rindex("[")], kind[kind.rindex("[") + 1 : -1]
        return [_sample(inner, seed + i) for i in range(int(size) if size else 2)]
    if kind.startswith("("):
        parts, depth, start = [], 0, 1
        for i, char in enumerate(kind[1:-1], start=1):
            depth += char == "("
            depth -= char == ")"
            if char == "," and depth == 0:
                parts.append(kind[start:i])
                start = i + 1
        parts.append(kind[start:-1])
        return tuple(_sample(part, seed + i) for i, part in enumerate(parts) if part)
    if kind == "address":
        return to_checksum_address(f"0x{seed:040x}")
    if kind == "bool":
        return seed % 2 == 1
    if kind == "string":
        return f"value {seed}"
    if kind == "bytes":
        return bytes([seed % 256]) * 3
    if kind.startswith("bytes"):
        return bytes([seed % 256]) * int(kind[len("bytes") :])
    if kind.startswith("uint"):
        return seed % 2 ** min(int(kind[len("uint") :] or 256), 64)
    if kind.startswith("int"):
        return -seed
    raise AssertionError(f"no sample for ABI type {kind}")


def _errors() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, item)
        for name, contract in sorted(_contract_types().items())
        for item in contract["abi"]
        if item["type"] == "error"
    ]


def _deployed_decoder() -> ErrorDecoder:
    """The decoder as the oracle builds it: from the ABIs of the contracts it deploys (those with bytecode)."""
    deployable = [
        name for name, contract in _contract_types().items() if contract.get("deploymentBytecode", {}).get("bytecode")
    ]
    return ErrorDecoder(load_artifact(name).abi for name in deployable)


def test_the_build_has_the_interfaces_and_their_prefixed_errors():
    errors = {item["name"] for _, item in _errors()}
    assert {"ICommunityRegistry", "IEnergyMarket", "IEnergyToken"} <= set(_contract_types())
    assert {"MarketZeroAmount", "MarketNotOracle", "RegistryZeroAddress"} <= errors
    assert not errors & {"ZeroAmount", "NotOracle", "ZeroAddress", "InsufficientBalance"}  # the bare names are gone


def test_every_custom_error_of_every_abi_decodes_by_name_with_its_arguments():
    decoder = _deployed_decoder()
    for contract, item in _errors():
        types = [_abi_type(i) for i in item["inputs"]]
        values = [_sample(kind, seed) for seed, kind in enumerate(types, start=3)]
        data = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})") + encode(types, values)

        reason = decoder.decode("0x" + data.hex())

        where = f"{contract}.{item['name']}"
        assert reason.name == item["name"], where
        assert [name for name, _ in reason.args] == [i["name"] for i in item["inputs"]], where
        assert [value for _, value in reason.args] == values, where


def test_no_two_errors_share_a_name_or_a_selector():
    """The browser's messages are keyed by name and the decoder by selector: both must be unambiguous."""
    signature_of_name: dict[str, str] = {}
    name_of_selector: dict[bytes, str] = {}
    for contract, item in _errors():
        signature = f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"
        assert signature_of_name.setdefault(item["name"], signature) == signature, f"{contract}: {signature}"
        selector = function_signature_to_4byte_selector(signature)
        assert name_of_selector.setdefault(selector, item["name"]) == item["name"], f"{contract}: {signature}"
