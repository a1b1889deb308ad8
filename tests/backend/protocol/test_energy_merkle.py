"""Interval energy from cumulative registers, and the readings Merkle tree."""

from __future__ import annotations

import random

import pytest
from eth_utils import keccak as reference_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.protocol.energy import Registers, RegisterSample, interval_energy, register_at
from backend.protocol.merkle import Leaf, MerkleTree, verify

S = RegisterSample


def test_interpolates_across_a_boundary():
    # readings at 850 s (1,000 Wh) and 950 s (1,100 Wh); boundary 900 s -> 1,050 Wh
    samples = [S(850, 1_000, 20), S(950, 1_100, 30)]
    assert register_at(samples, 900) == Registers(1_050, 25)
    assert register_at(samples, 850) == Registers(1_000, 20)
    assert register_at(samples, 800) is None


def test_a_quiet_meter_carries_its_energy_into_the_next_interval():
    # interval 1: [0, 900), interval 2: [900, 1800), interval 3: [1800, 2700)
    samples = [S(0, 0, 0), S(600, 300, 0)]
    energy1, attributed = interval_energy(samples, None, 900)
    assert energy1 == Registers(300, 0)  # nothing after 600 s yet
    energy2, attributed = interval_energy(samples, attributed, 1_800)
    assert energy2 == Registers(0, 0)  # silent all interval
    samples.append(S(2_000, 1_700, 0))  # it comes back: 1,400 Wh since 600 s
    energy3, _ = interval_energy(samples, attributed, 2_700)
    assert energy3 == Registers(1_400, 0)
    assert energy1.produced_wh + energy2.produced_wh + energy3.produced_wh == 1_700


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 2_000), st.integers(0, 500), st.integers(0, 500)), min_size=1, max_size=40))
def test_every_wh_is_attributed_exactly_once(steps):
    ts = produced = consumed = 0
    samples = []
    for dt, dp, dc in steps:
        ts, produced, consumed = ts + dt, produced + dp, consumed + dc
        samples.append(S(ts, produced, consumed))
    attributed = None
    total_p = total_c = 0
    boundary = (samples[0].ts // 900 + 1) * 900
    while boundary <= samples[-1].ts + 900:
        result = interval_energy(samples, attributed, boundary)
        energy, attributed = result
        assert energy.produced_wh >= 0 and energy.consumed_wh >= 0
        total_p += energy.produced_wh
        total_c += energy.consumed_wh
        boundary += 900
    assert total_p == samples[-1].produced_wh - samples[0].produced_wh
    assert total_c == samples[-1].consumed_wh - samples[0].consumed_wh


def _leaves(count: int, seed: int = 1) -> list[Leaf]:
    rng = random.Random(seed)
    return [
        Leaf(
            f"0x{rng.getrandbits(160):040x}",
            f"0x{rng.getrandbits(160):040x}",
            5,
            rng.randint(0, 9_999),
            rng.randint(0, 9_999),
            rng.randbytes(32),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 33])
def test_every_leaf_proves_and_nothing_else_does(count):
    hashes = [leaf.hash() for leaf in _leaves(count)]
    tree = MerkleTree(hashes)
    for leaf_hash in hashes:
        assert verify(tree.proof(leaf_hash), tree.root, leaf_hash)
    forged = Leaf(**{**_leaves(1)[0].__dict__, "produced_wh": 10_001}).hash()
    assert not verify(tree.proof(hashes[0]), tree.root, forged)
    with pytest.raises(KeyError):
        tree.proof(forged)


def test_root_ignores_leaf_order_but_not_content():
    leaves = _leaves(9)
    hashes = [leaf.hash() for leaf in leaves]
    assert MerkleTree(hashes).root == MerkleTree(list(reversed(hashes))).root
    changed = [Leaf(**{**leaves[0].__dict__, "consumed_wh": leaves[0].consumed_wh + 1}).hash()] + hashes[1:]
    assert MerkleTree(changed).root != MerkleTree(hashes).root


def test_bad_trees_are_refused():
    with pytest.raises(ValueError):
        MerkleTree([])
    with pytest.raises(ValueError):
        MerkleTree([b"\x01" * 32, b"\x01" * 32])


# --- the packed leaf encoding against eth-abi's ----------------------------------------------------------

uint64s = st.integers(min_value=0, max_value=2**64 - 1)
SPELLINGS = (str.lower, str.upper, lambda hex_digits: hex_digits[:20].upper() + hex_digits[20:])
spelled_addresses = st.builds(
    lambda raw, spell: "0x" + spell(raw.hex()), st.binary(min_size=20, max_size=20), st.sampled_from(SPELLINGS)
)


@settings(max_examples=300, deadline=None)
@given(spelled_addresses, spelled_addresses, uint64s, uint64s, uint64s, st.binary(min_size=32, max_size=32))
def test_packed_leaf_is_the_abi_encoding(household, meter, interval_id, produced, consumed, readings_hash):
    leaf = Leaf(household, meter, interval_id, produced, consumed, readings_hash)
    assert leaf.encoded() == leaf.abi_encoded()
    assert leaf.hash() == reference_keccak(reference_keccak(leaf.abi_encoded()))


def test_leaf_fields_the_packer_does_not_take_go_through_eth_abi():
    base = _leaves(1)[0]
    bare_hex = base.household[2:]
    for changes in (
        {"household": bare_hex},  # no 0x: to_checksum_address takes it, so eth-abi decides
        {"meter": "0X" + base.meter[2:]},
        {"household": bytes.fromhex(bare_hex)},  # 20 raw bytes
        {"readings_hash": b"\x07" * 31},  # short: eth-abi pads it on the right
    ):
        leaf = Leaf(**{**base.__dict__, **changes})
        assert leaf.encoded() == leaf.abi_encoded()
        assert leaf.hash() == reference_keccak(reference_keccak(leaf.abi_encoded()))
    for changes in (
        {"produced_wh": 2**64},
        {"consumed_wh": -1},
        {"interval_id": True},
        {"interval_id": 5.0},
        {"meter": "0x" + "g" * 40},
        {"meter": "0x" + "ab " * 13 + "a"},  # 40 characters, whitespace among them
        {"household": base.household[:-2]},
        {"readings_hash": b"\x07" * 33},
    ):
        leaf = Leaf(**{**base.__dict__, **changes})
        with pytest.raises(Exception) as reference:
            leaf.abi_encoded()
        with pytest.raises(type(reference.value)):
            leaf.hash()
