"""Forecast benchmark: the LSTM against every baseline on the fixed splits, plus speed.

Run: .venv/bin/python benchmarks/bench_forecast.py
Writes benchmarks/results/forecast.json (see issue 4 for the keys), and the LSTM's test
forecasts to benchmarks/results/forecast_lstm.npz for benchmarks/forecast_ceiling.py.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from common import RESULTS_DIR, write_results  # noqa: E402

from backend.forecast.evaluate import evaluate  # noqa: E402
from backend.forecast.metrics import format_table  # noqa: E402
from backend.forecast.pipeline import DATASET_SPLITS, dataset_daily, default_config  # noqa: E402

HOUSEHOLDS = 1000
TARGETS = {
    "load_dayahead_skill": 0.30,
    "load_weekahead_skill": 0.39,
    "pv_dayahead_skill": 0.25,
    "pv_dayahead_weather_skill": 0.56,
}
ROWS = [  # key, kind, horizon days, weather
    ("load_dayahead", "load", 1, False),
    ("load_weekahead", "load", 7, False),
    ("pv_dayahead", "pv", 1, False),
    ("pv_dayahead_weather", "pv", 1, True),
]


def inference_seconds(evaluation, daily) -> tuple[float, int]:
    """Median time to build and predict 1,000 household windows × 24 h in one batch."""
    forecaster = evaluation.forecaster
    window = forecaster.config.window()
    issue_hours = np.resize(evaluation.issue_days, HOUSEHOLDS) * 24
    # 1,000 distinct households: the same home at 1,000 different scales and issue days.
    scales = np.linspace(0.3, 3.0, HOUSEHOLDS)

    def once():
        arrays = window.make_hourly_arrays(daily, issue_hours, 1.0)
        arrays.scale_kw = scales
        return forecaster.predict_arrays(arrays, batch_size=HOUSEHOLDS)

    once()  # warm-up: graph tracing
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        forecast = once()
        samples.append(time.perf_counter() - started)
    assert forecast["point"].shape == (HOUSEHOLDS, 24)
    return statistics.median(samples), len(samples)


def main() -> None:
    figures: dict[str, float] = {}
    details: dict = {"rows": {}, "train_s": {}}
    train_s = {"load": 0.0, "pv": 0.0}
    saved_forecasts: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as work_dir:
        for key, kind, horizon_days, weather in ROWS:
            split = DATASET_SPLITS[kind]
            daily = dataset_daily(kind, use_weather=weather)
            config = default_config(kind, horizon_days, use_weather=weather)
            evaluation = evaluate(
                daily,
                config,
                split["train_until"],
                split["test_from"],
                split["test_until"],
                work_dir,
                train_from=split["train_from"],
                verbose=0,
            )
            title = (
                f"{key}: {config.name}, train to {split['train_until']}, test {split['test_from']}.."
                f"{split['test_until']}, {len(evaluation.issue_days)} forecasts, trained in {evaluation.train_s:.0f} s"
            )
            print(format_table(evaluation.rows, title) + "\n", flush=True)
            lstm = evaluation.row("LSTM")
            saved_forecasts[f"{key}_lstm"] = evaluation.forecasts["LSTM"]["point"]
            saved_forecasts[f"{key}_issue"] = evaluation.issue_days
            ridge = next(row for row in evaluation.rows if row["is_ridge"])
            figures[f"{key}_skill"] = round(lstm["skill"], 4)
            figures[f"{key}_skill_ridge"] = round(ridge["skill"], 4)
            best_simple = max((row for row in evaluation.rows if row["model"] != "LSTM"), key=lambda row: row["skill"])
            details["rows"][key] = {
                "issues": len(evaluation.issue_days),
                "config": config.__dict__,
                "best_simple_model": best_simple["model"],
                "table": evaluation.rows,
            }
            details["train_s"][config.name] = round(evaluation.train_s, 1)
            train_s[kind] += evaluation.train_s
            coverage_key = "p10_p90_coverage" if kind == "load" else "daylight_p10_p90_coverage"
            if key == "load_dayahead":
                figures["p10_p90_coverage_load"] = round(lstm[coverage_key], 4)
                seconds, repeats = inference_seconds(evaluation, daily)
                figures["inference_1000_households_s"] = round(seconds, 4)
                details["inference"] = {
                    "households": HOUSEHOLDS,
                    "horizon_hours": 24,
                    "median_of": repeats,
                    "includes": "window building, normalisation and the batched network call",
                }
            if key == "pv_dayahead":
                figures["p10_p90_coverage_pv"] = round(lstm[coverage_key], 4)
    figures["train_load_s"] = round(train_s["load"], 1)
    figures["train_pv_s"] = round(train_s["pv"], 1)
    details["notes"] = {
        "skill": "1 - RMSE_model / RMSE_persistence (same hour on the last observed day), on the same test hours",
        "p10_p90_coverage_pv": "daylight hours (clear-sky GHI > 0); night hours are zero and trivially covered",
        "train_load_s": "sum of the load-24h and load-168h models; train_pv_s: pv-24h and pv-weather-24h",
        "targets": TARGETS,
    }
    print("figure                           value   target")
    for key, value in figures.items():
        target = TARGETS.get(key)
        verdict = "" if target is None else ("met" if value >= target else "MISSED")
        print(f"{key:<32} {value:>7.3f}  {'' if target is None else f'>= {target:.2f} {verdict}'}")
    write_results("forecast", figures, details)
    np.savez_compressed(RESULTS_DIR / "forecast_lstm.npz", **saved_forecasts)


if __name__ == "__main__":
    main()
