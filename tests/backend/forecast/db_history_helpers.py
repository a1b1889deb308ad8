"""Readings in the oracle database for the forecast tests: meters, registers, a small simulated community."""

from __future__ import annotations

import numpy as np
from eth_utils import to_checksum_address
from sqlalchemy.orm import Session

from backend.db.models import Meter
from backend.db.store import insert_readings

SIGNATURE = bytes(range(65))  # the DB checks the shape only; the verifier checked the real ones
DIGEST = bytes(32)
DAY = 86_400
HOUR = 3_600
# A local (CET, UTC+1) midnight: 2026-09-07 00:00 CET, a Monday.
LOCAL_MIDNIGHT = 1_788_735_600


def address(tag: int) -> str:
    return to_checksum_address(f"0x{tag:040x}")


def add_meter(session: Session, meter: str, household: str, active: bool = True) -> None:
    session.add(Meter(address=meter, household=household, capacity_w=20_000, registered_block=1, active=active))
    session.flush()


def add_readings(
    session: Session, meter: str, household: str, samples: list[tuple[int, int, int]], first_seq: int = 1
) -> int:
    """Store ``(ts, produced_wh, consumed_wh)`` samples as readings of ``meter``; return how many."""
    rows = [
        dict(
            meter=meter,
            household=household,
            seq=first_seq + k,
            ts=ts,
            produced_wh=produced,
            consumed_wh=consumed,
            power_w=0,
            signature=SIGNATURE,
            digest=DIGEST,
            received_at=ts,
        )
        for k, (ts, produced, consumed) in enumerate(samples)
    ]
    return insert_readings(session, rows)


def simulated_registers(
    start_ts: int, days: float, step_s: int, load_w: float, pv_kwp: float, seed: int, jitter_s: int = 37
) -> list[tuple[int, int, int]]:
    """Cumulative registers of a household read every ``step_s`` seconds (plus ``jitter_s``).

    Load: a daily shape with evening peak, more at weekends, noise. PV: a
    clear-day bell between local 07:00 and 19:00, day-to-day cloudiness.
    Power is integrated on a 1-minute grid and floored to whole Wh, as a meter does.
    """
    rng = np.random.default_rng(seed)
    minutes = np.arange(int(days * 1440) + step_s // 60 + 2)
    ts = start_ts + 60 * minutes
    local_hour = ((ts + HOUR) % DAY) / HOUR
    day = (ts + HOUR - LOCAL_MIDNIGHT) // DAY
    weekend = (day % 7 >= 5).astype(float)
    shape = 0.6 + 0.5 * np.exp(-((local_hour - 20.0) ** 2) / 6.0) + 0.3 * np.exp(-((local_hour - 8.0) ** 2) / 3.0)
    noise = rng.normal(1.0, 0.15, len(np.unique(day)))[day - day.min()]
    load = load_w * shape * (1.0 + 0.2 * weekend) * np.clip(noise, 0.3, None)
    sun = np.clip(np.sin(np.pi * (local_hour - 7.0) / 12.0), 0.0, None)
    clouds = rng.uniform(0.4, 1.0, len(np.unique(day)))[day - day.min()]
    pv = 1000.0 * pv_kwp * 0.8 * sun * clouds
    produced = np.floor(np.cumsum(pv) / 60.0).astype(np.int64)
    consumed = np.floor(np.cumsum(load) / 60.0).astype(np.int64)
    picks = np.arange(jitter_s // 60, len(minutes), step_s // 60)
    offset = jitter_s % 60
    return [
        (int(ts[i]) + offset, int(produced[i]), int(consumed[i]))
        for i in picks
        if ts[i] + offset <= start_ts + days * DAY
    ]
