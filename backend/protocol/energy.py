"""Per-interval energy from cumulative meter registers.

Meters report cumulative registers (like OBIS 1.8.0 / 2.8.0), so energy is a
difference of register values and a lost message loses no energy. The
register at an interval boundary is taken on the piecewise-linear curve
through the meter's readings:

* a reading at or after the boundary exists: interpolate linearly between
  the last reading before it and the first reading at or after it;
* no reading after the boundary yet (the meter went quiet): the value of the
  last reading before it. The energy after that reading is not lost; it is
  attributed to a later interval, when the next reading arrives.

Each interval's energy is the boundary value minus the value attributed at
the previous boundary, so every Wh is attributed exactly once. Interpolated
values are floored to whole Wh, which keeps them monotone and never ahead of
the meter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RegisterSample:
    ts: int
    produced_wh: int
    consumed_wh: int


@dataclass(frozen=True)
class Registers:
    produced_wh: int
    consumed_wh: int


def register_at(samples: Sequence[RegisterSample], boundary_ts: int) -> Registers | None:
    """The registers attributed at `boundary_ts`; None before the first sample.
    `samples` must be sorted by ts with non-decreasing registers."""
    before = None
    for sample in samples:
        if sample.ts <= boundary_ts:
            before = sample
            continue
        if before is None:
            return None
        span = sample.ts - before.ts
        elapsed = boundary_ts - before.ts
        return Registers(
            before.produced_wh + (sample.produced_wh - before.produced_wh) * elapsed // span,
            before.consumed_wh + (sample.consumed_wh - before.consumed_wh) * elapsed // span,
        )
    if before is None:
        return None
    return Registers(before.produced_wh, before.consumed_wh)


def interval_energy(
    samples: Sequence[RegisterSample], attributed: Registers | None, end_ts: int
) -> tuple[Registers, Registers] | None:
    """(energy in the interval ending at end_ts, registers attributed at end_ts).

    `attributed` is what the previous interval left attributed; None for a
    meter's first interval, which starts at its first reading."""
    at_end = register_at(samples, end_ts)
    if at_end is None:
        return None
    start = attributed or Registers(samples[0].produced_wh, samples[0].consumed_wh)
    produced = at_end.produced_wh - start.produced_wh
    consumed = at_end.consumed_wh - start.consumed_wh
    if produced < 0 or consumed < 0:
        raise ValueError("registers went backwards: the verifier should have rejected that reading")
    return Registers(produced, consumed), at_end
