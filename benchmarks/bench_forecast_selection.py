"""Served model per series against the best simple model, calibration and seeds: benchmark rows and held-out suite.

Run: .venv/bin/python benchmarks/bench_forecast_selection.py [--members 3] [--max-epochs N]
Merges into benchmarks/results/forecast.json (today's keys kept): served_skill_<series>,
best_simple_skill_<series>, served_minus_best_simple_min, p10_rate_heldout, p90_rate_heldout and more;
the whole per-series summaries go to benchmarks/results/forecast_selection.json.
The same numbers come from `vatio forecast evaluate --suite heldout` and `--suite benchmark`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import write_results

from backend.forecast.evaluate import evaluate
from backend.forecast.features import build_daily_data
from backend.forecast.metrics import format_table
from backend.forecast.pipeline import DATASET_SPLITS, dataset_daily, default_config
from backend.forecast.selection import format_served_table
from backend.forecast.suites import BENCHMARK, HELDOUT, HELDOUT_FIXED_ON


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=3, help="LSTM members (consecutive seeds from 42)")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--only", nargs="*", help="series names to run (default: all)")
    args = parser.parse_args()
    overrides = {"members": args.members}
    if args.max_epochs:
        overrides["max_epochs"] = args.max_epochs
    figures: dict[str, float] = {}
    summaries: dict[str, dict] = {}
    groups = {"benchmark": BENCHMARK, "heldout": HELDOUT}
    with tempfile.TemporaryDirectory() as work_dir:
        for group, items in groups.items():
            for item in items:
                if args.only and item.name not in args.only:
                    continue
                hourly, info = item.loader()
                daily = build_daily_data(hourly, info)
                config = default_config(item.kind, 1, **overrides)
                result = evaluate(
                    daily,
                    config,
                    item.train_until,
                    item.test_from,
                    item.test_until,
                    work_dir,
                    train_from=item.train_from,
                    verbose=0,
                )
                summary = {
                    **result.summary,
                    "group": group,
                    "issues": len(result.issue_days),
                    "train_s": round(result.train_s, 1),
                }
                print(
                    format_table(result.rows, f"{item.name} ({group}): served {summary['served']}: {summary['reason']}")
                    + "\n",
                    flush=True,
                )
                summaries[item.name] = {"summary": summary, "rows": result.rows}
                figures[f"served_skill_{item.name}"] = round(summary["served_skill"], 4)
                figures[f"best_simple_skill_{item.name}"] = round(summary["best_simple_skill"], 4)
        if not args.only or "pvdaq50_weather" in args.only:
            # The weather row: PVDAQ 50 with the NSRDB stand-in as a (perfect) forecast; the gain over the same
            # run's served model without weather is weather_gain_pv50.
            split = DATASET_SPLITS["pv"]
            daily = dataset_daily("pv", use_weather=True)
            config = default_config("pv", 1, use_weather=True, **overrides)
            result = evaluate(
                daily,
                config,
                split["train_until"],
                split["test_from"],
                split["test_until"],
                work_dir,
                train_from=split["train_from"],
                verbose=0,
            )
            summary = {
                **result.summary,
                "group": "benchmark",
                "issues": len(result.issue_days),
                "train_s": round(result.train_s, 1),
            }
            print(format_table(result.rows, f"pvdaq50_weather: served {summary['served']}: {summary['reason']}"))
            summaries["pvdaq50_weather"] = {"summary": summary, "rows": result.rows}
            figures["served_skill_pvdaq50_weather"] = round(summary["served_skill"], 4)
            figures["best_simple_skill_pvdaq50_weather"] = round(summary["best_simple_skill"], 4)
            if "pvdaq50" in summaries:
                figures["weather_gain_pv50"] = round(
                    summary["served_skill"] - summaries["pvdaq50"]["summary"]["served_skill"], 4
                )
    for group, items in groups.items():
        part = {item.name: summaries[item.name] for item in items if item.name in summaries}
        if part:
            print(format_served_table(part, f"{group}: served model against the best simple model") + "\n")
    margins = [entry["summary"]["margin"] for entry in summaries.values()]
    figures["served_minus_best_simple_min"] = round(min(margins), 4)
    heldout = [summaries[item.name]["summary"] for item in HELDOUT if item.name in summaries]
    if heldout:
        figures["p10_rate_heldout"] = round(statistics.median(s["p10_rate"] for s in heldout), 4)
        figures["p90_rate_heldout"] = round(statistics.median(s["p90_rate"] for s in heldout), 4)
        for alpha in ("0.05", "0.1", "0.2"):
            # The conformal alpha quantile, and the one the advice interpolates from the stored P10/P50/P90.
            figures[f"shortfall_rate_alpha_{alpha}_heldout"] = round(
                statistics.median(s[f"shortfall_rate_alpha_{alpha}"] for s in heldout), 4
            )
            figures[f"advice_shortfall_rate_alpha_{alpha}_heldout"] = round(
                statistics.median(s[f"advice_shortfall_rate_alpha_{alpha}"] for s in heldout), 4
            )
        figures["pinball_served_heldout"] = round(statistics.median(s["pinball_served"] for s in heldout), 4)
        figures["pinball_ridge_empirical_heldout"] = round(
            statistics.median(s["pinball_ridge_empirical"] for s in heldout), 4
        )
    figures["lstm_served_count"] = sum(entry["summary"]["lstm_chosen"] for entry in summaries.values())
    figures["blend_served_count"] = sum(
        entry["summary"]["served"] == "blend (LSTM + ridge) / 2" for entry in summaries.values()
    )
    figures["lstm_served_beat_ridge_on_test"] = sum(
        entry["summary"]["lstm_chosen"] and entry["summary"]["served_skill"] > entry["summary"]["ridge_skill"]
        for entry in summaries.values()
    )
    for name, entry in summaries.items():
        figures[f"served_minus_best_simple_{name}"] = round(entry["summary"]["margin"], 4)
    figures["series_count"] = len(summaries)
    summaries = json.loads(
        json.dumps(summaries, default=lambda value: value.item() if hasattr(value, "item") else str(value))
    )
    details = {
        "selection": {
            "heldout_fixed_on": HELDOUT_FIXED_ON,
            "rule": "origins + ladder (2026-12-07 18:55 UTC)",
            "overrides": overrides,
            "series": {name: entry["summary"] for name, entry in summaries.items()},
        }
    }
    write_results("forecast", figures, details, merge=True)
    write_results("forecast_selection", figures, {"series": summaries})
    for key, value in figures.items():
        print(f"{key:<40} {value}")


if __name__ == "__main__":
    main()
