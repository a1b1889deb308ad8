"""The oracle's stored readings as clean hourly kW series per household, and the community total.

Meters store cumulative registers (``produced_wh``, ``consumed_wh``), so the
energy of an hour is a difference of register values at its two boundaries.
The rule (also in ``docs/forecast.md``):

- **Boundaries.** A meter's register at a boundary is read on the
  piecewise-linear curve through its readings, the same curve as
  ``backend.protocol.energy.register_at`` but not floored to whole Wh (a
  forecast needs no integer Wh; the two differ by less than 1 Wh per hour).
- **Valid hours.** The hour ``[H, H + 1 h)`` has a value, ``(reg(H + 1 h) -
  reg(H)) / 1000`` kW (the hour's mean power), when the meter's readings
  bracket it (one at or before ``H``, one at or after ``H + 1 h``) and at
  least one reading lies in ``[H, H + 1 h]``. A meter silent for the whole
  hour gives NaN: spreading a gap's energy evenly would invent a flat
  profile for the model to learn. Its energy is not lost on the meter (the
  registers still carry it), only unattributed to hours for forecasting.
- **Households.** A household's hour is the sum over its meters. When a
  meter is replaced, the old and the new one each cover their own hours; an
  hour is NaN if any meter whose readings overlap it (first reading before
  its end, last reading after its start) has no value for it, so a hand-over
  inside an hour leaves that hour NaN instead of half counted.
- **Community.** The sum over households; NaN when any household that is a
  member at that hour (between its first and last valid hour) is NaN there.

Readings are read from the database already reduced to the first and last
reading of each meter-hour (``min``/``max`` per hour, valid because the
verifier only accepts a reading whose ts and registers do not go back): the
boundary values and the "silent" test only ever look at the readings nearest
each boundary, so the result is the same as from every reading, at a small
fraction of the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.datasets.pvdaq import Site
from backend.forecast.data import SeriesInfo
from backend.forecast.household import HouseholdHistory

HOUR_S = 3600
COMMUNITY = "community"  # the community series' name in models and histories (household NULL in the DB)
# The simulator's site (backend.simulation.profiles.MADRID) and its standard time (CET), the defaults
# for clear sky and for the local day of a community read from the database.
COMMUNITY_SITE = Site("community", 40.42, -3.70, 667.0, "Europe/Madrid")
COMMUNITY_UTC_OFFSET_HOURS = 1.0
# History a forecast run loads: 7 days the model sees plus 8 weeks to scale a household it has not seen.
RUN_HISTORY_DAYS = 63


@dataclass(frozen=True)
class MeterSamples:
    """One meter's register samples, sorted by strictly increasing ts (unix s), registers in Wh."""

    household: str
    meter: str
    ts: np.ndarray
    produced_wh: np.ndarray
    consumed_wh: np.ndarray

    @classmethod
    def from_rows(cls, household: str, meter: str, rows: Iterable[tuple[int, int, int]]) -> MeterSamples:
        """Build from ``(ts, produced_wh, consumed_wh)`` rows in any order; a repeated ts keeps one row."""
        array = np.array(sorted(set(rows)), dtype=np.int64).reshape(-1, 3)
        keep = np.ones(len(array), dtype=bool)
        keep[1:] = np.diff(array[:, 0]) > 0
        array = array[keep]
        return cls(household, meter, array[:, 0], array[:, 1], array[:, 2])


def hour_grid(first_ts: int, until_ts: int) -> np.ndarray:
    """Hour starts (unix s) from the hour holding ``first_ts`` to the last hour ending at or before ``until_ts``."""
    first = first_ts // HOUR_S * HOUR_S
    last = until_ts // HOUR_S * HOUR_S  # exclusive: the hour [last, last + 1 h) is not complete
    return np.arange(first, max(first, last), HOUR_S, dtype=np.int64)


def meter_hourly_wh(samples: MeterSamples, hour_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Produced and consumed Wh per hour of a contiguous hourly grid; NaN where the hour has no value."""
    ts = samples.ts
    starts = np.asarray(hour_starts, dtype=np.int64)
    if len(ts) < 2 or len(starts) == 0:
        nan = np.full(len(starts), np.nan)
        return nan, nan.copy()
    boundaries = np.append(starts, starts[-1] + HOUR_S)
    # Relative to the first sample: exact in float64 however large the registers are.
    x = (ts - ts[0]).astype(np.float64)
    at = (boundaries - ts[0]).astype(np.float64)
    inside = (boundaries >= ts[0]) & (boundaries <= ts[-1])
    heard = np.searchsorted(ts, starts + HOUR_S, side="right") - np.searchsorted(ts, starts, side="left") > 0
    valid = inside[:-1] & inside[1:] & heard

    def per_hour(register: np.ndarray) -> np.ndarray:
        curve = np.interp(at, x, (register - register[0]).astype(np.float64))
        energy = np.diff(curve)
        return np.where(valid, energy, np.nan)

    return per_hour(samples.produced_wh), per_hour(samples.consumed_wh)


def household_hourly_wh(meters: Sequence[MeterSamples], hour_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum a household's meters per hour; NaN where any meter overlapping the hour has no value, or none does."""
    starts = np.asarray(hour_starts, dtype=np.int64)
    produced = np.zeros(len(starts))
    consumed = np.zeros(len(starts))
    covered = np.zeros(len(starts), dtype=bool)
    broken = np.zeros(len(starts), dtype=bool)
    for samples in meters:
        if len(samples.ts) == 0:
            continue
        overlaps = (samples.ts[0] < starts + HOUR_S) & (samples.ts[-1] > starts)
        meter_produced, meter_consumed = meter_hourly_wh(samples, starts)
        valid = np.isfinite(meter_produced)
        broken |= overlaps & ~valid
        covered |= valid
        produced += np.where(valid, meter_produced, 0.0)
        consumed += np.where(valid, meter_consumed, 0.0)
    missing = broken | ~covered
    return np.where(missing, np.nan, produced), np.where(missing, np.nan, consumed)


def wh_series_to_kw(hour_starts: np.ndarray, energy_wh: np.ndarray) -> pd.Series:
    """Hourly Wh on a grid of unix hour starts as the forecast package's kW series (UTC, hour-start labels)."""
    index = pd.DatetimeIndex(
        pd.to_datetime(np.asarray(hour_starts, dtype=np.int64), unit="s", utc=True), name="timestamp"
    )
    return pd.Series(np.asarray(energy_wh, dtype=np.float64) / 1000.0, index=index, name="kw")


def community_total(series: Sequence[pd.Series]) -> pd.Series:
    """Sum households' hourly kW; NaN where a member household (within its valid span) is NaN.

    Before its first and after its last valid hour a household is not a
    member and adds nothing. An hour with no member is NaN.
    """
    series = [s for s in series if s is not None and s.notna().any()]
    if not series:
        return pd.Series(dtype=np.float64, name="kw")
    frame = pd.concat(series, axis=1)
    frame = frame.reindex(pd.date_range(frame.index.min(), frame.index.max(), freq="1h", name="timestamp"))
    values = frame.to_numpy(dtype=np.float64)
    valid = np.isfinite(values)
    positions = np.arange(len(frame))[:, None]
    first = np.where(valid.any(axis=0), np.argmax(valid, axis=0), len(frame))
    last = len(frame) - 1 - np.argmax(valid[::-1], axis=0)
    member = (positions >= first[None, :]) & (positions <= last[None, :])
    total = np.where(valid, values, 0.0).sum(axis=1)
    hole = (member & ~valid).any(axis=1) | ~member.any(axis=1)
    return pd.Series(np.where(hole, np.nan, total), index=frame.index, name="kw")


@dataclass
class CommunityHistory:
    """Every household's history and the community total (name :data:`COMMUNITY`), kW per hour."""

    households: list[HouseholdHistory]
    community: HouseholdHistory | None


def histories_from_samples(
    meters: Sequence[MeterSamples],
    hour_starts: np.ndarray,
    site: Site = COMMUNITY_SITE,
    utc_offset_hours: float = COMMUNITY_UTC_OFFSET_HOURS,
) -> CommunityHistory:
    """Turn meters' samples into per-household and community histories on one hourly grid.

    A household gets a production series only when its produced register
    moved (it has PV); every household gets a consumption series.
    """
    by_household: dict[str, list[MeterSamples]] = defaultdict(list)
    for samples in meters:
        by_household[samples.household].append(samples)
    histories = []
    for household in sorted(by_household):
        produced_wh, consumed_wh = household_hourly_wh(by_household[household], hour_starts)
        if not np.isfinite(consumed_wh).any():
            continue
        has_pv = np.nansum(produced_wh) > 0
        histories.append(
            HouseholdHistory(
                household,
                wh_series_to_kw(hour_starts, consumed_wh),
                SeriesInfo(household, "load", utc_offset_hours),
                wh_series_to_kw(hour_starts, produced_wh) if has_pv else None,
                SeriesInfo(household, "pv", utc_offset_hours, site) if has_pv else None,
            )
        )
    community = None
    if histories:
        load = community_total([h.consumed_kw for h in histories])
        pv_parts = [h.produced_kw for h in histories if h.produced_kw is not None]
        pv = community_total(pv_parts) if pv_parts else None
        community = HouseholdHistory(
            COMMUNITY,
            load.reindex(histories[0].consumed_kw.index),
            SeriesInfo(COMMUNITY, "load", utc_offset_hours),
            pv.reindex(histories[0].consumed_kw.index) if pv is not None else None,
            SeriesInfo(COMMUNITY, "pv", utc_offset_hours, site) if pv is not None else None,
        )
    return CommunityHistory(histories, community)


def read_meter_samples(session: Session, until_ts: int, since_ts: int | None = None) -> list[MeterSamples]:
    """Read every meter's register samples for hours in ``[since_ts, until_ts)`` from the readings table.

    Per meter and hour only the first and last reading come back (see the
    module docstring), plus, per household, the last reading before
    ``since_ts`` and the first after ``until_ts``: the partners that the
    boundary interpolation needs.
    """
    from backend.db.models import Reading

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
        .where(Reading.ts <= until_ts)
        .group_by(Reading.household, Reading.meter, hour)
    )
    if since_ts is not None:
        query = query.where(Reading.ts >= since_ts)
    rows: dict[tuple[str, str], set[tuple[int, int, int]]] = defaultdict(set)
    for household, meter, ts_min, ts_max, p_min, p_max, c_min, c_max in session.execute(query):
        rows[(household, meter)].update({(ts_min, p_min, c_min), (ts_max, p_max, c_max)})
    households = {household for household, _ in rows}
    for household in sorted(households):
        partners = [
            select(Reading.meter, Reading.ts, Reading.produced_wh, Reading.consumed_wh)
            .where(Reading.household == household, Reading.ts > until_ts)
            .order_by(Reading.ts)
            .limit(1)
        ]
        if since_ts is not None:
            partners.append(
                select(Reading.meter, Reading.ts, Reading.produced_wh, Reading.consumed_wh)
                .where(Reading.household == household, Reading.ts < since_ts)
                .order_by(Reading.ts.desc())
                .limit(1)
            )
        for partner in partners:
            for meter, ts, produced, consumed in session.execute(partner):
                rows[(household, meter)].add((ts, produced, consumed))
    return [MeterSamples.from_rows(household, meter, samples) for (household, meter), samples in sorted(rows.items())]


def newest_reading_ts(session: Session) -> int | None:
    """The ts of the newest stored reading, or None when there is none."""
    from backend.db.models import Reading

    return session.scalar(select(func.max(Reading.ts)))


class DbHistory:
    """History from the oracle's readings table: a :class:`backend.forecast.household.HistorySource`.

    ``history_days`` limits how far back a load reaches (None: everything,
    for training).
    """

    def __init__(
        self,
        sessions: sessionmaker,
        site: Site = COMMUNITY_SITE,
        utc_offset_hours: float = COMMUNITY_UTC_OFFSET_HOURS,
        history_days: int | None = RUN_HISTORY_DAYS,
    ):
        self.sessions = sessions
        self.site = site
        self.utc_offset_hours = utc_offset_hours
        self.history_days = history_days

    def load(self, until: pd.Timestamp) -> CommunityHistory:
        """Return every household's and the community's hourly history of the hours ending by ``until``."""
        until_ts = int(pd.Timestamp(until).timestamp())
        since_ts = None if self.history_days is None else until_ts - self.history_days * 86_400
        with self.sessions() as session:
            meters = read_meter_samples(session, until_ts, since_ts)
        if not meters:
            return CommunityHistory([], None)
        first_ts = min(int(m.ts[0]) for m in meters if len(m.ts))
        grid = hour_grid(first_ts if since_ts is None else max(first_ts, since_ts), until_ts)
        return histories_from_samples(meters, grid, self.site, self.utc_offset_hours)

    def households(self, until: pd.Timestamp) -> list[HouseholdHistory]:
        """Return every household's history before ``until`` (the HistorySource protocol)."""
        return self.load(until).households
