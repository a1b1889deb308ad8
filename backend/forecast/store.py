"""Forecasts in the database (table ``forecasts``): write a run idempotently, read the latest, prune old runs.

A thin layer: the advice functions (``backend.forecast.advice``) work on the
:class:`~backend.forecast.advice.ForecastHour` values it returns, so they
stay pure. No TensorFlow here; the web app may import this module.

Units: integer Wh per target hour (the hour's mean power in W), unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import delete, false, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend.db.models import HOUR_SECONDS, Forecast, checksum_address
from backend.forecast.advice import ForecastHour

# Rows per INSERT statement: well under SQLite's 32,766 bound parameters (11 columns each).
_BATCH_ROWS = 2000


def forecast_hours(
    issued_at: int,
    household: str | None,
    kind: str,
    p10_kw: Sequence[float],
    p50_kw: Sequence[float],
    p90_kw: Sequence[float],
    model_version: str,
    served_model: str = "LSTM",
) -> list[ForecastHour]:
    """Turn one forecast (mean kW per hour from ``issued_at``) into stored hours of integer Wh.

    Values are rounded to whole Wh, negative ones clipped to zero, and the
    quantiles sorted per hour so P10 <= P50 <= P90 always holds.
    """
    values = np.stack([np.asarray(p10_kw, float), np.asarray(p50_kw, float), np.asarray(p90_kw, float)], axis=-1)
    if not np.isfinite(values).all():
        raise ValueError(f"{household or 'community'} {kind}: forecast has non-finite values")
    wh = np.sort(np.clip(np.rint(values * 1000.0), 0, None), axis=-1).astype(np.int64)
    horizon_h = len(wh)
    household = checksum_address(household) if household is not None else None
    return [
        ForecastHour(
            issued_at,
            household,
            kind,
            horizon_h,
            issued_at + k * HOUR_SECONDS,
            int(wh[k, 0]),
            int(wh[k, 1]),
            int(wh[k, 2]),
            model_version,
            served_model,
        )
        for k in range(horizon_h)
    ]


def save_forecasts(session: Session, hours: Iterable[ForecastHour]) -> int:
    """Insert forecast hours; an hour already stored (same run, series and target) gets the new values.

    Storing the same run twice therefore leaves one row per hour. Returns the
    number of hours written. The caller commits.
    """
    rows = [
        {
            "issued_at": h.issued_at,
            "household": h.household,
            "kind": h.kind,
            "horizon_h": h.horizon_h,
            "target_ts": h.target_ts,
            "p10_wh": h.p10_wh,
            "p50_wh": h.p50_wh,
            "p90_wh": h.p90_wh,
            "model_version": h.model_version,
            "served_model": h.served_model,
        }
        for h in hours
    ]
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    key = ["issued_at", "kind", "horizon_h", "target_ts"]
    for community in (False, True):
        part = [row for row in rows if (row["household"] is None) == community]
        for start in range(0, len(part), _BATCH_ROWS):
            statement = insert(Forecast).values(part[start : start + _BATCH_ROWS])
            new = statement.excluded
            updates = {
                "p10_wh": new.p10_wh,
                "p50_wh": new.p50_wh,
                "p90_wh": new.p90_wh,
                "model_version": new.model_version,
                "served_model": new.served_model,
            }
            if community:  # the partial unique index uq_forecasts_community
                statement = statement.on_conflict_do_update(
                    index_elements=key, index_where=Forecast.household.is_(None), set_=updates
                )
            else:
                statement = statement.on_conflict_do_update(index_elements=["household", *key], set_=updates)
            session.execute(statement)
    return len(rows)


def latest_issued_at(session: Session, horizon_h: int = 24, household: str | None = None) -> int | None:
    """The newest run's issue time for ``horizon_h`` (of ``household``'s forecasts when given); None if none."""
    query = select(func.max(Forecast.issued_at)).where(Forecast.horizon_h == horizon_h)
    if household is not None:
        query = query.where(Forecast.household == checksum_address(household))
    return session.scalar(query)


def load_forecasts(
    session: Session,
    horizon_h: int = 24,
    issued_at: int | None = None,
    households: Sequence[str | None] | None = None,
    kind: str | None = None,
) -> list[ForecastHour]:
    """Read one run (default: the latest for ``horizon_h``), sorted by household (community last), kind, hour.

    ``households`` limits the series: addresses in any case, None in the list
    for the community's own forecast; None reads every series.
    """
    if issued_at is None:
        issued_at = latest_issued_at(session, horizon_h)
        if issued_at is None:
            return []
    query = select(Forecast).where(Forecast.issued_at == issued_at, Forecast.horizon_h == horizon_h)
    if kind is not None:
        query = query.where(Forecast.kind == kind)
    if households is not None:
        addresses = [checksum_address(h) for h in households if h is not None]
        conditions = [Forecast.household.in_(addresses)] if addresses else []
        if None in households:
            conditions.append(Forecast.household.is_(None))
        query = query.where(or_(*conditions) if conditions else false())
    hours = [_hour(row) for row in session.scalars(query)]
    # In Python: SQLite and PostgreSQL sort NULL (the community) at opposite ends.
    return sorted(hours, key=lambda h: (h.household is None, h.household or "", h.kind, h.target_ts))


def _hour(row: Forecast) -> ForecastHour:
    return ForecastHour(
        row.issued_at,
        row.household,
        row.kind,
        row.horizon_h,
        row.target_ts,
        row.p10_wh,
        row.p50_wh,
        row.p90_wh,
        row.model_version,
        row.served_model,
    )


def forecasts_issued_before(
    session: Session, horizon_h: int, first_hour: int, end_hour: int, household: str | None = None
) -> list[ForecastHour]:
    """What was predicted for each hour in ``[first_hour, end_hour)`` before it began: per kind and hour,
    the value of the newest ``horizon_h`` run issued at or before the hour's start, of ``household`` (None:
    the community's own series). Sorted by kind and hour; hours no run covered in advance are missing.

    Drawn under the actual values of hours already over, it shows real against predicted for the same hours.
    """
    series = Forecast.household.is_(None) if household is None else Forecast.household == checksum_address(household)
    scope = (
        Forecast.horizon_h == horizon_h,
        series,
        Forecast.target_ts >= first_hour,
        Forecast.target_ts < end_hour,
        Forecast.issued_at <= Forecast.target_ts,
    )
    newest = (
        select(Forecast.kind, Forecast.target_ts, func.max(Forecast.issued_at).label("issued_at"))
        .where(*scope)
        .group_by(Forecast.kind, Forecast.target_ts)
        .subquery()
    )
    query = (
        select(Forecast)
        .where(*scope)
        .join(
            newest,
            (Forecast.kind == newest.c.kind)
            & (Forecast.target_ts == newest.c.target_ts)
            & (Forecast.issued_at == newest.c.issued_at),
        )
    )
    hours = [_hour(row) for row in session.scalars(query)]
    return sorted(hours, key=lambda h: (h.kind, h.target_ts))


def prune_forecasts(session: Session, issued_before: int) -> int:
    """Delete runs issued before ``issued_before`` (unix s); return how many hours went. The caller commits."""
    return session.execute(delete(Forecast).where(Forecast.issued_at < issued_before)).rowcount
