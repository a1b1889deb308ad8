"""Stored forecasts on SQLite and PostgreSQL: idempotent runs, read-back, constraints, pruning."""

import pytest
from db_history_helpers import HOUR, address
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import Forecast
from backend.forecast.advice import ForecastHour
from backend.forecast.store import (
    forecast_hours,
    latest_issued_at,
    load_forecasts,
    prune_forecasts,
    save_forecasts,
)

ISSUED = 1_790_002_800
HOUSE_A, HOUSE_B = address(0xA), address(0xB)


def run(issued: int = ISSUED, scale: float = 1.0, horizon: int = 24) -> list[ForecastHour]:
    hours = []
    for household, base in ((HOUSE_A, 0.5), (HOUSE_B, 0.8), (None, 1.3)):
        p50 = [scale * base] * horizon
        hours += forecast_hours(
            issued, household, "load", [v * 0.5 for v in p50], p50, [v * 1.5 for v in p50], "load-24h/v1"
        )
    hours += forecast_hours(issued, HOUSE_A, "pv", [0.0] * horizon, [0.2] * horizon, [0.3] * horizon, "pv-24h/v1")
    return hours


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Forecast))


def test_forecast_hours_round_to_wh_clip_and_order_the_quantiles():
    hours = forecast_hours(ISSUED, HOUSE_A.lower(), "pv", [0.1004, -0.2], [0.0996, 0.1], [0.3, 0.05], "pv-24h/v1")
    assert [(h.target_ts - ISSUED, h.p10_wh, h.p50_wh, h.p90_wh) for h in hours] == [
        (0, 100, 100, 300),
        (HOUR, 0, 50, 100),
    ]
    assert hours[0].household == HOUSE_A and hours[0].horizon_h == 2
    with pytest.raises(ValueError, match="non-finite"):
        forecast_hours(ISSUED, None, "load", [float("nan")], [1.0], [1.0], "v")


def test_a_run_is_stored_once_and_read_back(db_session: Session):
    assert save_forecasts(db_session, run()) == 4 * 24
    db_session.commit()
    # The same run again, with new values (a retrained model): still one row per hour, the new values.
    save_forecasts(db_session, run(scale=2.0))
    db_session.commit()
    assert count(db_session) == 4 * 24
    stored = load_forecasts(db_session)
    assert [(h.household, h.kind) for h in stored[::24]] == [
        (HOUSE_A, "load"),
        (HOUSE_A, "pv"),
        (HOUSE_B, "load"),
        (None, "load"),
    ]
    assert stored == sorted(run(scale=2.0), key=lambda h: (h.household is None, h.household or "", h.kind, h.target_ts))
    community = load_forecasts(db_session, households=[None])
    assert {h.p50_wh for h in community} == {2600} and len(community) == 24
    assert {h.household for h in load_forecasts(db_session, households=[HOUSE_B.lower()])} == {HOUSE_B}
    assert load_forecasts(db_session, households=[]) == []
    assert {h.kind for h in load_forecasts(db_session, kind="pv")} == {"pv"}


def test_the_latest_run_is_read_unless_one_is_named(db_session: Session):
    assert latest_issued_at(db_session) is None and load_forecasts(db_session) == []
    save_forecasts(db_session, run(ISSUED) + run(ISSUED + HOUR, scale=3.0) + run(ISSUED + 2 * HOUR, horizon=168))
    db_session.commit()
    assert latest_issued_at(db_session) == ISSUED + HOUR
    assert latest_issued_at(db_session, horizon_h=168) == ISSUED + 2 * HOUR
    assert latest_issued_at(db_session, household=HOUSE_B) == ISSUED + HOUR
    assert {h.issued_at for h in load_forecasts(db_session)} == {ISSUED + HOUR}
    assert {h.issued_at for h in load_forecasts(db_session, issued_at=ISSUED)} == {ISSUED}
    assert len(load_forecasts(db_session, horizon_h=168)) == 4 * 168


def test_pruning_deletes_older_runs_only(db_session: Session):
    save_forecasts(db_session, run(ISSUED) + run(ISSUED + HOUR))
    db_session.commit()
    assert prune_forecasts(db_session, ISSUED + HOUR) == 4 * 24
    db_session.commit()
    assert {h.issued_at for h in load_forecasts(db_session, issued_at=ISSUED + HOUR)} == {ISSUED + HOUR}
    assert count(db_session) == 4 * 24


def _row(**values) -> dict:
    return {
        "issued_at": ISSUED,
        "household": HOUSE_A,
        "kind": "load",
        "horizon_h": 24,
        "target_ts": ISSUED,
        "p10_wh": 1,
        "p50_wh": 2,
        "p90_wh": 3,
        "model_version": "v",
        **values,
    }


@pytest.mark.parametrize(
    "values",
    [
        {"p10_wh": 3, "p50_wh": 2},  # quantiles out of order
        {"p10_wh": -1},
        {"kind": "wind"},
        {"horizon_h": 48},
        {"target_ts": ISSUED + 24 * HOUR},  # past the horizon
        {"target_ts": ISSUED - HOUR},
        {"target_ts": ISSUED + 60},  # not an hour start
        {"issued_at": ISSUED + 1, "target_ts": ISSUED + HOUR},
        {"household": "0x1234"},
        {"model_version": ""},
    ],
)
def test_the_database_refuses_a_corrupt_forecast(db_session: Session, values: dict):
    with pytest.raises(IntegrityError):
        db_session.execute(insert(Forecast).values(_row(**values)))
    db_session.rollback()


@pytest.mark.parametrize("household", [HOUSE_A, None])
def test_a_second_row_for_the_same_hour_is_refused(db_session: Session, household):
    db_session.execute(insert(Forecast).values(_row(household=household)))
    with pytest.raises(IntegrityError):
        db_session.execute(insert(Forecast).values(_row(household=household, p90_wh=9)))
    db_session.rollback()


def test_the_served_model_is_stored_and_read_back(db_session: Session):
    hours = forecast_hours(ISSUED, HOUSE_A, "load", [0.1] * 24, [0.2] * 24, [0.3] * 24, "load-24h/v1", "ridge")
    hours += forecast_hours(ISSUED, None, "load", [0.1] * 24, [0.2] * 24, [0.3] * 24, "load-24h/v1")
    save_forecasts(db_session, hours)
    db_session.commit()
    served = {(h.household, h.served_model) for h in load_forecasts(db_session)}
    assert served == {(HOUSE_A, "ridge"), (None, "LSTM")}
    # A rerun of the same hour with another model replaces the label with the values.
    save_forecasts(
        db_session,
        forecast_hours(
            ISSUED, HOUSE_A, "load", [0.1] * 24, [0.2] * 24, [0.3] * 24, "load-24h/v2", "mean of last 7 days"
        ),
    )
    db_session.commit()
    assert {h.served_model for h in load_forecasts(db_session, households=[HOUSE_A])} == {"mean of last 7 days"}
