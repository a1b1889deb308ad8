"""NREL PVDAQ system 50 (Golden, Colorado) and its NSRDB PSM3 weather.

Sources, from the ``pvanalytics`` wheel:

- ``pvanalytics/data/system_50_ac_power_2_full_DST.parquet``: AC power in W,
  15-min, 2011-04-15 to 2013-12-31. The timestamps carry a fixed ``-07:00``
  offset but are really the local clock *with* DST (the spring-forward hour is
  NaN and the fall-back hour appears once). They are localized to
  America/Denver with ambiguous and nonexistent times set to NaT (those rows
  are dropped), then converted to UTC.
- ``..._psm3.parquet``: NSRDB PSM3 weather, 30-min, 2011-2013. Its ``-07:00``
  offset is true standard time (clear-sky GHI peaks at 12:00 all year), so it
  converts to UTC directly.

Every loader here returns a UTC index.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backend.datasets._files import packaged_file

_POWER_FILE = "system_50_ac_power_2_full_DST.parquet"
_WEATHER_FILE = "system_50_ac_power_2_full_DST_psm3.parquet"


@dataclass(frozen=True)
class Site:
    """A PV site's location."""

    name: str
    latitude: float
    longitude: float
    altitude_m: float
    timezone: str


# NREL campus, Golden CO (the coordinates pvanalytics uses for this system).
PVDAQ50_SITE = Site("pvdaq-50", 39.742, -105.1727, 1800.0, "America/Denver")


def localize_wall_clock(wall_clock: pd.Series | pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """Interpret naive or wrongly-offset wall-clock times in ``timezone`` and return UTC.

    Ambiguous (fall-back) and nonexistent (spring-forward) times become NaT.
    """
    index = pd.DatetimeIndex(wall_clock)
    if index.tz is not None:
        index = index.tz_localize(None)
    local = index.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return local.tz_convert("UTC")


def load_pvdaq50_ac_power() -> pd.Series:
    """Load system 50 AC power in W on a 15-min UTC index (DST-corrected).

    Rows whose local time is ambiguous or nonexistent are dropped; missing
    readings stay NaN. The index is unique and sorted but not gap-filled.
    """
    path = packaged_file("pvanalytics", "data", _POWER_FILE)
    frame = pd.read_parquet(path)
    utc_index = localize_wall_clock(frame["measured_on"], PVDAQ50_SITE.timezone)
    power_w = pd.Series(frame["ac_power_2"].to_numpy(dtype="float64"), index=utc_index, name="ac_power_w")
    power_w = power_w[~power_w.index.isna()]
    power_w.index.name = "timestamp"
    # Night-time readings are sometimes tiny negatives or noise; power is never below zero.
    return power_w.clip(lower=0.0).sort_index()


def load_pvdaq50_weather() -> pd.DataFrame:
    """Load the NSRDB PSM3 weather for system 50 on a 30-min UTC index.

    Columns: ``ghi_w_m2``, ``ghi_clear_w_m2``, ``dni_clear_w_m2``,
    ``dhi_clear_w_m2`` (W/m²) and ``temp_air_c`` (°C).
    """
    path = packaged_file("pvanalytics", "data", _WEATHER_FILE)
    frame = pd.read_parquet(path)
    index = pd.DatetimeIndex(frame["index"]).tz_convert("UTC")
    weather = pd.DataFrame(
        {
            "ghi_w_m2": frame["ghi"].to_numpy(dtype="float64"),
            "ghi_clear_w_m2": frame["ghi_clear"].to_numpy(dtype="float64"),
            "dni_clear_w_m2": frame["dni_clear"].to_numpy(dtype="float64"),
            "dhi_clear_w_m2": frame["dhi_clear"].to_numpy(dtype="float64"),
            "temp_air_c": frame["temp_air"].to_numpy(dtype="float64"),
        },
        index=index,
    )
    weather.index.name = "timestamp"
    return weather.replace([np.inf, -np.inf], np.nan).sort_index()
