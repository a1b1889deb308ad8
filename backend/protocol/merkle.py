"""The readings root: a Merkle tree over one leaf per household per interval,
built so that OpenZeppelin's MerkleProof (sorted-pair keccak) verifies it.

leaf = keccak256(keccak256(abi.encode(household, meter, intervalId,
                                      producedWh, consumedWh, readingsHash)))

The leaf is hashed twice, as OpenZeppelin's StandardMerkleTree does, so a
leaf can never be mistaken for an inner node (64-byte preimage attacks).
Leaves are sorted before building, so the root does not depend on the order
households were read in; a level with an odd node carries it up unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


@dataclass(frozen=True)
class Leaf:
    household: str
    meter: str
    interval_id: int
    produced_wh: int
    consumed_wh: int
    readings_hash: bytes  # 32 bytes, see backend.protocol.readings.readings_hash

    def hash(self) -> bytes:
        inner = keccak(
            encode(
                ["address", "address", "uint64", "uint64", "uint64", "bytes32"],
                [
                    to_checksum_address(self.household),
                    to_checksum_address(self.meter),
                    self.interval_id,
                    self.produced_wh,
                    self.consumed_wh,
                    self.readings_hash,
                ],
            )
        )
        return keccak(inner)


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


class MerkleTree:
    def __init__(self, leaf_hashes: Sequence[bytes]):
        if not leaf_hashes:
            raise ValueError("a Merkle tree needs at least one leaf")
        if len(set(leaf_hashes)) != len(leaf_hashes):
            raise ValueError("duplicate leaves")
        self.levels: list[list[bytes]] = [sorted(leaf_hashes)]
        while len(self.levels[-1]) > 1:
            level = self.levels[-1]
            parents = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                parents.append(level[-1])
            self.levels.append(parents)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, leaf_hash: bytes) -> list[bytes]:
        try:
            index = self.levels[0].index(leaf_hash)
        except ValueError:
            raise KeyError("leaf is not in the tree") from None
        proof = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index //= 2
        return proof


def verify(proof: Sequence[bytes], root: bytes, leaf_hash: bytes) -> bool:
    """MerkleProof.verify, in Python (for auditors without a node)."""
    computed = leaf_hash
    for sibling in proof:
        computed = hash_pair(computed, sibling)
    return computed == root
