"""Checks one parsed reading against the registry and the meter's history.

Pure: the caller supplies the registry view (`MeterInfo`), the meter's last
accepted reading (`MeterState`) and the clock. Every failure is a
RejectedReading with a stable reason (backend.protocol.parser.Reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backend.protocol.parser import Reason, RejectedReading
from backend.protocol.readings import (
    InvalidSignature,
    MeterDomain,
    SignedReading,
    reading_digest,
    recover_address,
    to_checksum,
)
from backend.protocol.topics import check_topic_matches

DEFAULT_FUTURE_SKEW_S = 30
# A meter's readings may be late (a meter offline for days reports its
# backlog), but not arbitrarily old: the oracle closes and settles every
# interval from a meter's first reading on, so one stray reading from years
# ago would make it walk every interval since.
DEFAULT_MAX_AGE_S = 30 * 86400
# Implied power may exceed the rating by this factor before a reading is
# physically impossible (meter clock jitter, short overloads).
POWER_TOLERANCE = 1.25


@dataclass(frozen=True)
class MeterInfo:
    """What the CommunityRegistry says about a meter."""

    meter: str  # checksummed
    household: str
    capacity_w: int
    active: bool


@dataclass(frozen=True)
class MeterState:
    """The meter's last accepted reading."""

    seq: int
    ts: int
    produced_wh: int
    consumed_wh: int


def verify_reading(
    signed: SignedReading,
    topic_meter: str,
    meters: Mapping[str, MeterInfo],
    last: MeterState | None,
    domain: MeterDomain,
    now: float,
    future_skew_s: int = DEFAULT_FUTURE_SKEW_S,
    max_age_s: int = DEFAULT_MAX_AGE_S,
    digest: bytes | None = None,
) -> MeterInfo:
    """Returns the meter's registry entry when the reading is acceptable.

    ``digest``: the reading's EIP-712 digest under ``domain`` when the caller
    already computed it (the ingester stores it); computed here otherwise.
    """
    reading = signed.reading
    check_topic_matches(topic_meter, signed)
    info = meters.get(reading.meter)
    if info is None:
        raise RejectedReading(Reason.UNKNOWN_METER, f"{reading.meter} is not registered")
    if not info.active:
        raise RejectedReading(Reason.INACTIVE_METER, f"{reading.meter} belongs to an inactive household")
    if digest is None:
        digest = reading_digest(reading, domain)
    try:
        signer = recover_address(digest, signed.signature)
    except InvalidSignature as error:
        raise RejectedReading(Reason.BAD_SIGNATURE, str(error)) from None
    if signer != bytes.fromhex(reading.meter[2:]):
        raise RejectedReading(
            Reason.WRONG_SIGNER, f"signed by {to_checksum('0x' + signer.hex())}, not by meter {reading.meter}"
        )
    if reading.ts > now + future_skew_s:
        raise RejectedReading(Reason.FUTURE_TIMESTAMP, f"ts {reading.ts} is {reading.ts - now:.0f} s ahead")
    if reading.ts < now - max_age_s:
        raise RejectedReading(
            Reason.STALE_TIMESTAMP,
            f"ts {reading.ts} is {(now - reading.ts) / 86400:.0f} days old (limit {max_age_s // 86400})",
        )
    if reading.power_w > info.capacity_w * POWER_TOLERANCE:
        raise RejectedReading(Reason.IMPOSSIBLE_POWER, f"powerW {reading.power_w} over the {info.capacity_w} W rating")
    if last is not None:
        check_history(reading, info, last)
    return info


def check_history(reading, info: MeterInfo, last: MeterState) -> None:
    """The checks against the meter's last accepted reading."""
    if reading.seq <= last.seq:
        raise RejectedReading(Reason.REPLAYED_SEQ, f"seq {reading.seq} after {last.seq}")
    if reading.ts <= last.ts:
        raise RejectedReading(Reason.REPLAYED_SEQ, f"stale: ts {reading.ts} not after {last.ts}")
    if reading.produced_wh < last.produced_wh or reading.consumed_wh < last.consumed_wh:
        raise RejectedReading(
            Reason.REGISTER_BACKWARDS,
            f"registers {reading.produced_wh}/{reading.consumed_wh} Wh below {last.produced_wh}/{last.consumed_wh}",
        )
    energy_wh = (reading.produced_wh - last.produced_wh) + (reading.consumed_wh - last.consumed_wh)
    implied_w = energy_wh * 3600 / (reading.ts - last.ts)
    if implied_w > info.capacity_w * POWER_TOLERANCE:
        raise RejectedReading(
            Reason.IMPOSSIBLE_POWER,
            f"{energy_wh} Wh in {reading.ts - last.ts} s is {implied_w:.0f} W, over the {info.capacity_w} W rating",
        )
