"""`vatio train --source db` and `vatio forecast run --source db` on small real databases, tiny models.

The models are trained once (1 epoch, 4 units): these tests check
the plumbing (history -> model -> stored rows), not accuracy.
"""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from db_history_helpers import DAY, HOUR, LOCAL_MIDNIGHT, add_meter, add_readings, address, simulated_registers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.migrate import upgrade
from backend.db.models import Forecast
from backend.db.session import make_engine, session_factory
from backend.forecast.advice import series_json
from backend.forecast.artifacts import latest_version_dir
from backend.forecast.cli import forecast, train
from backend.forecast.selection import SIMPLE_MODELS
from backend.forecast.service import ModelSet, publish_run
from backend.forecast.stand_in import STAND_IN_SERVED
from backend.forecast.store import load_forecasts

pytestmark = pytest.mark.tensorflow  # trains bootstrap models

TINY = ["--max-epochs", "1", "--units", "4", "--members", "1"]
PROSUMER, CONSUMER, REPLACED, NEWCOMER = address(0x11), address(0x22), address(0x33), address(0x44)


def meter_of(household: str, number: int = 1) -> str:
    return address(int(household, 16) * 16 + number)


def store_community(
    session: Session, start: int, days: float, newcomer_days: float = 0.0, handover_at: float = 0.2
) -> None:
    """Three households (two with PV) from ``start``; REPLACED swaps meters at ``handover_at`` of the
    history; NEWCOMER joins ``newcomer_days`` before the end."""
    plans = [(PROSUMER, 450.0, 3.0, 1), (CONSUMER, 650.0, 0.0, 2), (REPLACED, 350.0, 2.0, 3)]
    for household, load_w, pv_kwp, seed in plans:
        samples = simulated_registers(start, days, 900, load_w, pv_kwp, seed)
        if household != REPLACED:
            add_meter(session, meter_of(household), household)
            add_readings(session, meter_of(household), household, samples)
            continue
        # The old meter's last reading and the new meter's first are 15 minutes apart: one NaN hour.
        cut = int(len(samples) * handover_at)
        add_meter(session, meter_of(household, 1), household, active=False)
        add_readings(session, meter_of(household, 1), household, samples[:cut])
        add_meter(session, meter_of(household, 2), household)
        base_p, base_c = samples[cut][1], samples[cut][2]
        add_readings(
            session, meter_of(household, 2), household, [(ts, p - base_p, c - base_c) for ts, p, c in samples[cut:]]
        )
    if newcomer_days:
        add_meter(session, meter_of(NEWCOMER), NEWCOMER)
        add_readings(
            session,
            meter_of(NEWCOMER),
            NEWCOMER,
            simulated_registers(start + int((days - newcomer_days) * DAY), newcomer_days, 900, 500.0, 0, 4),
        )
    session.commit()


def invoke(command, args: list[str]):
    result = CliRunner().invoke(command, args, catch_exceptions=False)
    return result


@pytest.fixture(scope="session")
def model_root(tmp_path_factory):
    """Tiny load and PV models (24 h and 168 h) trained by `vatio train --source db` on 30 days in SQLite.

    Session scope: the DB-parametrised tests reorder this module, and a module
    fixture would be trained again for each group.
    """
    root = tmp_path_factory.mktemp("models")
    url = f"sqlite:///{tmp_path_factory.mktemp('train-db') / 'vatio.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        store_community(session, LOCAL_MIDNIGHT - 30 * DAY, 30)
    engine.dispose()
    for kind in ("load", "pv"):
        result = invoke(
            train, ["--kind", kind, "--source", "db", "--database-url", url, "--model-dir", str(root), *TINY]
        )
        assert result.exit_code == 0, result.output
        assert f"{kind}-24h: saved" in result.output and f"{kind}-168h: saved" in result.output
    return root


def test_models_trained_from_the_database_know_its_households(model_root):
    for name in ("load-24h", "load-168h", "pv-24h", "pv-168h"):
        version = latest_version_dir(name, model_root)
        metadata = json.loads((version / "metadata.json").read_text())
        scales = json.loads((version / "scalers.json").read_text())["scales_kw"]
        assert metadata["source"] == "db" and metadata["config"]["units"] == 4
        expected = {PROSUMER, REPLACED, "community"} | ({CONSUMER} if name.startswith("load") else set())
        assert set(scales) == expected


def test_forecast_run_stores_every_household_and_the_community(db_session, migrated_engine, model_root):
    # The hand-over's gap hour lies in the week the models see: bridged, not a reason to skip REPLACED.
    store_community(db_session, LOCAL_MIDNIGHT - 10 * DAY, 10, newcomer_days=3, handover_at=0.6)
    url = migrated_engine.url.render_as_string(hide_password=False)
    # --stand-in changes nothing once a household has its week.
    args = ["run", "--source", "db", "--database-url", url, "--model-dir", str(model_root), "--no-bootstrap"]
    result = invoke(forecast, [*args, "--stand-in"])
    assert result.exit_code == 0, result.output
    assert "stand-in" not in result.output
    assert "for 3 households and the community" in result.output
    assert "1 households without a complete week" in result.output

    rows = db_session.scalars(select(Forecast)).all()
    issued = {row.issued_at for row in rows}
    # The newest reading is ~10 days after the start: the run issues at its hour.
    assert issued == {(LOCAL_MIDNIGHT // HOUR - 1) * HOUR}
    series = {(row.household, row.kind, row.horizon_h) for row in rows}
    expected = {(h, "load", n) for h in (PROSUMER, CONSUMER, REPLACED, None) for n in (24, 168)}
    expected |= {(h, "pv", n) for h in (PROSUMER, REPLACED, None) for n in (24, 168)}
    assert series == expected
    assert len(rows) == sum(n for _, _, n in expected)
    values = np.array([(row.p10_wh, row.p50_wh, row.p90_wh) for row in rows])
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (values[:, 0] <= values[:, 1]).all() and (values[:, 1] <= values[:, 2]).all()
    night = [row for row in rows if row.kind == "pv" and ((row.target_ts + HOUR) % DAY) // HOUR in (0, 1, 2, 3, 23)]
    assert night and all(row.p90_wh == 0 for row in night)
    assert {row.model_version.split("/")[0] for row in rows} == {"load-24h", "load-168h", "pv-24h", "pv-168h"}

    before = sorted((r.household or "", r.kind, r.horizon_h, r.target_ts, r.p50_wh) for r in rows)
    again = invoke(forecast, args)  # the same hour again: replaced, not duplicated
    assert again.exit_code == 0, again.output
    db_session.expire_all()
    after = sorted(
        (r.household or "", r.kind, r.horizon_h, r.target_ts, r.p50_wh) for r in db_session.scalars(select(Forecast))
    )
    assert after == before

    events = []
    assert (
        publish_run(
            session_factory(migrated_engine),
            issued.pop(),
            lambda payload, household: events.append((household, payload)),
        )
        == 4
    )
    community = dict(events)[None]
    assert [(s["kind"], len(s["p50Wh"])) for s in community["series"]] == [("load", 24), ("pv", 24)]
    assert {household for household, _ in events} == {PROSUMER, CONSUMER, REPLACED, None}

    advice = invoke(forecast, ["advice", "--source", "db", "--database-url", url, "--household", PROSUMER.lower()])
    assert advice.exit_code == 0, advice.output
    assert "limit price hint" in advice.output


def test_too_short_a_history_says_how_much_there_is_and_is_needed(db_session, migrated_engine, model_root):
    store_community(db_session, LOCAL_MIDNIGHT - 5 * DAY - 600, 5 * DAY / DAY + 1200 / DAY)
    url = migrated_engine.url.render_as_string(hide_password=False)
    result = invoke(
        train,
        [
            "--kind",
            "load",
            "--source",
            "db",
            "--database-url",
            url,
            "--model-dir",
            str(model_root / "unused"),
            "--horizon",
            "24",
        ],
    )
    assert result.exit_code == 1
    assert "the longest with 5 complete days" in result.output
    assert "One household needs 37 consecutive complete days" in result.output
    assert not (model_root / "unused").exists()

    run = invoke(forecast, ["run", "--source", "db", "--database-url", url, "--model-dir", str(model_root)])
    assert run.exit_code == 0, run.output
    assert "needs 7 days of complete history" in run.output and "the longest has 5.0 days" in run.output
    assert db_session.scalar(select(func.count()).select_from(Forecast)) == 0


def test_a_missing_model_is_bootstrapped_from_the_shipped_data(model_root, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(model_root, root)
    shutil.rmtree(root / "pv-168h")
    messages = []
    models = ModelSet(
        root, overrides={"max_epochs": 1, "units": 4, "decoder_units": 4, "members": 1}, notify=messages.append
    ).refresh()
    assert set(models) == {"load-24h", "load-168h", "pv-24h", "pv-168h"}
    assert "no trained model 'pv-168h'" in messages[0] and "PVDAQ" in messages[0]
    assert models["pv-168h"].forecaster.metadata["training_window"]["until"] == "2012-12-31"
    assert latest_version_dir("pv-168h", root).is_dir()


def test_the_run_serves_the_model_chosen_on_the_last_week_and_stores_its_name(db_session, migrated_engine, model_root):
    # 24 days: the last week validates (each of its days seen with its own 7 days before it), the rest fits
    # the ridge.
    store_community(db_session, LOCAL_MIDNIGHT - 24 * DAY, 24)
    url = migrated_engine.url.render_as_string(hide_password=False)
    result = invoke(
        forecast, ["run", "--source", "db", "--database-url", url, "--model-dir", str(model_root), "--no-bootstrap"]
    )
    assert result.exit_code == 0, result.output
    candidates = {"LSTM", "ridge", "blend (LSTM + ridge) / 2", *SIMPLE_MODELS}
    served = {}
    for name in ("load-24h", "load-168h", "pv-24h", "pv-168h"):
        line = next(line for line in result.output.splitlines() if line.strip().startswith(f"{name}: served "))
        served[name] = next(
            c for c in sorted(candidates, key=len, reverse=True) if line.strip().startswith(f"{name}: served {c} (")
        )
    # The 24 h models had a whole validation week: a real choice, not the fallback to the LSTM.
    assert "complete validation days" not in next(line for line in result.output.splitlines() if "load-24h" in line)
    rows = db_session.scalars(select(Forecast)).all()
    by_model = {}
    for row in rows:
        by_model.setdefault(f"{row.kind}-{row.horizon_h}h", set()).add(row.served_model)
    for name, names in by_model.items():
        assert names <= {served[name], "LSTM"} and served[name] in names
    values = np.array([(row.p10_wh, row.p50_wh, row.p90_wh) for row in rows])
    assert (values[:, 0] <= values[:, 1]).all() and (values[:, 1] <= values[:, 2]).all()
    night = [row for row in rows if row.kind == "pv" and ((row.target_ts + HOUR) % DAY) // HOUR in (0, 1, 2, 3, 23)]
    assert night and all(row.p90_wh == 0 for row in night)


def test_a_community_with_less_than_a_week_gets_a_stand_in_load_forecast_that_says_so(
    db_session, migrated_engine, model_root
):
    # Two and a half days of readings, as the demo has some 80 s into its replay: no household has the
    # week a forecast sees. --stand-in forecasts the community's load anyway, from the shipped loads'
    # shape at the community's measured level, and each row names that history.
    store_community(db_session, LOCAL_MIDNIGHT - int(2.5 * DAY), 2.5)
    url = migrated_engine.url.render_as_string(hide_password=False)
    args = ["run", "--source", "db", "--database-url", url, "--model-dir", str(model_root), "--no-bootstrap"]
    plain = invoke(forecast, args)
    assert plain.exit_code == 0, plain.output
    assert db_session.scalar(select(func.count()).select_from(Forecast)) == 0

    result = invoke(forecast, [*args, "--stand-in"])
    assert result.exit_code == 0, result.output
    assert "the longest has 2.4 days" in result.output and "stand-in forecast of the community's load" in result.output
    db_session.rollback()  # a fresh read: the count above began a transaction
    rows = db_session.scalars(select(Forecast)).all()
    assert {(row.household, row.kind, row.horizon_h) for row in rows} == {(None, "load", 24), (None, "load", 168)}
    assert {row.served_model for row in rows} == {STAND_IN_SERVED}
    assert {row.model_version.split("/")[0] for row in rows} == {"load-24h", "load-168h"}
    assert {row.issued_at for row in rows} == {(LOCAL_MIDNIGHT // HOUR - 1) * HOUR}
    # Its level is the community's: three households of 450, 650 and 350 W on average.
    day_ahead = np.array([row.p50_wh for row in rows if row.horizon_h == 24])
    assert 0.5 * 1450 < day_ahead.mean() < 2 * 1450
    # The API names it: the run's series carry the served model.
    assert STAND_IN_SERVED in json.dumps(series_json(load_forecasts(db_session, 24)))


def test_no_stand_in_without_a_day_of_readings_to_measure_the_community_by(db_session, migrated_engine, model_root):
    store_community(db_session, LOCAL_MIDNIGHT - 12 * HOUR, 0.5)
    url = migrated_engine.url.render_as_string(hide_password=False)
    args = ["run", "--source", "db", "--database-url", url, "--model-dir", str(model_root), "--no-bootstrap"]
    result = invoke(forecast, [*args, "--stand-in"])
    assert result.exit_code == 0, result.output
    assert "no stand-in forecast" in result.output and "24 are needed" in result.output
    assert db_session.scalar(select(func.count()).select_from(Forecast)) == 0


def test_a_stand_in_run_is_retried_soon(db_session, migrated_engine, model_root):
    # Through the scheduler: a stand-in run is not the awaited forecast, so the next try comes at --retry,
    # not a whole --every later (here a day: the second run would never come within the test).
    store_community(db_session, LOCAL_MIDNIGHT - 3 * DAY, 3)
    url = migrated_engine.url.render_as_string(hide_password=False)
    args = ["run", "--source", "db", "--database-url", url, "--model-dir", str(model_root), "--no-bootstrap"]
    scheduled = invoke(forecast, [*args, "--stand-in", "--every", "86400", "--retry", "0.01", "--max-runs", "2"])
    assert scheduled.exit_code == 0, scheduled.output
    assert scheduled.output.count("stand-in forecast of the community's load") == 2
