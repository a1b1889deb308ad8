"""One household's hourly history, and what provides such histories.

Its own module so that the readers of each source (the shipped datasets and
CSV files in :mod:`backend.forecast.sources`, the oracle DB in
:mod:`backend.forecast.history`) share the type without importing each other.
"""

from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from backend.forecast.data import SeriesInfo


@dataclass
class HouseholdHistory:
    """One household's hourly history: consumption and (for prosumers) production, kW, UTC."""

    household: str
    consumed_kw: pd.Series
    load_info: SeriesInfo
    produced_kw: pd.Series | None = None
    pv_info: SeriesInfo | None = None


class HistorySource(Protocol):
    """Anything that can list households with their hourly history up to a time."""

    def households(self, until: pd.Timestamp) -> list[HouseholdHistory]:
        """Return every household's history strictly before ``until`` (UTC)."""
