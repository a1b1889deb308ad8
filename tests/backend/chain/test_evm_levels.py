"""The two EVM levels from one source: the London build has no opcode a London-level chain (EWC, Volta) lacks."""

from __future__ import annotations

import pytest
from eth.vm import opcode_values
from evm_bytecode import Instruction, disassemble, opcodes, reachable, strip_metadata

from backend.chain.artifacts import build_contracts, load_artifact, manifest_path

CANCUN_ONLY = {  # Shanghai's PUSH0 and Cancun's MCOPY, TLOAD, TSTORE
    opcode_values.PUSH0: "PUSH0",
    opcode_values.MCOPY: "MCOPY",
    opcode_values.TLOAD: "TLOAD",
    opcode_values.TSTORE: "TSTORE",
}
CONTRACTS = ("CommunityRegistry", "EnergyToken", "EnergyMarket", "TestEuro")


@pytest.fixture(scope="module")
def london_build():
    if not manifest_path("london").is_file():
        build_contracts("london")  # what `make contracts-london` does
    return manifest_path("london")


def test_disassemble_skips_push_data():
    # PUSH2 0x5f5c, PUSH0, MCOPY, then PUSH32 of 0x5d bytes: the data bytes are not opcodes.
    code = bytes([0x61, 0x5F, 0x5C, 0x5F, 0x5E, 0x7F]) + bytes([0x5D] * 32) + bytes([0x00])
    assert disassemble(code) == [
        Instruction(0, 0x61, bytes([0x5F, 0x5C])),
        Instruction(3, 0x5F),
        Instruction(4, 0x5E),
        Instruction(5, 0x7F, bytes([0x5D] * 32)),
        Instruction(38, 0x00),
    ]


def test_disassemble_a_truncated_push_keeps_what_is_there():
    assert disassemble(bytes([0x00, 0x62, 0x01])) == [Instruction(0, 0x00), Instruction(1, 0x62, bytes([0x01]))]


def test_reachable_leaves_out_data_after_a_halt_but_follows_pushed_jumps():
    # PUSH1 6, JUMP, INVALID, <data 5f 5e>, JUMPDEST (6), PUSH0, STOP, <data 5c 5d>
    code = bytes([0x60, 0x06, 0x56, 0xFE, 0x5F, 0x5E, 0x5B, 0x5F, 0x00, 0x5C, 0x5D])
    assert [i.offset for i in reachable(disassemble(code))] == [0, 2, 6, 7, 8]
    assert opcodes("0x" + code.hex()) == {0x60, 0x56, 0x5B, 0x5F, 0x00}
    # Without the PUSH naming it, the JUMPDEST after the halt is dead code.
    assert opcodes("0x" + bytes([0x00, 0x5B, 0x5F]).hex()) == {0x00}


def test_strip_metadata_removes_the_cbor_trailer_only():
    trailer = bytes([0xA1, 0x64]) + b"solc" + bytes([0x43, 0x00, 0x08, 0x1C]) + (10).to_bytes(2, "big")
    assert strip_metadata(bytes([0x60, 0x80, 0x5F]) + trailer) == bytes([0x60, 0x80, 0x5F])
    assert strip_metadata(bytes([0x60, 0x80, 0x00, 0x05])) == bytes([0x60, 0x80, 0x00, 0x05])


@pytest.mark.parametrize("name", CONTRACTS)
def test_london_build_has_no_cancun_opcodes(london_build, name):
    artifact = load_artifact(name, "london")
    assert artifact.deployed_bytecode, f"{name} has no runtime bytecode in {london_build}"
    found = opcodes(artifact.deployed_bytecode) & set(CANCUN_ONLY)
    assert not found, f"{name} (london) uses {sorted(CANCUN_ONLY[op] for op in found)}"
    # The creation code runs on the chain too (constructor): its opcodes up to the runtime copy count as well.
    assert not opcodes(artifact.bytecode.split(artifact.deployed_bytecode.removeprefix("0x"))[0]) & set(CANCUN_ONLY)


@pytest.mark.parametrize("name", CONTRACTS)
def test_cancun_build_uses_push0(name):
    """The check can fail: the default (cancun) build of the same source does use PUSH0."""
    assert opcode_values.PUSH0 in opcodes(load_artifact(name).deployed_bytecode)
