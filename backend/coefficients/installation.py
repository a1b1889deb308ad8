"""A shared installation's clear-sky production per hour, as the simulator models rooftop PV.

pvlib's Ineichen clear sky at the site, transposed to the array's tilt and azimuth (isotropic sky), times the
peak power and the simulator's performance ratio, sampled every 15 minutes and integrated to Wh per hour.
Clear sky is an upper bound: cloudy days are not modelled (as in backend/simulation/profiles.py).
"""

import numpy as np
import pandas as pd

from backend.simulation.profiles import MADRID, PERFORMANCE_RATIO

SAMPLES_PER_HOUR = 4


def installation_hourly_wh(
    hour_starts: pd.DatetimeIndex, kwp: float, tilt_deg: float = 30.0, azimuth_deg: float = 180.0, site=MADRID
) -> np.ndarray:
    """Clear-sky production of a ``kwp`` array in each hour starting at ``hour_starts`` (UTC), Wh."""
    from pvlib.irradiance import get_extra_radiation, get_total_irradiance
    from pvlib.location import Location

    if kwp < 0:
        raise ValueError(f"kwp must be at least 0, got {kwp}")
    step = pd.Timedelta(hours=1) / SAMPLES_PER_HOUR
    middles = (
        pd.DatetimeIndex(np.repeat(hour_starts.asi8, SAMPLES_PER_HOUR)).tz_localize("UTC")
        + step / 2
        + pd.to_timedelta(np.tile(np.arange(SAMPLES_PER_HOUR), len(hour_starts)) * step)
    )
    location = Location(site.latitude, site.longitude, altitude=site.altitude_m, tz="UTC")
    position = location.get_solarposition(middles)
    sky = location.get_clearsky(middles, model="ineichen", solar_position=position)
    poa = get_total_irradiance(
        tilt_deg,
        azimuth_deg,
        position["apparent_zenith"],
        position["azimuth"],
        sky["dni"],
        sky["ghi"],
        sky["dhi"],
        dni_extra=get_extra_radiation(middles),
        model="isotropic",
    )["poa_global"]
    power_w = np.clip(np.nan_to_num(poa.to_numpy()) * kwp * PERFORMANCE_RATIO, 0.0, kwp * 1000.0)
    return np.round(power_w.reshape(-1, SAMPLES_PER_HOUR).mean(axis=1)).astype(np.int64)
