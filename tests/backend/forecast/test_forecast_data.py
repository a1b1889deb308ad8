import numpy as np
import pandas as pd
import pytest

from backend.datasets.sceaux import load_sceaux_minutes, sceaux_hourly_kw
from backend.datasets.synpro import list_synpro_profiles, load_synpro_profile
from backend.forecast.data import day_matrix, hourly_mean_kw, read_series_file


@pytest.fixture(scope="module")
def sceaux_minutes():
    return load_sceaux_minutes()


@pytest.mark.slow  # reads the 2-million-minute Sceaux file
def test_sceaux_day_copies_are_missing(sceaux_minutes):
    raw = load_sceaux_minutes(drop_filled_copies=False)
    values = raw.to_numpy()
    copies = np.all(values[1440:] == values[:-1440], axis=1)
    assert copies.sum() == 26001
    assert sceaux_minutes["active_power_kw"].isna().sum() == raw["active_power_kw"].isna().sum() + 26001


@pytest.mark.slow  # reads the 2-million-minute Sceaux file
def test_sceaux_hour_needs_thirty_valid_minutes(sceaux_minutes):
    minutes = sceaux_minutes.loc["2008-01-01 00:00":"2008-01-01 02:59"].copy()
    minutes.iloc[:31, 0] = np.nan  # hour 0: 29 valid minutes
    minutes.iloc[60:90, 0] = np.nan  # hour 1: exactly 30 valid minutes
    hourly = sceaux_hourly_kw(minutes)
    assert np.isnan(hourly.iloc[0])
    assert hourly.iloc[1] == pytest.approx(minutes.iloc[90:120, 0].mean())


def test_hourly_mean_kw_applies_the_half_valid_rule_to_15_min_data():
    index = pd.date_range("2024-01-01", periods=8, freq="15min", tz="UTC")
    power_kw = pd.Series([1, 2, np.nan, np.nan, 4, np.nan, np.nan, np.nan], index=index, dtype=float)
    hourly = hourly_mean_kw(power_kw)
    assert hourly.iloc[0] == 1.5 and np.isnan(hourly.iloc[1])


def test_read_series_file_and_day_matrix_with_offset(tmp_path):
    index = pd.date_range("2024-03-01 00:00", periods=72, freq="1h", tz="UTC")
    path = tmp_path / "series.csv"
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "kW": np.arange(72.0)}).to_csv(path, index=False)
    hourly = read_series_file(path)
    dates, values = day_matrix(hourly, utc_offset_hours=1.0)
    # Local day 2024-03-01 (UTC+1) starts at 23:00 UTC the day before: hour 0 is missing.
    assert str(dates[0].date()) == "2024-03-01" and np.isnan(values[0, 0]) and values[0, 1] == 0.0
    assert values.shape == (4, 24)


def test_synpro_profiles_are_15_min_watts_in_utc():
    names = list_synpro_profiles()
    assert "family" in names
    profile = load_synpro_profile("family")
    assert str(profile.index.tz) == "UTC" and len(profile) == 35040
    assert 100 < profile.mean() < 2000
