"""A household's meter as its page shows it: the source, the age of the last reading, the bridge's problems.

The oracle stores each meter's latest bridge status (``meter_status``, backend/oracle/bridge_status.py)
and its last accepted reading (``meters``). A signing meter or the demo's simulator sends no status:
the source is then ``simulator`` for one of the demo's simulated meters (their keys are derived from
public seeds in backend/demo.py), and null (unknown) otherwise.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from backend.db.models import Meter, MeterStatus
from backend.readmodel.payloads import bridge_report

__all__ = ["SIMULATOR_SOURCE", "meter_status_json", "simulated_meters"]

SIMULATOR_SOURCE = "simulator"
# Plain rows, statements built once: the household page asks on every load (ORM gets cost ~3x the CPU).
_METER = select(Meter.household, Meter.last_ts).where(Meter.address == bindparam("meter"))
_STATUS = select(
    MeterStatus.household,
    MeterStatus.source,
    MeterStatus.counters,
    MeterStatus.halted,
    MeterStatus.broker_error,
    MeterStatus.queue_depth,
    MeterStatus.status_ts,
).where(MeterStatus.meter == bindparam("meter"))


@cache
def simulated_meters() -> frozenset[str]:
    """The addresses (EIP-55) of the demo's simulated meters."""
    from backend.demo import demo_meters

    return frozenset(meter.meter for meter in demo_meters())


def meter_status_json(session: Session, household: str, meter: str | None, now_s: int) -> dict:
    """``{source, lastReadingTs, lastReadingAgeS, bridge}`` of the household's meter (docs/api.md)."""
    connection = session.connection()
    row = connection.execute(_METER, {"meter": meter}).first() if meter else None
    last_ts = row.last_ts if row is not None and row.household == household else None
    status = connection.execute(_STATUS, {"meter": meter}).first() if meter else None
    if status is not None and status.household != household:
        status = None  # the meter moved to another household since: not this one's bridge
    source = status.source if status is not None else (SIMULATOR_SOURCE if meter in simulated_meters() else None)
    return {
        "source": source,
        "lastReadingTs": last_ts,
        "lastReadingAgeS": None if last_ts is None else max(now_s - last_ts, 0),
        "bridge": None if status is None else bridge_report(status),
    }
