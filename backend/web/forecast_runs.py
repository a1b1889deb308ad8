"""Stored forecast runs as the API reads them: which run, and one cached view of a whole run.

A forecast run (every row with one ``issued_at`` and horizon) never changes
once stored, except when the forecaster stores the same run again (a retry),
which is why a view expires after ten minutes. One household's advice needs the
whole run (its price hints weigh the community's surplus against deficit),
so the run is read and grouped once per (run, first hour) and shared by every
request, instead of once per request: 1,000 households' 24 h run is 48,000
rows.

The advice is the forecast package's: ``forecasts_from_hours``,
``community_outlook`` and ``household_advice`` (what
``stored_household_advice`` and ``stored_community_outlook`` compose), with
the grouping and the community outlook kept between requests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Forecast
from backend.forecast.advice import (
    DEFAULT_SHORTFALL_RATE,
    CommunityOutlook,
    ForecastHour,
    HouseholdAdvice,
    HouseholdForecast,
    Tariffs,
    community_outlook,
    forecasts_from_hours,
    household_advice,
)
from backend.web.cache import TtlCache

__all__ = ["RunView", "run_hours", "run_issued_at", "run_view"]

HOUR_S = 3600
# A run is only ever replaced by storing the same run again (a retry); the view follows within this long.
VIEW_TTL_S = 600.0
MAX_VIEWS = 6  # a few runs at once: 24 h and 168 h, across an hour change


def run_issued_at(
    session: Session, horizon_h: int, at: int | None = None, *, household: str | None = None, community: bool = False
) -> int | None:
    """The newest run for ``horizon_h`` issued at or before ``at`` (default: any), optionally of one series."""
    query = select(func.max(Forecast.issued_at)).where(Forecast.horizon_h == horizon_h)
    if at is not None:
        query = query.where(Forecast.issued_at <= at)
    if household is not None:
        query = query.where(Forecast.household == household)
    elif community:
        query = query.where(Forecast.household.is_(None))
    return session.scalar(query)


def run_hours(session: Session, horizon_h: int, issued_at: int, first_hour: int | None = None) -> list[ForecastHour]:
    """What ``store.load_forecasts(session, horizon_h, issued_at)`` returns (hours from ``first_hour`` on).

    Read as plain rows: a whole run of 1,000 households' 168 h is 240,000
    hours, and building ORM objects for them took four times as long as
    reading them (about 4 s against 1 s here). A test holds the two equal.
    """
    columns = (
        Forecast.issued_at,
        Forecast.household,
        Forecast.kind,
        Forecast.horizon_h,
        Forecast.target_ts,
        Forecast.p10_wh,
        Forecast.p50_wh,
        Forecast.p90_wh,
        Forecast.model_version,
        Forecast.served_model,
    )
    query = select(*columns).where(Forecast.issued_at == issued_at, Forecast.horizon_h == horizon_h)
    if first_hour is not None:
        query = query.where(Forecast.target_ts >= first_hour)
    hours = [ForecastHour(*row) for row in session.execute(query)]
    return sorted(hours, key=lambda h: (h.household is None, h.household or "", h.kind, h.target_ts))


@dataclass
class RunView:
    """One run from its first hour on, grouped per household, with the community outlook per window."""

    issued_at: int
    horizon_h: int
    first_hour: int
    households: dict[str, HouseholdForecast]  # by lowercase address
    community: HouseholdForecast | None
    _outlooks: dict[int, CommunityOutlook] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, session: Session, horizon_h: int, issued_at: int, first_hour: int) -> RunView:
        forecasts, community = forecasts_from_hours(run_hours(session, horizon_h, issued_at, first_hour), first_hour)
        return cls(issued_at, horizon_h, first_hour, {f.household.lower(): f for f in forecasts}, community)

    def outlook(self, window_hours: int) -> CommunityOutlook:
        """The community's surplus, deficit and short households over the first ``window_hours`` (memoised)."""
        with self._lock:
            if window_hours not in self._outlooks:
                self._outlooks[window_hours] = community_outlook(list(self.households.values()), window_hours)
            return self._outlooks[window_hours]

    def advice(
        self, household: str, tariffs: Tariffs, window_hours: int, alpha: float = DEFAULT_SHORTFALL_RATE
    ) -> HouseholdAdvice | None:
        """What ``stored_household_advice`` returns for this run, from the shared outlook; None without a forecast.

        ``alpha`` is the household's shortfall rate for the cautious quantities (default 10%).
        """
        forecast = self.households.get(household.lower())
        if forecast is None:
            return None
        return household_advice(forecast, self.outlook(window_hours), tariffs, window_hours, alpha)


def run_view(session: Session, horizon_h: int, issued_at: int, from_ts: int) -> RunView:
    """The app's cached view of a run, from the hour holding ``from_ts`` (or the run's start, if later)."""
    views = current_app.extensions.setdefault("vatio_forecast_runs", TtlCache(VIEW_TTL_S, max_entries=MAX_VIEWS))
    first_hour = max(issued_at, from_ts // HOUR_S * HOUR_S)
    return views.get(
        (horizon_h, issued_at, first_hour), lambda: RunView.build(session, horizon_h, issued_at, first_hour)
    )
