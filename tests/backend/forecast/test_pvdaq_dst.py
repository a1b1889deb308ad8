import numpy as np
import pandas as pd
import pytest

from backend.datasets.pvdaq import load_pvdaq50_ac_power, load_pvdaq50_weather, localize_wall_clock
from backend.forecast.data import load_dataset_series


def test_localize_wall_clock_drops_spring_gap_and_fall_repeat():
    wall = pd.Series(pd.date_range("2012-03-11 01:00", "2012-03-11 03:45", freq="15min")).dt.tz_localize("-07:00")
    utc = localize_wall_clock(wall, "America/Denver")
    assert utc.isna().sum() == 4  # 02:00-02:45 does not exist
    assert utc[0] == pd.Timestamp("2012-03-11 08:00", tz="UTC")  # MST
    assert utc[-1] == pd.Timestamp("2012-03-11 09:45", tz="UTC")  # 03:45 MDT
    fall = localize_wall_clock(pd.date_range("2012-11-04 00:45", "2012-11-04 02:00", freq="15min"), "America/Denver")
    assert fall.isna().sum() == 4  # 01:00-01:45 happen twice
    assert fall[0] == pd.Timestamp("2012-11-04 06:45", tz="UTC")  # 00:45 MDT
    assert fall[-1] == pd.Timestamp("2012-11-04 09:00", tz="UTC")  # 02:00 MST


@pytest.fixture(scope="module")
def ac_power_w():
    return load_pvdaq50_ac_power()


def test_pvdaq_power_is_utc_unique_and_without_dst_artefacts(ac_power_w):
    assert str(ac_power_w.index.tz) == "UTC"
    assert ac_power_w.index.is_unique and ac_power_w.index.is_monotonic_increasing
    assert not ac_power_w.index.isna().any()
    assert (ac_power_w.dropna() >= 0).all()
    # Whole 15-min grid in UTC: no 1-hour jumps or repeats at the DST changes.
    assert (np.diff(ac_power_w.index.asi8) > 0).all()


def _production_centroid_h(power_w: pd.Series, start: str, end: str) -> float:
    """Hour of day (MST, so a day never wraps) at the centre of mass of mean production over [start, end]."""
    part = power_w[start:end].dropna()
    part.index = part.index - pd.Timedelta(hours=7)
    minute = part.index.hour * 60 + part.index.minute
    profile = part.groupby(minute).mean()
    return float((profile * profile.index).sum() / profile.sum() / 60)


@pytest.mark.parametrize(
    "before, after",
    [
        (("2012-03-01", "2012-03-10"), ("2012-03-12", "2012-03-21")),  # spring forward 2012-03-11
        (("2012-10-25", "2012-11-03"), ("2012-11-05", "2012-11-14")),  # fall back 2012-11-04
    ],
)
def test_pvdaq_production_does_not_jump_an_hour_at_dst(ac_power_w, before, after):
    shift = _production_centroid_h(ac_power_w, *after) - _production_centroid_h(ac_power_w, *before)
    assert abs(shift) < 0.3
    # The raw file read at its stated fixed -07:00 offset does jump by about an hour.
    from backend.datasets._files import packaged_file

    raw = pd.read_parquet(packaged_file("pvanalytics", "data", "system_50_ac_power_2_full_DST.parquet"))
    naive_w = pd.Series(raw["ac_power_2"].to_numpy(), index=pd.DatetimeIndex(raw["measured_on"]).tz_convert("UTC"))
    naive_shift = _production_centroid_h(naive_w, *after) - _production_centroid_h(naive_w, *before)
    assert 0.7 < abs(naive_shift) < 1.3


def test_weather_clear_sky_peaks_near_solar_noon_utc():
    weather = load_pvdaq50_weather()
    day = weather.loc["2012-06-21"]
    # Golden, CO at 105.2 W: solar noon about 19:00 UTC.
    assert day["ghi_clear_w_m2"].idxmax().hour in (18, 19)


def test_pv_hourly_series_is_utc_kw_with_site_standard_time_days():
    hourly_kw, info = load_dataset_series("pv")
    assert str(hourly_kw.index.tz) == "UTC" and info.utc_offset_hours == -7.0
    assert hourly_kw.max() < 3.5 and hourly_kw.notna().mean() > 0.9
