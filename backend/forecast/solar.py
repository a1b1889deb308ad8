"""Clear-sky irradiance and sun position for a site (pvlib), hour by hour."""

import numpy as np
import pandas as pd

from backend.datasets.pvdaq import Site


def clear_sky_features(hour_starts_utc: pd.DatetimeIndex, site: Site) -> pd.DataFrame:
    """Return clear-sky GHI (W/m², Ineichen) and sun elevation (deg) at the middle of each hour.

    Columns: ``ghi_clear_w_m2``, ``sun_elevation_deg``; the index is ``hour_starts_utc``.
    """
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
