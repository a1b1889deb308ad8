"""What every source yields (cumulative registers and power) and the bridge's named reasons."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BridgeReason", "MeterSample", "SourceProblem"]


class BridgeReason(StrEnum):
    """Why the bridge dropped, held back or flagged something. Stable: counted and shown by `vatio bridge status`."""

    BAD_CRC = "bad_crc"  # a DSMR telegram or SML frame whose checksum does not match: dropped
    UNREADABLE = "unreadable"  # a frame or message the source's parser refused: dropped
    SOURCE_UNAVAILABLE = "source_unavailable"  # the source answered without registers (HA "unavailable")
    REGISTER_BACKWARDS = "register_backwards"  # meter replaced or reset: nothing more is published
    IMPOSSIBLE_POWER = "impossible_power"  # a jump implying more than the connection rating: not published
    CLOCK_DRIFT = "clock_drift"  # meter clock too far from the bridge clock: published with the bridge clock
    GAP = "gap"  # no sample for a while: published, the registers carry the energy (docs/meters.md)
    UNIT_CHANGED = "unit_changed"  # a Home Assistant sensor changed its unit or scale: not published
    NOT_TOTAL_INCREASING = "not_total_increasing"  # a Home Assistant sensor that is not a cumulative register
    QUEUE_FULL = "queue_full"  # the outbox reached its size bound: the oldest signed reading was dropped


@dataclass(frozen=True)
class MeterSample:
    """One read of the meter: cumulative registers in whole Wh and the net power in W (export negative)."""

    consumed_wh: int  # import register (OBIS 1.8.0, or 1.8.1 + 1.8.2)
    produced_wh: int  # export register (OBIS 2.8.0, or 2.8.1 + 2.8.2)
    power_w: int  # instantaneous net power, import positive, export negative; 0 when the meter has none
    meter_ts: float | None = None  # the meter's own clock (unix seconds), when it sends one
    source: str = ""  # "p1", "sml", "shelly", "homeassistant"
    unit: str | None = None  # the unit the source reported, where it reports one (Home Assistant)

    def __post_init__(self) -> None:
        for name in ("consumed_wh", "produced_wh", "power_w"):
            if type(getattr(self, name)) is not int:
                raise TypeError(f"{name} must be an int, got {getattr(self, name)!r}")
        if self.consumed_wh < 0 or self.produced_wh < 0:
            raise ValueError(f"registers must not be negative: {self.consumed_wh}, {self.produced_wh}")


@dataclass(frozen=True)
class SourceProblem:
    """Something a source dropped instead of yielding a sample: a reason and what was wrong."""

    reason: BridgeReason
    detail: str
