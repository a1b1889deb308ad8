"""The readings root: a Merkle tree over one leaf per household per interval,
built so that OpenZeppelin's MerkleProof (sorted-pair keccak) verifies it.

leaf = keccak256(keccak256(abi.encode(household, meter, intervalId,
                                      producedWh, consumedWh, readingsHash)))

The leaf is hashed twice, as OpenZeppelin's StandardMerkleTree does, so a
leaf can never be mistaken for an inner node (64-byte preimage attacks).
Leaves are sorted before building, so the root does not depend on the order
households were read in; a level with an odd node carries it up unchanged.

The six words are packed with one ``struct`` call: the auditor hashes every
archived leaf twice, and eth-abi's generic encoder with its checksummed
addresses took about 300 µs a leaf. Anything the packer does not take as it
is (another address spelling, a bool, a short hash) goes through eth-abi as
before, so both give the same bytes or the same error; tests hold them equal.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import to_checksum_address

from backend.protocol.readings import MAX_UINT64, keccak

_LEAF_TYPES = ("address", "address", "uint64", "uint64", "uint64", "bytes32")
# household, meter: 12 zero bytes + 20 | intervalId, producedWh, consumedWh: 24 zero bytes + 8 | readingsHash
_LEAF_WORDS = struct.Struct(">12x20s12x20s24xQ24xQ24xQ32s")


@dataclass(frozen=True)
class Leaf:
    household: str
    meter: str
    interval_id: int
    produced_wh: int
    consumed_wh: int
    readings_hash: bytes  # 32 bytes, see backend.protocol.readings.readings_hash

    def hash(self) -> bytes:
        return keccak(keccak(self.encoded()))

    def encoded(self) -> bytes:
        """abi.encode(household, meter, intervalId, producedWh, consumedWh, readingsHash)."""
        household, meter = _address_bytes(self.household), _address_bytes(self.meter)
        numbers = (self.interval_id, self.produced_wh, self.consumed_wh)
        if (
            household is None
            or meter is None
            or not all(type(n) is int and 0 <= n <= MAX_UINT64 for n in numbers)
            or type(self.readings_hash) is not bytes
            or len(self.readings_hash) != 32
        ):
            return self.abi_encoded()
        return _LEAF_WORDS.pack(household, meter, *numbers, self.readings_hash)

    def abi_encoded(self) -> bytes:
        """The same bytes through eth-abi (the reference; it also names what is wrong with a bad field)."""
        return encode(
            _LEAF_TYPES,
            [
                to_checksum_address(self.household),
                to_checksum_address(self.meter),
                self.interval_id,
                self.produced_wh,
                self.consumed_wh,
                self.readings_hash,
            ],
        )


def _address_bytes(address: object) -> bytes | None:
    """The 20 bytes of a 0x + 40 hex digit address in any case; None for any other form.

    The case is not checked, as to_checksum_address does not check it either."""
    if type(address) is not str or len(address) != 42 or not address.startswith("0x"):
        return None
    try:
        raw = bytes.fromhex(address[2:])
    except ValueError:
        return None
    # fromhex skips whitespace: 40 characters give 20 bytes only when all are hex digits.
    return raw if len(raw) == 20 else None


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
