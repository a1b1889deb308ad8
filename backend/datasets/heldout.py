"""Extra real PV series from the ``pvanalytics`` wheel, used only by the held-out forecast suite.

- ``serf_east_15min_ac_power.csv``: NREL SERF east-facing array, AC power in W,
  15-min, 2016-07-01 to 2016-10-13. The ``-07:00`` offset is true standard
  time (production peaks between 09:00 and 12:00 in every month, east-facing),
  so it converts to UTC directly. Night values are small negatives (inverter
  draw); they are clipped to zero.
- ``system_15_poa_irradiance.parquet``: PVDAQ system 15 plane-of-array
  irradiance in W/m², 15-min, 2019-02 to 2023-10, ``-07:00`` standard time. It
  stands in for the output of a 1 kWp array on that plane (kW = W/m² / 1000).
  The sensor reads 60–90 W/m² at night (an offset), so values while the sun
  is below the horizon at the NREL campus are set to zero.

Both index UTC. Neither series was used to tune any model (see docs/forecast.md).
"""

import numpy as np
import pandas as pd

from backend.datasets._files import packaged_file
from backend.datasets.pvdaq import Site

# Both systems are on the NREL campus in Golden, Colorado; altitude from pvlib's lookup (about 1,830 m).
SERF_EAST_SITE = Site("serf-east", 39.7406, -105.1774, 1830.0, "Etc/GMT+7")
SYSTEM15_SITE = Site("pvdaq-15", 39.7406, -105.1774, 1830.0, "Etc/GMT+7")


def load_serf_east_ac_power() -> pd.Series:
    """SERF east AC power in W on a 15-min UTC index, night draw clipped to zero."""
    frame = pd.read_csv(packaged_file("pvanalytics", "data", "serf_east_15min_ac_power.csv"))
    index = pd.DatetimeIndex(pd.to_datetime(frame["measured_on"], utc=True), name="timestamp")
    power_w = pd.Series(frame["ac_power"].to_numpy(dtype="float64"), index=index, name="ac_power_w")
    return power_w.clip(lower=0.0).sort_index()


def load_system15_poa() -> pd.Series:
    """PVDAQ system 15 plane-of-array irradiance in W/m² on a 15-min UTC index (zero while the sun is down)."""
    from pvlib.location import Location

    frame = pd.read_parquet(packaged_file("pvanalytics", "data", "system_15_poa_irradiance.parquet"))
    index = pd.DatetimeIndex(frame["measured_on"]).tz_convert("UTC")
    poa = pd.Series(frame["poa_irradiance__484"].to_numpy(dtype="float64"), index=index, name="poa_w_m2")
    poa.index.name = "timestamp"
    site = SYSTEM15_SITE
    elevation = Location(site.latitude, site.longitude, altitude=site.altitude_m).get_solarposition(index)["elevation"]
    poa[elevation.to_numpy() < 0] = np.where(poa[elevation.to_numpy() < 0].isna(), np.nan, 0.0)
    return poa.clip(lower=0.0).sort_index()
