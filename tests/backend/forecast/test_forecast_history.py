"""Readings -> hourly kW series: known answers for the hour rule, and the same from the database."""

import numpy as np
import pandas as pd
import pytest
from db_history_helpers import HOUR, add_meter, add_readings, address
from sqlalchemy.orm import Session

from backend.db.session import session_factory
from backend.forecast.history import (
    COMMUNITY,
    COMMUNITY_SITE,
    DbHistory,
    MeterSamples,
    community_total,
    histories_from_samples,
    hour_grid,
    household_hourly_wh,
    meter_hourly_wh,
    read_meter_samples,
)

H0 = 1_790_002_800  # an hour start
assert H0 % HOUR == 0
HOUSE_A, HOUSE_B = address(0xA), address(0xB)
METER_A, METER_B_OLD, METER_B_NEW = address(0xA1), address(0xB1), address(0xB2)

# Consumed register of meter A (produced = 2 x consumed, to check both registers).
# Hour 0 straddles: reg(H0) = 200 * 600/1800 = 66.67, reg(H1) = 200 + 300 * 2400/3000 = 440.
# Hour 1: reg(H2) = 700 + 800 * 600/6000 = 780 -> 340 Wh. Hour 2: silent -> NaN.
# Hour 3: reg(H3) = 700 + 800 * 4200/6000 = 1260, reg(H4) = 1500 + 300 * 1800/2400 = 1725 -> 465 Wh.
# Hour 4: a reading inside but none after its end -> NaN.
A_CONSUMED = [
    (H0 - 600, 0),
    (H0 + 1200, 200),
    (H0 + 4200, 500),
    (H0 + 6600, 700),
    (H0 + 12600, 1500),
    (H0 + 15000, 1800),
]
A_EXPECTED_WH = [200 + 300 * 2400 / 3000 - 200 * 600 / 1800, 780 - 440, np.nan, 465, np.nan]


def meter_a() -> MeterSamples:
    return MeterSamples.from_rows(HOUSE_A, METER_A, [(ts, 2 * wh, wh) for ts, wh in A_CONSUMED])


def test_hours_come_from_interpolated_boundaries_and_a_silent_hour_is_nan():
    produced, consumed = meter_hourly_wh(meter_a(), hour_grid(H0, H0 + 5 * HOUR))
    np.testing.assert_allclose(consumed, A_EXPECTED_WH, equal_nan=True)
    np.testing.assert_allclose(produced, 2 * np.array(A_EXPECTED_WH), equal_nan=True)


def test_readings_on_the_boundaries_give_the_exact_difference():
    samples = MeterSamples.from_rows(HOUSE_A, METER_A, [(H0, 0, 1000), (H0 + HOUR, 0, 1250), (H0 + 2 * HOUR, 0, 1250)])
    _, consumed = meter_hourly_wh(samples, hour_grid(H0, H0 + 2 * HOUR))
    np.testing.assert_array_equal(consumed, [250, 0])


def test_hour_grid_keeps_only_hours_that_have_ended():
    assert list(hour_grid(H0 + 10, H0 + 2 * HOUR + 5)) == [H0, H0 + HOUR]
    assert len(hour_grid(H0 + 10, H0 + 20)) == 0


def test_a_meter_replaced_on_a_boundary_hands_over_without_a_gap():
    old = MeterSamples.from_rows(HOUSE_B, METER_B_OLD, [(H0, 0, 5000), (H0 + 1800, 0, 5100), (H0 + HOUR, 0, 5300)])
    new = MeterSamples.from_rows(HOUSE_B, METER_B_NEW, [(H0 + HOUR, 0, 0), (H0 + 5400, 0, 50), (H0 + 2 * HOUR, 0, 80)])
    _, consumed = household_hourly_wh([old, new], hour_grid(H0, H0 + 2 * HOUR))
    np.testing.assert_array_equal(consumed, [300, 80])


def test_a_hand_over_inside_an_hour_leaves_that_hour_nan():
    old = MeterSamples.from_rows(HOUSE_B, METER_B_OLD, [(H0, 0, 0), (H0 + HOUR, 0, 100), (H0 + HOUR + 600, 0, 130)])
    new = MeterSamples.from_rows(
        HOUSE_B, METER_B_NEW, [(H0 + HOUR + 1200, 0, 0), (H0 + 2 * HOUR, 0, 40), (H0 + 3 * HOUR, 0, 100)]
    )
    _, consumed = household_hourly_wh([old, new], hour_grid(H0, H0 + 3 * HOUR))
    np.testing.assert_array_equal(consumed, [100, np.nan, 60])


def test_hours_with_no_meter_at_all_are_nan():
    samples = MeterSamples.from_rows(HOUSE_A, METER_A, [(H0 + HOUR, 0, 0), (H0 + 2 * HOUR, 0, 10)])
    _, consumed = household_hourly_wh([samples], hour_grid(H0, H0 + 3 * HOUR))
    np.testing.assert_array_equal(consumed, [np.nan, 10, np.nan])


def test_huge_registers_keep_their_precision():
    base = 2**62
    samples = MeterSamples.from_rows(HOUSE_A, METER_A, [(H0, base, base), (H0 + HOUR, base + 7, base + 3)])
    produced, consumed = meter_hourly_wh(samples, hour_grid(H0, H0 + HOUR))
    assert (produced[0], consumed[0]) == (7, 3)


def test_community_total_skips_non_members_but_not_members_gaps():
    index = pd.date_range("2026-09-01", periods=5, freq="1h", tz="UTC")
    early = pd.Series([1.0, 2.0, 3.0, np.nan, 5.0], index=index)
    joins_late = pd.Series([np.nan, np.nan, 10.0, 10.0, 10.0], index=index)
    total = community_total([early, joins_late])
    np.testing.assert_array_equal(total.to_numpy(), [1.0, 2.0, 13.0, np.nan, 15.0])
    assert community_total([]).empty


def test_histories_give_pv_only_to_households_whose_production_moved():
    grid = hour_grid(H0, H0 + 5 * HOUR)
    consumer = MeterSamples.from_rows(HOUSE_B, METER_B_NEW, [(H0 + k * 900, 0, 100 * k) for k in range(21)])
    history = histories_from_samples([meter_a(), consumer], grid)
    by_name = {h.household: h for h in history.households}
    assert by_name[HOUSE_A].produced_kw is not None and by_name[HOUSE_B].produced_kw is None
    np.testing.assert_allclose(by_name[HOUSE_A].consumed_kw.to_numpy() * 1000, A_EXPECTED_WH, equal_nan=True)
    np.testing.assert_allclose(by_name[HOUSE_B].consumed_kw.to_numpy(), [0.4] * 5)
    assert history.community.household == COMMUNITY
    # Hour 4 is after A's last valid hour: A is no longer a member there, B alone counts.
    np.testing.assert_allclose(
        history.community.consumed_kw.to_numpy() * 1000, [A_EXPECTED_WH[0] + 400, 340 + 400, np.nan, 465 + 400, 400]
    )
    np.testing.assert_allclose(
        history.community.produced_kw.to_numpy() * 1000, 2 * np.array(A_EXPECTED_WH[:4] + [np.nan]), equal_nan=True
    )
    assert history.community.pv_info.site == COMMUNITY_SITE
    assert by_name[HOUSE_A].consumed_kw.index[0] == pd.Timestamp(H0, unit="s", tz="UTC")


# --- from the database (SQLite and PostgreSQL) ---


def _store_community(session: Session) -> None:
    add_meter(session, METER_A, HOUSE_A)
    add_readings(session, METER_A, HOUSE_A, [(ts, 2 * wh, wh) for ts, wh in A_CONSUMED])
    add_meter(session, METER_B_OLD, HOUSE_B, active=False)
    add_meter(session, METER_B_NEW, HOUSE_B)
    # Every minute for the old meter (many readings per hour: the query reduces them), replaced at H0 + 2h.
    add_readings(session, METER_B_OLD, HOUSE_B, [(H0 + 60 * k, 0, 5000 + 5 * k) for k in range(121)])
    add_readings(session, METER_B_NEW, HOUSE_B, [(H0 + 2 * HOUR + 60 * k, 0, 10 * k) for k in range(241)])
    session.commit()


def test_database_readings_give_the_same_hours(db_session: Session, migrated_engine):
    _store_community(db_session)
    history = DbHistory(session_factory(migrated_engine), history_days=None).load(
        pd.Timestamp(H0 + 5 * HOUR, unit="s", tz="UTC")
    )
    by_name = {h.household: h for h in history.households}
    np.testing.assert_allclose(
        by_name[HOUSE_A].consumed_kw.to_numpy() * 1000, [np.nan] + A_EXPECTED_WH, equal_nan=True
    )  # the grid starts at the hour of A's first reading, H0 - 1 h
    np.testing.assert_allclose(by_name[HOUSE_B].consumed_kw.to_numpy() * 1000, [np.nan, 300, 300, 600, 600, 600])
    assert by_name[HOUSE_B].produced_kw is None
    np.testing.assert_allclose(
        history.community.consumed_kw.to_numpy() * 1000,
        [np.nan, A_EXPECTED_WH[0] + 300, 340 + 300, np.nan, 465 + 600, 600],
        equal_nan=True,
    )


def test_a_window_reads_its_partners_outside_it(db_session: Session, migrated_engine):
    _store_community(db_session)
    until = H0 + 4 * HOUR
    since = H0 + 3 * HOUR  # the boundary at H0 + 3 h needs the readings around it
    meters = read_meter_samples(db_session, until, since)
    a = next(m for m in meters if m.meter == METER_A)
    assert list(a.ts) == [H0 + 6600, H0 + 12600, H0 + 15000]
    _, consumed = meter_hourly_wh(a, hour_grid(since, until))
    np.testing.assert_allclose(consumed, [465])
    reduced = next(m for m in meters if m.meter == METER_B_NEW)
    # First and last of each meter-hour, not 61 readings:
    # the partner before, 3 h 00 and 3 h 59, 4 h 00, the partner after.
    assert list(reduced.ts - H0) == [3 * HOUR - 60, 3 * HOUR, 4 * HOUR - 60, 4 * HOUR, 4 * HOUR + 60]


def test_an_empty_database_has_no_history(db_session: Session, migrated_engine):
    history = DbHistory(session_factory(migrated_engine)).load(pd.Timestamp(H0, unit="s", tz="UTC"))
    assert history.households == [] and history.community is None


@pytest.mark.parametrize("bad", [[(H0, 0, 0)], []])
def test_too_few_samples_give_no_values(bad):
    samples = MeterSamples.from_rows(HOUSE_A, METER_A, bad)
    produced, consumed = meter_hourly_wh(samples, hour_grid(H0, H0 + 2 * HOUR))
    assert np.isnan(produced).all() and np.isnan(consumed).all()
