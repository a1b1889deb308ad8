"""Re-check one archived leaf against its own signed readings (pure; no chain, no I/O).

The rules are those of the closing rule and archive spec in docs/audit.md:
every reading is the leaf's meter's and signed by it; the list is what the
closing rule lists (by seq, registers never going back, at most one partner
after the end and, unless it is the meter's first entry, exactly one anchor
at or before the start); the end
registers are register_at(readings, end); produced/consumed are end minus
start; start is the previous entry's end (or the first listed reading for a
meter's first entry), and the two entries agree on the readings they share;
and readingsHash and the leaf hash recompute.

Each problem is one short sentence naming the reading (by seq) or the field
and both values, so an auditor sees exactly what differs.
"""

from __future__ import annotations

from itertools import pairwise

from backend.audit.verified_readings import VerifiedReadings, verified_under
from backend.protocol.archive import ArchivedLeaf
from backend.protocol.energy import Registers, RegisterSample, register_at
from backend.protocol.merkle import Leaf, verify
from backend.protocol.readings import InvalidSignature, MeterDomain


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def registers_text(registers: Registers | None) -> str:
    if registers is None:
        return "none"
    return f"produced {registers.produced_wh} / consumed {registers.consumed_wh} Wh"


def recompute_leaf_hash(
    leaf: ArchivedLeaf, interval_id: int, domain: MeterDomain, verified: VerifiedReadings | None = None
) -> bytes | None:
    """The leaf hash from the leaf's amounts and its readings as archived; None when the
    readings cannot be hashed (two with one seq)."""
    try:
        recomputed_readings_hash = verified_under(domain, verified).readings_hash(leaf.readings)
    except ValueError:
        return None
    return Leaf(
        leaf.household, leaf.meter, interval_id, leaf.produced_wh, leaf.consumed_wh, recomputed_readings_hash
    ).hash()


def check_archived_leaf(
    leaf: ArchivedLeaf,
    interval_id: int,
    interval_start: int,
    interval_end: int,
    domain: MeterDomain,
    previous_end: Registers | None,
    archived_root: bytes,
    verified: VerifiedReadings | None = None,
) -> list[str]:
    """Problems with one leaf; empty when it is sound.

    `previous_end` is the endRegisters of this meter's leaf in
    `leaf.previous_interval`, or None when previousInterval is null (the
    caller reports a previous leaf it cannot find). `verified` remembers
    signers and digests across the leaves of one audit run."""
    verified = verified_under(domain, verified)
    problems = _check_readings(leaf, verified, interval_start, interval_end)
    problems += _check_registers(leaf, interval_end, previous_end)
    problems += _check_hashes(leaf, interval_id, verified, archived_root)
    return problems


def _check_readings(leaf: ArchivedLeaf, verified: VerifiedReadings, start: int, end: int) -> list[str]:
    problems = []
    if not leaf.readings:
        return ["lists no readings"]
    for signed in leaf.readings:
        reading = signed.reading
        if reading.meter != leaf.meter:
            problems.append(f"reading seq {reading.seq} is of meter {reading.meter}, not the leaf's meter {leaf.meter}")
            continue
        try:
            signer = verified.signer(signed)
        except InvalidSignature as error:
            problems.append(f"reading seq {reading.seq} signature is invalid ({error})")
            continue
        if signer != leaf.meter:
            problems.append(f"reading seq {reading.seq} signature recovers to {signer}, not meter {leaf.meter}")
    for previous, current in pairwise(leaf.readings):
        before, after = previous.reading, current.reading
        if after.seq <= before.seq:
            problems.append(f"reading seq {after.seq} follows seq {before.seq} (not sorted by strictly increasing seq)")
        elif after.ts < before.ts:
            problems.append(f"reading seq {after.seq} has ts {after.ts} before seq {before.seq}'s ts {before.ts}")
        elif after.produced_wh < before.produced_wh or after.consumed_wh < before.consumed_wh:
            problems.append(
                f"reading seq {after.seq} has registers below seq {before.seq}'s (registers went backwards)"
            )
    anchors = [s.reading.seq for s in leaf.readings if s.reading.ts <= start]
    partners = [s.reading.seq for s in leaf.readings if s.reading.ts > end]
    # A meter's first entry lists from its first reading, which may lie well before the
    # start (a replacement meter waits while the old one still has energy to attribute).
    if len(anchors) > 1 and leaf.previous_interval is not None:
        problems.append(
            f"lists {len(anchors)} readings at or before the start {start} (seqs {anchors}); "
            f"the closing rule lists only the last one"
        )
    elif not anchors and leaf.previous_interval is not None:
        problems.append(
            f"lists no reading at or before the start {start}; the closing rule lists the last one "
            f"(the anchor) for a meter's continuing entry"
        )
    if len(partners) > 1:
        problems.append(
            f"lists {len(partners)} readings after the end {end} (seqs {partners}); "
            f"the closing rule lists only the first one"
        )
    return problems


def _check_registers(leaf: ArchivedLeaf, end: int, previous_end: Registers | None) -> list[str]:
    problems = []
    readings = sorted((s.reading for s in leaf.readings), key=lambda r: r.seq)
    samples = [RegisterSample(r.ts, r.produced_wh, r.consumed_wh) for r in readings]
    at_end = register_at(samples, end) if samples else None
    if at_end != leaf.end_registers:
        problems.append(
            f"endRegisters {registers_text(leaf.end_registers)}, but the readings give "
            f"{registers_text(at_end)} at the end {end}"
        )
    if leaf.previous_interval is None:
        expected_start = Registers(samples[0].produced_wh, samples[0].consumed_wh) if samples else None
        source = "the first listed reading"
    else:
        expected_start = previous_end
        source = f"interval {leaf.previous_interval}'s endRegisters"
    if expected_start is not None and expected_start != leaf.start_registers:
        problems.append(
            f"startRegisters {registers_text(leaf.start_registers)}, but {source} says {registers_text(expected_start)}"
        )
    produced = leaf.end_registers.produced_wh - leaf.start_registers.produced_wh
    consumed = leaf.end_registers.consumed_wh - leaf.start_registers.consumed_wh
    if (produced, consumed) != (leaf.produced_wh, leaf.consumed_wh):
        problems.append(
            f"producedWh/consumedWh {leaf.produced_wh}/{leaf.consumed_wh}, but end - start "
            f"registers is {produced}/{consumed}"
        )
    return problems


def check_continuity(leaf: ArchivedLeaf, previous: ArchivedLeaf, previous_end: int) -> list[str]:
    """Problems between a leaf and the same meter's leaf in previousInterval (which ended at `previous_end`):
    both list the same signed content for a seq they share, and the anchor is not older than the previous
    leaf's last reading at or before its end (an older anchor would reach back into energy already counted)."""
    problems = []
    earlier = {signed.reading.seq: signed.reading for signed in previous.readings}
    for signed in leaf.readings:
        reading = signed.reading
        if reading.seq in earlier and earlier[reading.seq] != reading:
            problems.append(
                f"reading seq {reading.seq} differs from the same seq in interval {leaf.previous_interval}'s leaf"
            )
    last_before_end = max((seq for seq, r in earlier.items() if r.ts <= previous_end), default=None)
    if leaf.readings and last_before_end is not None and leaf.readings[0].reading.seq < last_before_end:
        problems.append(
            f"the anchor (seq {leaf.readings[0].reading.seq}) is older than interval "
            f"{leaf.previous_interval}'s last reading at or before its end (seq {last_before_end})"
        )
    return problems


def _check_hashes(leaf: ArchivedLeaf, interval_id: int, verified: VerifiedReadings, archived_root: bytes) -> list[str]:
    problems = []
    try:
        recomputed = verified.readings_hash(leaf.readings)
    except ValueError as error:
        return [f"readings cannot be hashed: {error}"]
    if recomputed != leaf.readings_hash:
        problems.append(f"readingsHash {hex0x(leaf.readings_hash)}, but the readings hash to {hex0x(recomputed)}")
    stated = Leaf(
        leaf.household, leaf.meter, interval_id, leaf.produced_wh, leaf.consumed_wh, leaf.readings_hash
    ).hash()
    if stated != leaf.leaf:
        problems.append(f"leaf {hex0x(leaf.leaf)}, but its fields hash to {hex0x(stated)}")
    elif not verify(leaf.proof, archived_root, leaf.leaf):
        problems.append("its Merkle proof does not lead to the archive's readingsRoot")
    return problems
