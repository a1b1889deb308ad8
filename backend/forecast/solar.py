"""Clear-sky irradiance and sun position for a site (pvlib), hour by hour."""

from functools import lru_cache

import numpy as np
import pandas as pd

from backend.datasets.pvdaq import Site


def clear_sky_features(hour_starts_utc: pd.DatetimeIndex, site: Site) -> pd.DataFrame:
    """Return clear-sky GHI (W/m², Ineichen) and sun elevation (deg) at the middle of each hour.

    Columns: ``ghi_clear_w_m2``, ``sun_elevation_deg``; the index is ``hour_starts_utc``.
    A regular hourly index is cached: a forecast run asks the same hours for every household.
    """
    index = pd.DatetimeIndex(hour_starts_utc)
    nanoseconds = index.as_unit("ns").asi8
    if len(index) > 1 and index.tz is not None and (np.diff(nanoseconds) == 3_600 * 10**9).all():
        return _regular_hours(int(nanoseconds[0]), len(index), site).set_axis(index).copy()
    return _clear_sky(index, site)


@lru_cache(maxsize=8)
def _regular_hours(first_ns: int, hours: int, site: Site) -> pd.DataFrame:
    return _clear_sky(pd.date_range(pd.Timestamp(first_ns, unit="ns", tz="UTC"), periods=hours, freq="1h"), site)


def _clear_sky(hour_starts_utc: pd.DatetimeIndex, site: Site) -> pd.DataFrame:
    from pvlib.location import Location

    location = Location(site.latitude, site.longitude, altitude=site.altitude_m, tz="UTC")
    middles = pd.DatetimeIndex(hour_starts_utc) + pd.Timedelta(minutes=30)
    clear_sky = location.get_clearsky(middles, model="ineichen")
    position = location.get_solarposition(middles)
    return pd.DataFrame(
        {
            "ghi_clear_w_m2": np.clip(clear_sky["ghi"].to_numpy(), 0.0, None),
            "sun_elevation_deg": position["apparent_elevation"].to_numpy(),
        },
        index=hour_starts_utc,
    )
