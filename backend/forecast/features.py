"""Build the per-day arrays the models and baselines share: target, known covariates, calendar."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backend.forecast.data import HOURS_PER_DAY, SeriesInfo, day_hours_utc, day_matrix

# Scales that bring covariates near unit range before standardisation.
_GHI_SCALE_W_M2 = 1000.0
_ELEVATION_SCALE_DEG = 90.0
_TEMP_SCALE_C = 30.0
_MIN_CLEAR_SKY_W_M2 = 10.0


@dataclass
class DailyData:
    """One series cut into local days: target kW ``[days, 24]`` and covariates ``[days, 24, n]``."""

    name: str
    dates: pd.DatetimeIndex
    target_kw: np.ndarray
    covariates: np.ndarray
    covariate_names: list[str] = field(default_factory=list)
    # Daylight mask ``[days, 24]``: the sun is above the horizon (PV only; all True for load).
    daylight: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.target_kw.shape != (len(self.dates), HOURS_PER_DAY):
            raise ValueError(f"target shape {self.target_kw.shape} does not match {len(self.dates)} days")
        if self.covariates.shape[:2] != self.target_kw.shape:
            raise ValueError("covariates must be [days, 24, n]")
        if self.daylight is None:
            self.daylight = np.ones_like(self.target_kw, dtype=bool)

    def day_index(self, date: str | pd.Timestamp) -> int:
        """Return the position of a local date, clipped to [0, days]."""
        return int(np.searchsorted(self.dates.values, np.datetime64(pd.Timestamp(date).normalize())))


def build_daily_data(
    hourly_kw: pd.Series,
    info: SeriesInfo,
    weather: pd.DataFrame | None = None,
) -> DailyData:
    """Cut an hourly kW series into local days and attach its known-in-advance covariates.

    For PV: clear-sky GHI and sun elevation at the site (always), plus the
    weather stand-in (GHI, air temperature) when ``weather`` is given.
    """
    dates, target_kw = day_matrix(hourly_kw, info.utc_offset_hours)
    names: list[str] = []
    columns: list[np.ndarray] = []
    daylight = None
    if info.kind == "pv":
        if info.site is None:
            raise ValueError("a PV series needs a site for clear-sky features")
        from backend.forecast.solar import clear_sky_features

        hours_utc = day_hours_utc(dates, info.utc_offset_hours)
        solar = clear_sky_features(hours_utc, info.site)
        ghi_clear = solar["ghi_clear_w_m2"].to_numpy().reshape(-1, HOURS_PER_DAY)
        elevation = solar["sun_elevation_deg"].to_numpy().reshape(-1, HOURS_PER_DAY)
        names += ["ghi_clear", "sun_elevation"]
        columns += [ghi_clear / _GHI_SCALE_W_M2, np.clip(elevation, -10, 90) / _ELEVATION_SCALE_DEG]
        daylight = ghi_clear > 0.0
        if weather is not None:
            aligned = weather.reindex(hours_utc)
            ghi = aligned["ghi_w_m2"].to_numpy().reshape(-1, HOURS_PER_DAY)
            names += ["ghi", "temp_air"]
            columns += [
                ghi / _GHI_SCALE_W_M2,
                aligned["temp_air_c"].to_numpy().reshape(-1, HOURS_PER_DAY) / _TEMP_SCALE_C,
            ]
            if "ghi_clear_w_m2" in aligned:
                # The forecast's own clear-sky index: cloudiness, whatever the sun's height.
                weather_clear = aligned["ghi_clear_w_m2"].to_numpy().reshape(-1, HOURS_PER_DAY)
                index = np.where(weather_clear > _MIN_CLEAR_SKY_W_M2, ghi / np.maximum(weather_clear, 1.0), 0.0)
                names.append("weather_clear_sky_index")
                columns.append(np.clip(index, 0.0, 1.5))
    covariates = np.stack(columns, axis=-1) if columns else np.zeros(target_kw.shape + (0,))
    return DailyData(info.name, dates, target_kw, covariates, names, daylight)


def calendar_features(dates: pd.DatetimeIndex) -> np.ndarray:
    """Return cyclic calendar encodings per hour ``[days, 24, 6]``: hour, weekday, day of year (sin, cos)."""
    hour = np.arange(HOURS_PER_DAY)[None, :] + np.zeros((len(dates), 1))
    weekday = np.asarray(dates.dayofweek, dtype=float)[:, None] + hour / HOURS_PER_DAY
    day_of_year = np.asarray(dates.dayofyear, dtype=float)[:, None] + hour / HOURS_PER_DAY
    angles = [2 * np.pi * hour / 24.0, 2 * np.pi * weekday / 7.0, 2 * np.pi * day_of_year / 365.25]
    return np.stack([f(a) for a in angles for f in (np.sin, np.cos)], axis=-1)


CALENDAR_NAMES = ["hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "doy_sin", "doy_cos"]
