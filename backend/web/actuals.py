"""Actual energy per hour from the stored readings, measured the way the forecaster measures its history.

A forecast hour is the energy of ``[H, H + 1 h)`` read off the meters'
cumulative registers (``backend.forecast.history``: registers interpolated
at the hour boundaries, an hour with no reading of a meter has no value, a
community hour is missing when any member household's is). The actual
values set beside a forecast use that same rule, so "real against
predicted" compares like with like. An hour counts only once it is over
(its end at or before ``as_of``, the data's present); later hours are None.

Only the first and last reading of each meter-hour is read, plus each
household's reading just before and just after the window: the boundary
values need nothing else (the argument is in ``backend/forecast/history.py``,
whose reader does the same).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from backend.db.models import Meter, Reading
from backend.forecast.history import (
    HOUR_S,
    MeterSamples,
    community_total,
    household_hourly_wh,
    wh_series_to_kw,
)

__all__ = ["HourlyActuals", "data_now", "hourly_actuals"]

HourlyActuals = dict[str, list[int | None]]  # "consumedWh" / "producedWh" -> Wh per hour, None = no value


def data_now(session: Session, wall_clock: int) -> int:
    """The data's present: the newest accepted reading, capped at the wall clock (a replay has its own now)."""
    newest = session.scalar(select(func.max(Meter.last_ts)))
    return wall_clock if newest is None else min(wall_clock, int(newest))


def _partner(session: Session, t: int, household: str | None, after: bool) -> list[tuple[str, str, int, int, int]]:
    """Each household's first reading after t (or last before t), as the forecaster's history reads them.

    One seek of the (household, ts) index per household; the reading may be
    of any of its meters (it only serves as that meter's partner).
    """
    r = aliased(Reading)
    bound, order = (r.ts > t, r.ts.asc()) if after else (r.ts < t, r.ts.desc())
    nearest = (
        select(r.id)
        .where(r.household == Meter.household, bound)
        .order_by(order)
        .limit(1)
        .correlate(Meter)
        .scalar_subquery()
    )
    ids = select(nearest).select_from(Meter)
    if household is not None:
        ids = ids.where(Meter.household == household)
    return list(
        session.execute(
            select(Reading.household, Reading.meter, Reading.ts, Reading.produced_wh, Reading.consumed_wh).where(
                Reading.id.in_(ids)
            )
        )
    )


def _meter_samples(session: Session, first_hour: int, end: int, household: str | None) -> list[MeterSamples]:
    """Every meter's samples for hours in [first_hour, end): reduced per meter-hour, with the outer partners."""
    hour = (Reading.ts // HOUR_S).label("hour")
    query = (
        select(
            Reading.household,
            Reading.meter,
            func.min(Reading.ts),
            func.max(Reading.ts),
            func.min(Reading.produced_wh),
            func.max(Reading.produced_wh),
            func.min(Reading.consumed_wh),
            func.max(Reading.consumed_wh),
        )
        .where(Reading.ts >= first_hour, Reading.ts <= end)
        .group_by(Reading.household, Reading.meter, hour)
    )
    if household is not None:
        query = query.where(Reading.household == household)
    rows: dict[tuple[str, str], set[tuple[int, int, int]]] = defaultdict(set)
    for owner, meter, ts_min, ts_max, p_min, p_max, c_min, c_max in session.execute(query):
        rows[(owner, meter)].update({(ts_min, p_min, c_min), (ts_max, p_max, c_max)})
    if not rows:
        return []
    for after, t in ((False, first_hour), (True, end)):
        for owner, meter, ts, produced, consumed in _partner(session, t, household, after):
            rows[(owner, meter)].add((ts, produced, consumed))
    return [MeterSamples.from_rows(owner, meter, samples) for (owner, meter), samples in sorted(rows.items())]


def _to_wh(values: np.ndarray, complete: np.ndarray) -> list[int | None]:
    return [int(round(v)) if ok and np.isfinite(v) else None for v, ok in zip(values, complete, strict=True)]


def _community_wh(starts: np.ndarray, households_wh: list[np.ndarray]) -> np.ndarray:
    """Sum households' hourly Wh by the forecaster's community rule (a member's missing hour leaves it missing)."""
    total_kw = community_total([wh_series_to_kw(starts, wh) for wh in households_wh])
    return total_kw.reindex(wh_series_to_kw(starts, np.zeros(len(starts))).index).to_numpy() * 1000.0


def hourly_actuals(session: Session, hour_starts: list[int], as_of: int, household: str | None = None) -> HourlyActuals:
    """Consumed and produced Wh per hour (contiguous hour starts) of one household, or of the community (None)."""
    if not hour_starts:
        return {"consumedWh": [], "producedWh": []}
    starts = np.asarray(hour_starts, dtype=np.int64)
    complete = starts + HOUR_S <= as_of
    nothing = [None] * len(starts)
    if not complete.any():
        return {"consumedWh": nothing, "producedWh": list(nothing)}
    last_complete = int(starts[complete][-1]) + HOUR_S
    meters = _meter_samples(session, int(starts[0]), last_complete, household)
    by_household: dict[str, list[MeterSamples]] = defaultdict(list)
    for samples in meters:
        by_household[samples.household].append(samples)
    if not by_household:
        return {"consumedWh": nothing, "producedWh": list(nothing)}
    per_household = {owner: household_hourly_wh(samples, starts) for owner, samples in by_household.items()}
    if household is not None:
        missing = np.full(len(starts), np.nan)
        produced, consumed = per_household.get(household, (missing, missing))
    else:
        consumed = _community_wh(starts, [c for _, c in per_household.values()])
        producers = [p for p, _ in per_household.values() if np.nansum(p) > 0]  # households with PV
        produced = _community_wh(starts, producers) if producers else np.where(np.isfinite(consumed), 0.0, np.nan)
    return {"consumedWh": _to_wh(consumed, complete), "producedWh": _to_wh(produced, complete)}
