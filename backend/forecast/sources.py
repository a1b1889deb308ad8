"""Where forecasting reads history from: the shipped datasets, a CSV file, or the oracle DB.

A history source returns hourly kW series per household and kind. The DB
reader is :class:`backend.forecast.history.DbHistory`.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from backend.datasets.pvdaq import PVDAQ50_SITE
from backend.forecast.data import SeriesInfo, hourly_mean_kw, load_dataset_series, load_synpro_series
from backend.forecast.household import HistorySource, HouseholdHistory


def shift_whole_weeks(hourly_kw: pd.Series, until: pd.Timestamp, history_days: int = 63) -> pd.Series:
    """Shift a series by whole weeks so its last ``history_days`` end at ``until`` (weekdays keep).

    Only for the demo on shipped datasets, whose years differ from today's.
    """
    valid = hourly_kw.dropna()
    span_weeks = (valid.index[-1] - valid.index[0]).days // 7
    if span_weeks * 7 < history_days:
        raise ValueError("series too short to shift")
    weeks = int(np.ceil((until - valid.index[-1]) / pd.Timedelta(days=7)))
    shifted = hourly_kw.copy()
    shifted.index = shifted.index + pd.Timedelta(days=7 * weeks)
    return shifted[shifted.index < until]


class DatasetHistory:
    """Demo households from the shipped data: Sceaux and synPRO loads, PVDAQ 50 PV on the first ones.

    Each series is moved by whole weeks to end at ``until``: a stand-in until
    the oracle stores real readings.
    """

    def __init__(self, prosumers: int = 2):
        self.prosumers = prosumers

    def households(self, until: pd.Timestamp) -> list[HouseholdHistory]:
        """Return the demo households' histories, shifted to end at ``until``."""
        loads = [load_dataset_series("load")] + load_synpro_series()
        pv_kw, pv_info = load_dataset_series("pv")
        histories = []
        for position, (load_kw, info) in enumerate(loads):
            produced = shift_whole_weeks(pv_kw, until) if position < self.prosumers else None
            histories.append(
                HouseholdHistory(
                    info.name,
                    shift_whole_weeks(load_kw, until),
                    info,
                    produced,
                    pv_info if produced is not None else None,
                )
            )
        return histories


class CsvHistory:
    """Households from one long CSV/parquet file: ``timestamp, household, kind, kW`` (kind: load or pv).

    Timestamps without a zone are UTC. ``utc_offset_hours`` sets the local day
    and PV uses ``site`` for clear sky.
    """

    def __init__(self, path: str | Path, utc_offset_hours: float = 0.0, site=PVDAQ50_SITE):
        self.path = Path(path)
        self.utc_offset_hours = utc_offset_hours
        self.site = site

    def households(self, until: pd.Timestamp) -> list[HouseholdHistory]:
        """Return every household in the file, history before ``until``."""
        frame = pd.read_parquet(self.path) if self.path.suffix == ".parquet" else pd.read_csv(self.path)
        frame.columns = [column.lower() for column in frame.columns]
        missing = {"timestamp", "household", "kind", "kw"} - set(frame.columns)
        if missing:
            raise ValueError(f"{self.path}: missing columns {sorted(missing)}")
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        frame = frame[frame["timestamp"] < until]
        histories = []
        for household, rows in frame.groupby("household", sort=True):
            consumed, produced = _kind_kw(rows, "load"), _kind_kw(rows, "pv")
            if consumed is None:
                continue
            load_info = SeriesInfo(str(household), "load", self.utc_offset_hours)
            pv_info = (
                None if produced is None else SeriesInfo(f"{household}-pv", "pv", self.utc_offset_hours, self.site)
            )
            histories.append(HouseholdHistory(str(household), consumed, load_info, produced, pv_info))
        return histories


def _kind_kw(rows: pd.DataFrame, kind: str) -> pd.Series | None:
    """One household's hourly kW of one kind, or None when the file has too few rows of it."""
    part = rows[rows["kind"] == kind]
    return hourly_mean_kw(part.set_index("timestamp")["kw"]) if len(part) > 1 else None


def history_source(source: str, path: str | Path | None = None) -> HistorySource:
    """Return the history source named ``source`` ("dataset", "csv" or "db")."""
    if source == "dataset":
        return DatasetHistory()
    if source == "csv":
        if path is None:
            raise ValueError("--source csv needs a PATH")
        return CsvHistory(path)
    if source == "db":
        # ``path`` is the database URL here (None: $VATIO_DATABASE_URL or the SQLite default).
        from backend.db.session import make_engine, session_factory
        from backend.forecast.history import DbHistory

        return DbHistory(session_factory(make_engine(None if path is None else str(path))))
    raise ValueError(f"unknown source {source!r}")
