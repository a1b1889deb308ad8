"""Simulated community profiles: shape, units, determinism and physical sense."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from backend.simulation.load_library import load_library
from backend.simulation.profiles import (
    COLUMNS,
    MADRID,
    _source_date,
    community_households,
    community_profiles,
)

START = "2026-06-15"  # a Monday near the solstice


@pytest.fixture(scope="module")
def june_community() -> pd.DataFrame:
    return community_profiles(6, START, 2, seed=7)


@pytest.fixture(scope="module")
def june_households():
    return community_households(6, seed=7)


def test_community_profiles_columns_and_units(june_community):
    frame = june_community
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 6 * 2 * 96
    assert frame["interval_id"].dtype == np.int64
    assert str(frame["interval_start"].dtype) == "datetime64[ns, UTC]"
    assert frame["produced_wh"].dtype == np.int64 and frame["consumed_wh"].dtype == np.int64
    assert (frame["produced_wh"] >= 0).all() and (frame["consumed_wh"] >= 0).all()
    # interval id = floor(unix seconds / 900), intervals sorted, households in spec order.
    unix_s = frame["interval_start"].astype("int64") // 10**9
    assert (frame["interval_id"] == unix_s // 900).all()
    assert frame["interval_id"].is_monotonic_increasing
    assert frame["interval_start"].iloc[0] == pd.Timestamp(START, tz="UTC")


def test_community_profiles_same_seed_same_frame(june_community):
    pd.testing.assert_frame_equal(june_community, community_profiles(6, START, 2, seed=7))


def test_community_profiles_other_seed_other_frame(june_community):
    other = community_profiles(6, START, 2, seed=8)
    assert not other["consumed_wh"].equals(june_community["consumed_wh"])
    assert set(other["household"]).isdisjoint(june_community["household"])


def test_community_households_prefix_is_stable():
    assert community_households(3, seed=5) == community_households(8, seed=5)[:3]
    addresses = [spec.household for spec in community_households(50, seed=5)]
    assert len(set(addresses)) == 50
    assert all(a.startswith("0x") and len(a) == 42 and int(a, 16) >= 0 for a in addresses)


def test_pv_follows_the_sun_in_madrid(june_community, june_households):
    frame = june_community.set_index(["interval_start", "household"])
    for spec in june_households:
        produced = frame.xs(spec.household, level="household")["produced_wh"]
        if spec.pv_kwp == 0:
            assert produced.sum() == 0
            continue
        # Madrid is UTC+2 in June: solar noon is about 12:15 UTC, midnight about 00:15 UTC.
        assert produced.between_time("00:00", "03:00").sum() == 0
        noon_wh = produced.between_time("11:30", "12:45")
        assert (noon_wh > 0).all()
        # Clear-sky June yield: roughly 5.5 to 8 kWh per kWp per day at a 0.80 performance ratio.
        daily_kwh_per_kwp = produced.sum() / 2 / 1000 / spec.pv_kwp
        assert 5.0 < daily_kwh_per_kwp < 8.5, (spec, daily_kwh_per_kwp)
        # No interval beats the panel's rating: kWp * 1000 W * 0.25 h.
        assert produced.max() <= spec.pv_kwp * 250


def test_pv_share_bounds_prosumers():
    assert all(spec.pv_kwp == 0 for spec in community_households(10, seed=1, pv_share=0.0))
    assert all(2.0 <= spec.pv_kwp <= 6.0 for spec in community_households(10, seed=1, pv_share=1.0))


def test_load_is_a_plausible_household(june_community, june_households):
    per_household = june_community.groupby("household")["consumed_wh"].sum() / 2 / 1000  # kWh/day
    for spec in june_households:
        assert 1.0 < per_household[spec.household] < 40.0, spec
    # Load is not flat: the busiest quarter hour is several times the mean.
    consumed = june_community["consumed_wh"]
    assert consumed.max() > 3 * consumed.mean()


def test_hourly_intervals_add_up_the_quarter_hours(june_community):
    hourly = community_profiles(6, START, 2, seed=7, interval_seconds=3600)
    assert len(hourly) == 6 * 2 * 24
    quarters = june_community.assign(hour=june_community["interval_start"].dt.floor("1h"))
    summed = quarters.groupby(["hour", "household"], sort=False)[["produced_wh", "consumed_wh"]].sum()
    hourly = hourly.set_index(["interval_start", "household"])[["produced_wh", "consumed_wh"]]
    difference = hourly.to_numpy() - summed.loc[hourly.index].to_numpy()
    # Both round the same cumulative register; float summation order may move a half-Wh boundary.
    assert np.abs(difference).max() <= 1


def test_synpro_source_works_without_sceaux():
    frame = community_profiles(3, "2026-01-05", 1, seed=2, load_source="synpro")
    specs = community_households(3, seed=2, load_source="synpro")
    assert all(spec.load_source.startswith("synpro:") for spec in specs)
    assert len(frame) == 3 * 96
    assert frame["consumed_wh"].sum() > 0


def test_source_day_keeps_weekday_and_is_complete(june_households):
    for spec in june_households:
        library = load_library(spec.load_source)
        for offset in range(7):
            local_day = date(2026, 6, 15 + offset)
            wanted = _source_date(library, spec, local_day)
            assert wanted.weekday() == local_day.weekday()
            row = library.day_row(wanted)
            found = library.first_day + pd.Timedelta(days=row)
            assert found.weekday() == local_day.weekday()
            assert library.complete[row]


def test_madrid_is_the_default_site():
    assert (MADRID.latitude, MADRID.longitude, MADRID.timezone) == (40.42, -3.70, "Europe/Madrid")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_households": 0}, "n_households"),
        ({"days": 0}, "days"),
        ({"interval_seconds": 1000}, "interval_seconds"),
        ({"interval_seconds": 30}, "interval_seconds"),
        ({"start": "2026-06-15 10:00"}, "UTC midnight"),
        ({"load_source": "nowhere"}, "load_source"),
        ({"pv_share": 1.5}, "pv_share"),
    ],
)
def test_community_profiles_rejects_bad_arguments(kwargs, message):
    arguments = {"n_households": 2, "start": START, "days": 1, "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        community_profiles(**arguments)
