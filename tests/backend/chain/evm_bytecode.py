"""An EVM disassembler for the tests: opcodes in order, the data of each PUSH skipped, data sections left out.

solc appends data to the runtime code (long constants it loads with CODECOPY,
such as OpenZeppelin's ERC-7201 storage slots, then the CBOR metadata). A
linear sweep reads those bytes as opcodes; `reachable` keeps only what the
EVM can run: code from offset 0 up to a halting or jumping opcode, and again
from each JUMPDEST that some PUSH names as a target (solc jumps only to pushed
tags). Anything else after a halt is never executed.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.vm import opcode_values

PUSH1, PUSH32 = opcode_values.PUSH1, opcode_values.PUSH32
JUMPDEST = opcode_values.JUMPDEST
# After these the next instruction runs only when something jumps to it.
ENDS_BLOCK = {
    opcode_values.STOP,
    opcode_values.JUMP,
    opcode_values.RETURN,
    opcode_values.REVERT,
    0xFE,
    opcode_values.SELFDESTRUCT,
}  # 0xFE: INVALID


@dataclass(frozen=True)
class Instruction:
    offset: int
    opcode: int
    push_data: bytes = b""


def strip_metadata(code: bytes) -> bytes:
    """The code without solc's CBOR metadata trailer (its length is the last two bytes): data, not instructions."""
    if len(code) < 2:
        return code
    length = int.from_bytes(code[-2:], "big")
    if length + 2 > len(code) or code[-2 - length] not in (0xA1, 0xA2, 0xA3):  # a CBOR map of 1-3 entries
        return code
    return code[: -2 - length]


def disassemble(code: bytes) -> list[Instruction]:
    """Walk `code` from offset 0: PUSH1..PUSH32 take their 1..32 data bytes along, every other byte is one opcode."""
    instructions, offset = [], 0
    while offset < len(code):
        opcode = code[offset]
        width = opcode - PUSH1 + 1 if PUSH1 <= opcode <= PUSH32 else 0
        instructions.append(Instruction(offset, opcode, code[offset + 1 : offset + 1 + width]))
        offset += 1 + width
    return instructions


def reachable(instructions: list[Instruction]) -> list[Instruction]:
    """The instructions the EVM can execute: from offset 0 and from every pushed JUMPDEST, each up to a block end."""
    jumpdests = {i.offset for i in instructions if i.opcode == JUMPDEST}
    targets = {int.from_bytes(i.push_data, "big") for i in instructions if i.push_data} & jumpdests
    live, runnable = True, []
    for instruction in instructions:
        live = live or instruction.offset in targets
        if live:
            runnable.append(instruction)
            live = instruction.opcode not in ENDS_BLOCK
    return runnable


def opcodes(hex_code: str) -> set[int]:
    """Every opcode the EVM can execute in this code (0x hex): metadata and data sections left out."""
    code = bytes.fromhex(hex_code.removeprefix("0x"))
    return {instruction.opcode for instruction in reachable(disassemble(strip_metadata(code)))}
