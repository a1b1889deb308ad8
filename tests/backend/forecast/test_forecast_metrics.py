import numpy as np

from backend.forecast.metrics import evaluation_table, interval_coverage, point_metrics, rmse_skill


def test_point_metrics_known_values():
    metrics = point_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 3.0, 2.0]))
    assert metrics["mae"] == 0.75
    assert np.isclose(metrics["rmse"], np.sqrt(5 / 4))
    assert metrics["nmae_pct"] == 30.0


def test_point_metrics_ignore_missing_and_masked_hours():
    metrics = point_metrics(np.array([1.0, np.nan, 5.0]), np.array([2.0, 9.0, 0.0]), mask=np.array([1, 1, 0]))
    assert metrics["hours"] == 1 and metrics["mae"] == 1.0


def test_skill_and_coverage():
    assert rmse_skill(0.5, 1.0) == 0.5
    assert interval_coverage(np.array([1, 2, 3, 4.0]), np.zeros(4), np.array([1, 1, 5, 5.0])) == 0.75


def test_evaluation_table_scores_against_the_reference():
    actual = np.array([[1.0, 2.0]])
    rows = evaluation_table(
        actual,
        {
            "persistence": {"point": np.array([[2.0, 3.0]])},
            "good": {"point": np.array([[1.5, 2.5]]), "p10": actual - 1, "p90": actual + 1},
        },
    )
    good = rows[1]
    assert good["skill"] == 0.5
    assert good["p10_p90_coverage"] == 1.0
