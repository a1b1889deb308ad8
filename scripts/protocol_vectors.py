"""Write tests/fixtures/protocol_vectors.json: shared test vectors of backend/protocol.

Signed readings (payload, EIP-712 digest, recovered signer), readings hashes,
registers at interval boundaries, settlement leaves, and Merkle trees with
their roots and proofs, all made by backend.protocol with fixed test keys.
Signing is deterministic (RFC 6979), so the file is reproducible: the Python
test (tests/backend/protocol/test_vectors.py) rebuilds it and compares, and
the browser's verifier (frontend/src/audit/verify.test.ts) must reproduce
every digest, signer, hash, root and proof from it.

Usage: python scripts/protocol_vectors.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eth_account import Account

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.protocol.energy import RegisterSample, register_at
from backend.protocol.merkle import Leaf, MerkleTree
from backend.protocol.parser import encode_reading
from backend.protocol.readings import (
    SECP256K1_N,
    InvalidSignature,
    MeterDomain,
    MeterReading,
    SignedReading,
    keccak,
    reading_digest,
    readings_hash,
    recover_signer,
    sign_reading,
)

VECTORS_PATH = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "protocol_vectors.json"
# Test keys only: never fund these. The first is docs/mqtt.md's worked example.
METER_KEYS = [
    "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
    "0x" + keccak(b"vatio protocol vectors: meter 2").hex(),
    "0x" + keccak(b"vatio protocol vectors: meter 3").hex(),
]
HOUSEHOLDS = ["0x" + keccak(f"vatio protocol vectors: household {i}".encode())[12:].hex() for i in range(1, 9)]
DOMAIN = MeterDomain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
INTERVAL_SECONDS = 900
INTERVAL_ID = 1_960_000
# JSON numbers in a browser are doubles: archive integers stay below 2^53 (9e15 Wh is ample).
MAX_SAFE_INTEGER = 2**53 - 1


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _readings() -> list[SignedReading]:
    """Three meters' readings around INTERVAL_ID, plus edge values (zeros, the largest safe integers)."""
    start = INTERVAL_ID * INTERVAL_SECONDS
    signed = []
    for meter_index, key in enumerate(METER_KEYS):
        meter = Account.from_key(key).address
        produced, consumed = 15_000 * meter_index, 9_800 + 100 * meter_index
        for seq, offset in enumerate((-70, 130, 455, 899, 901, 1_210), start=41):
            produced += 37 * (meter_index + 1) * (seq % 3)
            consumed += 11 + seq % 5
            signed.append(
                sign_reading(
                    MeterReading(meter, seq, start + offset + meter_index, produced, consumed, 1_200 * meter_index),
                    DOMAIN,
                    key,
                )
            )
    edge_meter = signed[0].reading.meter
    signed.append(sign_reading(MeterReading(edge_meter, 1, 0, 0, 0, 0), DOMAIN, METER_KEYS[0]))
    signed.append(
        sign_reading(
            MeterReading(edge_meter, MAX_SAFE_INTEGER, MAX_SAFE_INTEGER, MAX_SAFE_INTEGER, MAX_SAFE_INTEGER, 2**32 - 1),
            DOMAIN,
            METER_KEYS[0],
        )
    )
    return signed


def _refused_signatures(signed: SignedReading) -> list[dict]:
    """Signatures over the reading that recovery refuses, though a lenient recoverer finds a key for some."""
    signature = signed.signature
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    cases = {
        "high s: the malleable twin of a valid signature": r + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - v,)),
        "v is 29": signature[:64] + bytes((29,)),
        "r is zero": bytes(32) + signature[32:],
        "r is the group order": SECP256K1_N.to_bytes(32, "big") + signature[32:],
        "s is zero": r + bytes(32) + signature[64:],
    }
    refused = []
    for why, bad in cases.items():
        try:
            recover_signer(SignedReading(signed.reading, bad), DOMAIN)
        except InvalidSignature:
            refused.append({"reading": 0, "signature": _hex(bad), "why": why})
        else:
            raise AssertionError(f"backend.protocol accepts a signature with {why}")
    return refused


def build_vectors() -> dict:
    """Return the vectors document (JSON values), computed by backend.protocol."""
    signed = _readings()
    readings = [
        {
            "payload": encode_reading(s).decode(),
            "digest": _hex(reading_digest(s.reading, DOMAIN)),
            "signer": recover_signer(s, DOMAIN),
        }
        for s in signed
    ]
    by_meter: dict[str, list[int]] = {}
    for index, s in enumerate(signed[:18]):
        by_meter.setdefault(s.reading.meter, []).append(index)
    sets = [indices for indices in by_meter.values()]
    sets += [[], [0], [5, 1, 3], [0, 6, 12], [18, 19]]  # empty, one, out of order, three meters, the edge values
    hashes = [
        {"readings": indices, "readingsHash": _hex(readings_hash([signed[i] for i in indices], DOMAIN))}
        for indices in sets
    ]

    start, end = INTERVAL_ID * INTERVAL_SECONDS, (INTERVAL_ID + 1) * INTERVAL_SECONDS
    registers = []
    for indices in by_meter.values():
        samples = [
            RegisterSample(signed[i].reading.ts, signed[i].reading.produced_wh, signed[i].reading.consumed_wh)
            for i in indices
        ]
        first_ts = samples[0].ts
        for boundary in (first_ts - 1, first_ts, start, start + 300, end, end + 5_000):
            at = register_at(samples, boundary)
            registers.append(
                {
                    "readings": indices,
                    "boundary": boundary,
                    "registers": None if at is None else {"producedWh": at.produced_wh, "consumedWh": at.consumed_wh},
                }
            )

    leaves = []
    for number, household in enumerate(HOUSEHOLDS):
        indices = sets[number % 3]
        meter = signed[indices[0]].reading.meter
        leaf = Leaf(
            household,
            meter,
            INTERVAL_ID + number // 3,
            1_000 * number + 7,
            333 * number,
            readings_hash([signed[i] for i in indices], DOMAIN),
        )
        leaves.append(
            {
                "household": leaf.household,
                "meter": leaf.meter,
                "intervalId": leaf.interval_id,
                "producedWh": leaf.produced_wh,
                "consumedWh": leaf.consumed_wh,
                "readingsHash": _hex(leaf.readings_hash),
                "leaf": _hex(leaf.hash()),
            }
        )

    trees = []
    for size in (1, 2, 3, 5, 8):
        hashes_in_tree = [bytes.fromhex(leaf["leaf"][2:]) for leaf in leaves[:size]]
        tree = MerkleTree(hashes_in_tree)
        trees.append(
            {
                "leaves": [_hex(h) for h in hashes_in_tree],
                "root": _hex(tree.root),
                "proofs": [[_hex(node) for node in tree.proof(h)] for h in hashes_in_tree],
            }
        )

    return {
        "about": "Shared test vectors of backend/protocol, written by scripts/protocol_vectors.py: the Python "
        "tests rebuild them and the browser's frontend/src/audit/verify.ts must reproduce them.",
        "domain": {
            "chainId": DOMAIN.chain_id,
            "verifyingContract": DOMAIN.verifying_contract,
            "separator": _hex(DOMAIN.separator),
        },
        "intervalSeconds": INTERVAL_SECONDS,
        "readings": readings,
        "refusedSignatures": _refused_signatures(signed[0]),
        "readingsHashes": hashes,
        "registers": registers,
        "leaves": leaves,
        "trees": trees,
    }


def render(vectors: dict) -> str:
    """The file's text: two-space indentation, keys in build order, one trailing newline."""
    return json.dumps(vectors, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    arguments = parser.parse_args()
    text = render(build_vectors())
    if arguments.check:
        if VECTORS_PATH.read_text() != text:
            print(f"{VECTORS_PATH} differs from what backend.protocol computes now", file=sys.stderr)
            return 1
        return 0
    VECTORS_PATH.write_text(text)
    print(f"wrote {VECTORS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
