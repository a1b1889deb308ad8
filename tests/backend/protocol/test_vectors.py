"""The shared test vectors (tests/fixtures/protocol_vectors.json) are what backend.protocol computes, byte for byte.

The browser's verifier checks the same file (frontend/src/audit/verify.test.ts),
so the two implementations agree on every digest, signer, readings hash,
register, leaf, root and proof. Digests and signers are also checked against
eth-account, an implementation independent of backend.protocol.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak as reference_keccak

from backend.protocol.energy import Registers, RegisterSample, register_at
from backend.protocol.merkle import Leaf, MerkleTree, verify
from backend.protocol.parser import encode_reading, parse_reading
from backend.protocol.readings import (
    InvalidSignature,
    MeterDomain,
    SignedReading,
    reading_digest,
    readings_hash,
    recover_signer,
    typed_data,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
VECTORS_FILE = REPO_ROOT / "tests" / "fixtures" / "protocol_vectors.json"


def _generator():
    spec = importlib.util.spec_from_file_location("protocol_vectors", REPO_ROOT / "scripts" / "protocol_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VECTORS = json.loads(VECTORS_FILE.read_text())
DOMAIN = MeterDomain(VECTORS["domain"]["chainId"], VECTORS["domain"]["verifyingContract"])
SIGNED = [parse_reading(vector["payload"].encode()) for vector in VECTORS["readings"]]


def raw(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def test_the_file_is_what_the_generator_writes_now():
    generator = _generator()
    assert VECTORS_FILE.read_text() == generator.render(generator.build_vectors()), (
        "backend.protocol no longer gives the committed vectors: a change of the public interface? "
        "If it is meant, run scripts/protocol_vectors.py and update frontend/src/audit/verify.ts to match"
    )


def test_domain_separator():
    assert DOMAIN.separator.hex() == VECTORS["domain"]["separator"].removeprefix("0x")


@pytest.mark.parametrize("index", range(len(VECTORS["readings"])))
def test_readings_digest_signer_and_payload(index):
    vector, signed = VECTORS["readings"][index], SIGNED[index]
    assert encode_reading(signed).decode() == vector["payload"]
    digest = reading_digest(signed.reading, DOMAIN)
    assert "0x" + digest.hex() == vector["digest"]
    assert recover_signer(signed, DOMAIN) == vector["signer"] == signed.reading.meter
    # eth-account encodes, hashes and recovers independently of backend.protocol
    message = encode_typed_data(full_message=typed_data(signed.reading, DOMAIN))
    assert reference_keccak(b"\x19" + message.version + message.header + message.body) == digest
    assert Account.recover_message(message, signature=signed.signature) == vector["signer"]


@pytest.mark.parametrize("vector", VECTORS["refusedSignatures"], ids=[v["why"] for v in VECTORS["refusedSignatures"]])
def test_refused_signatures(vector):
    signed = SignedReading(SIGNED[vector["reading"]].reading, raw(vector["signature"]))
    with pytest.raises(InvalidSignature):
        recover_signer(signed, DOMAIN)


def test_readings_hashes():
    for vector in VECTORS["readingsHashes"]:
        assert "0x" + readings_hash([SIGNED[i] for i in vector["readings"]], DOMAIN).hex() == vector["readingsHash"]
    assert any(not v["readings"] for v in VECTORS["readingsHashes"])  # the empty set: keccak256("")
    assert any(v["readings"] != sorted(v["readings"]) for v in VECTORS["readingsHashes"])  # order-independent


def test_registers_at_boundaries():
    for vector in VECTORS["registers"]:
        samples = [
            RegisterSample(SIGNED[i].reading.ts, SIGNED[i].reading.produced_wh, SIGNED[i].reading.consumed_wh)
            for i in vector["readings"]
        ]
        at = vector["registers"]
        expected = None if at is None else Registers(at["producedWh"], at["consumedWh"])
        assert register_at(samples, vector["boundary"]) == expected
    assert any(v["registers"] is None for v in VECTORS["registers"])  # before the first reading


def test_leaves():
    for vector in VECTORS["leaves"]:
        leaf = Leaf(
            vector["household"],
            vector["meter"],
            vector["intervalId"],
            vector["producedWh"],
            vector["consumedWh"],
            raw(vector["readingsHash"]),
        )
        assert "0x" + leaf.hash().hex() == vector["leaf"]


def test_trees_roots_and_proofs():
    sizes = []
    for vector in VECTORS["trees"]:
        leaves = [raw(leaf) for leaf in vector["leaves"]]
        tree = MerkleTree(leaves)
        assert "0x" + tree.root.hex() == vector["root"]
        for leaf, proof in zip(leaves, vector["proofs"], strict=True):
            assert ["0x" + node.hex() for node in tree.proof(leaf)] == proof
            assert verify([raw(node) for node in proof], tree.root, leaf)
        sizes.append(len(leaves))
    assert 1 in sizes and any(size % 2 for size in sizes if size > 1)  # a single leaf, and an odd node carried up
