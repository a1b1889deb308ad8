"""The real-meter rules: what a sample must pass before the bridge signs it, and what only gets flagged.

Rejected (never signed): a register going backwards (the meter was replaced or reset: the bridge
stops and asks for a re-registration, because the oracle refuses any lower register for this meter
key forever), and a jump implying more power than the connection rating. Flagged (signed and
published, counted and logged): a meter clock that drifts from the bridge clock (the reading carries
the bridge clock), and a gap since the last accepted sample (the cumulative registers carry the
energy: see docs/meters.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.bridge.samples import BridgeReason, MeterSample

__all__ = ["Accepted", "LastAccepted", "RegisterRules", "Rejected"]


@dataclass(frozen=True)
class LastAccepted:
    """The registers of the last sample the bridge signed, and the bridge time it was read."""

    ts: int
    consumed_wh: int
    produced_wh: int


@dataclass(frozen=True)
class Rejected:
    reason: BridgeReason
    detail: str
    halt: bool = False  # the bridge must stop publishing until the meter is registered again


@dataclass(frozen=True)
class Accepted:
    flags: tuple[tuple[BridgeReason, str], ...] = ()


@dataclass(frozen=True)
class RegisterRules:
    """Limits of one installation: its connection rating, the clock bound, and what counts as a gap."""

    connection_rating_w: int = 17_250  # 3 x 25 A at 230 V, a common household connection
    max_clock_drift_s: float = 30.0
    gap_s: float = 120.0

    def __post_init__(self) -> None:
        if self.connection_rating_w <= 0 or self.max_clock_drift_s <= 0 or self.gap_s <= 0:
            raise ValueError("connection rating, clock drift bound and gap must be positive")

    def check(self, sample: MeterSample, bridge_ts: float, last: LastAccepted | None) -> Accepted | Rejected:
        """Decide on one sample read at ``bridge_ts`` (bridge clock), given the last one signed."""
        flags: list[tuple[BridgeReason, str]] = []
        if sample.meter_ts is not None and abs(sample.meter_ts - bridge_ts) > self.max_clock_drift_s:
            flags.append(
                (
                    BridgeReason.CLOCK_DRIFT,
                    f"meter clock {sample.meter_ts:.0f} vs bridge clock {bridge_ts:.0f} "
                    f"({sample.meter_ts - bridge_ts:+.0f} s); signed with the bridge clock",
                )
            )
        if last is None:
            return Accepted(tuple(flags))
        if sample.consumed_wh < last.consumed_wh or sample.produced_wh < last.produced_wh:
            return Rejected(
                BridgeReason.REGISTER_BACKWARDS,
                f"registers went from import {last.consumed_wh} / export {last.produced_wh} Wh to "
                f"{sample.consumed_wh} / {sample.produced_wh} Wh: the meter was replaced or reset. "
                "Nothing more is published: register a new meter key for this household "
                "(vatio bridge keygen) and start the bridge with it and a fresh state folder.",
                halt=True,
            )
        elapsed_s = max(bridge_ts - last.ts, 1.0)
        delta_wh = max(sample.consumed_wh - last.consumed_wh, sample.produced_wh - last.produced_wh)
        implied_w = delta_wh * 3600 / elapsed_s
        if implied_w > self.connection_rating_w:
            return Rejected(
                BridgeReason.IMPOSSIBLE_POWER,
                f"{delta_wh} Wh in {elapsed_s:.0f} s is {implied_w:.0f} W, above the connection "
                f"rating of {self.connection_rating_w} W",
            )
        if bridge_ts - last.ts > self.gap_s:
            flags.append(
                (
                    BridgeReason.GAP,
                    f"{bridge_ts - last.ts:.0f} s since the last reading; its energy "
                    "lands in the interval where this reading arrives",
                )
            )
        return Accepted(tuple(flags))
