"""Turn raw readings (datasets, CSV/parquet files, later the oracle DB) into clean hourly series.

Conventions used by the whole forecast package:

- An hourly series is a ``pd.Series`` of mean kW over the hour, on a complete
  hourly UTC index labelled by the start of the hour; missing hours are NaN,
  never interpolated.
- A *day* is a local day at a fixed UTC offset (``utc_offset_hours``), so every
  day has exactly 24 hours. Forecasts are issued at local 00:00.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backend.datasets.pvdaq import PVDAQ50_SITE, Site

HOURS_PER_DAY = 24
# An hour counts only when at least half of its expected samples are valid
# (30 of 60 minutes for 1-min data).
MIN_VALID_FRACTION = 0.5


@dataclass(frozen=True)
class SeriesInfo:
    """Where and on which clock an hourly series lives."""

    name: str
    kind: str  # "load" or "pv"
    utc_offset_hours: float = 0.0
    site: Site | None = None


def hourly_mean_kw(power_kw: pd.Series, min_valid_fraction: float = MIN_VALID_FRACTION) -> pd.Series:
    """Resample a regular power series (kW, tz-aware or naive UTC) to hourly means with a validity rule.

    An hour is NaN unless at least ``min_valid_fraction`` of its expected
    samples are valid. The sample step is inferred from the median spacing.
    """
    power_kw = power_kw.sort_index()
    power_kw = power_kw[~power_kw.index.duplicated(keep="first")]
    index = pd.DatetimeIndex(power_kw.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    power_kw = pd.Series(power_kw.to_numpy(dtype="float64"), index=index)
    if len(power_kw) < 2:
        raise ValueError("need at least two readings to infer the sampling step")
    step_s = float(np.median(np.diff(index.as_unit("ns").asi8)) / 1e9)
    expected = max(1, int(round(3600.0 / step_s)))
    hourly = power_kw.resample("1h")
    mean_kw = hourly.mean()
    mean_kw[hourly.count() < max(1, int(np.ceil(expected * min_valid_fraction)))] = np.nan
    mean_kw.name = "kw"
    mean_kw.index.name = "timestamp"
    return mean_kw


def load_dataset_series(kind: str) -> tuple[pd.Series, SeriesInfo]:
    """Return the bootstrap hourly series for ``kind`` ("load": Sceaux, "pv": PVDAQ 50), in kW, UTC."""
    if kind == "load":
        from backend.datasets.sceaux import sceaux_hourly_kw

        hourly = sceaux_hourly_kw()
        # The Sceaux file is a naive local clock with no DST shifts; it is read
        # as fixed UTC+1 (CET) so that its days are the recorded days.
        index = hourly.index - pd.Timedelta(hours=1)
        hourly = pd.Series(hourly.to_numpy(), index=index.tz_localize("UTC"), name="kw")
        hourly.index.name = "timestamp"
        return hourly, SeriesInfo("sceaux", "load", utc_offset_hours=1.0)
    if kind == "pv":
        from backend.datasets.pvdaq import load_pvdaq50_ac_power

        hourly = hourly_mean_kw(load_pvdaq50_ac_power() / 1000.0)
        # Site standard time (MST), so days never have 23 or 25 hours.
        return hourly, SeriesInfo("pvdaq-50", "pv", utc_offset_hours=-7.0, site=PVDAQ50_SITE)
    raise ValueError(f"unknown kind {kind!r}: expected 'load' or 'pv'")


def load_dataset_weather() -> pd.DataFrame:
    """Return the PVDAQ 50 weather stand-in as hourly means, UTC.

    Columns: ``ghi_w_m2``, ``ghi_clear_w_m2`` (NSRDB's own clear sky) and
    ``temp_air_c``. The NSRDB half-hour values match the PV best when each is
    taken for the half hour that ends at its timestamp (hourly correlation with
    AC power 0.894 against 0.882 unshifted), so hour ``h`` averages the values
    stamped ``h:30`` and ``h+1:00``.
    """
    from backend.datasets.pvdaq import load_pvdaq50_weather

    weather = load_pvdaq50_weather()[["ghi_w_m2", "ghi_clear_w_m2", "temp_air_c"]]
    weather.index = weather.index - pd.Timedelta(minutes=30)
    hourly = weather.resample("1h").mean()
    hourly.index.name = "timestamp"
    return hourly


class SeriesError(ValueError):
    """A series file that cannot be forecast: the message says what is wrong, in one line."""


# A file series needs this many complete local days: 7 seen by every forecast, and 4 weeks of issues to learn from.
MIN_SERIES_DAYS = 35


def read_series_file(path: str | Path) -> pd.Series:
    """Read a CSV or parquet file with columns ``timestamp`` and ``kW`` into an hourly kW series (UTC).

    Naive timestamps are taken as UTC; an offset (``+01:00``, ``Z``) is
    honoured. Sub-hourly data is averaged per hour with the half-valid rule;
    hourly data passes through. Raises :class:`SeriesError` for a missing
    column, a timestamp that cannot be read (format or time zone), a value
    that is not a number, a repeated timestamp (never merged: which reading
    is right cannot be known) and a file without a single valid value.
    Empty cells are missing values, not errors.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            raise SeriesError(f"{path.name}: expected a .csv or .parquet file")
    except SeriesError:
        raise
    except Exception as exc:  # any reader failure is a bad file, said in one line
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise SeriesError(f"{path.name}: cannot read the file ({type(exc).__name__}: {reason})") from exc
    columns = {str(column).strip().lower(): column for column in frame.columns}
    missing = [name for name in ("timestamp", "kW") if name.lower() not in columns]
    if missing:
        raise SeriesError(
            f"{path.name}: missing column {' and '.join(repr(m) for m in missing)}; "
            f"expected 'timestamp' and 'kW', got {[str(c) for c in frame.columns]}"
        )
    if frame.empty:
        raise SeriesError(f"{path.name}: no rows")
    raw_time, raw_kw = frame[columns["timestamp"]], frame[columns["kw"]]
    timestamps = _parse_timestamps(raw_time, path.name)
    values = pd.to_numeric(raw_kw, errors="coerce")
    blank = raw_kw.isna() | raw_kw.astype(str).str.strip().str.lower().isin(["", "nan", "na", "null", "none"])
    bad = values.isna() & ~blank
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SeriesError(
            f"{path.name}: {int(bad.sum())} kW values are not numbers, the first {raw_kw.iloc[row]!r} "
            f"in data row {row + 1}"
        )
    values = values.astype("float64")
    if not np.isfinite(values.to_numpy()).any():
        raise SeriesError(f"{path.name}: every kW value is missing (NaN)")
    duplicated = timestamps.duplicated(keep=False)
    if duplicated.any():
        first = timestamps[duplicated][0]
        raise SeriesError(
            f"{path.name}: {int(timestamps.duplicated().sum())} repeated timestamps, the first "
            f"{first.isoformat()}; keep one row per time (a repeated hour is not merged)"
        )
    power_kw = pd.Series(values.to_numpy(), index=timestamps)
    if len(power_kw) < 2:
        raise SeriesError(f"{path.name}: one reading; need a series")
    return hourly_mean_kw(power_kw)


def _parse_timestamps(raw: pd.Series, name: str) -> pd.DatetimeIndex:
    """Parse timestamps to UTC (naive = UTC); a value that cannot be read is a :class:`SeriesError`."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        index = pd.DatetimeIndex(raw)
        return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    text = raw.astype(str).str.strip()
    try:
        index = pd.DatetimeIndex(pd.to_datetime(text, utc=True))
        if not index.isna().any():
            return index
    except Exception:  # noqa: BLE001 - the loop below finds the row
        pass
    parsed = []
    for row, value in enumerate(text):
        try:
            stamp = pd.Timestamp(value)
            if pd.isna(stamp):
                raise ValueError("empty")
        except Exception as exc:
            raise SeriesError(
                f"{name}: cannot read timestamp {value!r} in data row {row + 1} (its format or time "
                f"zone); use ISO 8601 like 2024-01-31T13:00:00+01:00, or naive UTC"
            ) from exc
        parsed.append(stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC"))
    return pd.DatetimeIndex(parsed)


def require_days(daily, minimum: int = MIN_SERIES_DAYS) -> None:
    """Raise :class:`SeriesError` unless ``daily`` has at least ``minimum`` complete local days."""
    complete = int(np.isfinite(daily.target_kw).all(axis=1).sum())
    if complete < minimum:
        raise SeriesError(f"{daily.name}: only {complete} complete days (24 valid hours); need at least {minimum}")


def complete_hourly(hourly_kw: pd.Series, utc_offset_hours: float) -> pd.Series:
    """Reindex an hourly UTC series onto whole local days (NaN where missing)."""
    offset = pd.Timedelta(hours=utc_offset_hours)
    local = hourly_kw.index + offset
    first_day = local.min().floor("D")
    last_day = local.max().floor("D")
    full_local = pd.date_range(first_day, last_day + pd.Timedelta(hours=23), freq="1h")
    full_utc = full_local - offset
    return hourly_kw.reindex(full_utc)


def day_matrix(hourly: pd.Series | pd.DataFrame, utc_offset_hours: float) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Reshape an hourly UTC series (or frame) into local days.

    Returns the naive local dates (one per day) and an array
    ``[days, 24]`` (or ``[days, 24, columns]`` for a frame).
    """
    if isinstance(hourly, pd.DataFrame):
        columns = [complete_hourly(hourly[column], utc_offset_hours) for column in hourly.columns]
        index = columns[0].index
        values = np.stack([column.to_numpy(dtype="float64") for column in columns], axis=-1)
        values = values.reshape(-1, HOURS_PER_DAY, len(columns))
    else:
        full = complete_hourly(hourly, utc_offset_hours)
        index = full.index
        values = full.to_numpy(dtype="float64").reshape(-1, HOURS_PER_DAY)
    local_start = (index[0] + pd.Timedelta(hours=utc_offset_hours)).tz_localize(None)
    dates = pd.date_range(local_start, periods=values.shape[0], freq="D")
    return dates, values


def day_hours_utc(dates: pd.DatetimeIndex, utc_offset_hours: float) -> pd.DatetimeIndex:
    """Return the UTC start of every hour of the given local days, flattened ``[days * 24]``."""
    starts = pd.DatetimeIndex(dates).tz_localize("UTC") - pd.Timedelta(hours=utc_offset_hours)
    hours = pd.to_timedelta(np.arange(HOURS_PER_DAY), unit="h")
    return pd.DatetimeIndex((starts.values[:, None] + hours.values[None, :]).ravel()).tz_localize("UTC")


def load_synpro_series() -> list[tuple[pd.Series, SeriesInfo]]:
    """Return every packaged synPRO household as an hourly kW series (UTC, days on CET)."""
    from backend.datasets.synpro import list_synpro_profiles, load_synpro_profile

    return [
        (hourly_mean_kw(load_synpro_profile(name) / 1000.0), SeriesInfo(f"synpro-{name}", "load", 1.0))
        for name in list_synpro_profiles()
    ]
