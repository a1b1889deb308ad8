"""The served model of an evaluation: chosen on the training period's validation weeks. Trains tiny models."""

import numpy as np
import pytest
from forecast_helpers import make_daily

from backend.forecast.evaluate import evaluate
from backend.forecast.forecaster import ForecastConfig
from backend.forecast.selection import SIMPLE_MODELS

pytestmark = pytest.mark.tensorflow


def _weekly_load(days: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    shape = 0.5 + 0.4 * np.sin(2 * np.pi * (np.arange(24) - 6) / 24) ** 2
    weekly = 1.0 + 0.6 * (np.arange(days) % 7 >= 5)
    return weekly[:, None] * shape[None, :] + rng.normal(0, 0.03, (days, 24))


def test_evaluate_serves_the_validation_winner_and_reports_every_candidate(tmp_path):
    daily = make_daily(_weekly_load(120))
    config = ForecastConfig("load", units=4, decoder_units=4, max_epochs=2, patience=2, batch_size=16, members=2)
    result = evaluate(daily, config, "2024-03-31", "2024-04-01", work_dir=tmp_path, verbose=0)
    summary = result.summary
    scores = summary["selection"]["validation_rmse"]
    assert {
        "persistence",
        "weekly persistence",
        "mean of last 7 days",
        "ridge",
        "LSTM",
        "blend (LSTM + ridge) / 2",
    } <= set(scores)
    assert len(summary["selection"]["member_rmse"]["LSTM"]) == 2
    # A strong weekly pattern: weekly persistence or the ridge wins validation, never plain persistence.
    assert summary["served"] != "persistence"
    served_row = next(row for row in result.rows if row["is_served"])
    assert served_row["model"] == f"served: {summary['served']}"
    simple = [row for row in result.rows if row["model"] in SIMPLE_MODELS or row["is_ridge"]]
    assert summary["best_simple_skill"] == max(row["skill"] for row in simple)
    assert summary["margin"] == pytest.approx(served_row["skill"] - summary["best_simple_skill"])
    assert 0.0 <= summary["p10_rate"] <= summary["p90_rate"] <= 1.0
    assert len(summary["lstm_member_skills"]) == 2
    # The test period was never used: the validation weeks end with the training period.
    assert daily.dates[result.issue_days.min()] >= np.datetime64("2024-04-01")
