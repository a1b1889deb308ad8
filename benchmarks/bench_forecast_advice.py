"""The advice's value in euros: a backtest over the benchmark rows' test periods with a flat tariff.

Run: .venv/bin/python benchmarks/bench_forecast_advice.py [--members 3] [--max-epochs 12]
Merges into benchmarks/results/forecast.json: advice_value_eur_per_household_month, advice_share_of_perfect
(at the default shortfall rate, 10%) and the same at 5% and 20%, with the backtest's assumptions.

The household: the Sceaux home's consumption (test 2009-12-01..2010-11-26) with PVDAQ system 50's
production (test 2013) on the same calendar day and local hour, each forecast day-ahead by its served model (chosen on
its own validation origins, as in bench_forecast_selection.py). No held-out series pairs a load and a PV
test period of the same season, so this is the benchmark rows only. Tariff: feed-in 0.05 EUR/kWh, retail
0.20 EUR/kWh (the command line's defaults); advised orders fill at 0.125 EUR/kWh (the limit price hint of
a balanced community), all of them (optimistic); a sale not delivered is bought back at retail.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from common import write_results

from backend.forecast.advice import backtest_advice
from backend.forecast.evaluate import evaluate
from backend.forecast.pipeline import DATASET_SPLITS, dataset_daily, default_config

FEED_IN_EUR, RETAIL_EUR = 0.05, 0.20


def served_days(kind: str, overrides: dict, work_dir: str) -> tuple[dict, str]:
    """{(month, day): (actual kW [24], (P10, P50, P90) kW)} of the served model on the test period."""
    split = DATASET_SPLITS[kind]
    daily = dataset_daily(kind)
    config = default_config(kind, 1, **overrides)
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
    served = result.forecasts[f"served: {result.summary['served']}"]
    actual = result.forecasts["actual"]
    days = {}
    for row, index in enumerate(result.issue_days):
        date = daily.dates[index]
        days[(date.month, date.day)] = (actual[row], tuple(served[q][row] for q in ("p10", "p50", "p90")))
    return days, result.summary["served"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=12)
    args = parser.parse_args()
    overrides = {"members": args.members, "max_epochs": args.max_epochs}
    with tempfile.TemporaryDirectory() as work_dir:
        load, load_model = served_days("load", overrides, work_dir)
        pv, pv_model = served_days("pv", overrides, work_dir)
    common_days = sorted(set(load) & set(pv))
    consumed = np.stack([load[day][0] for day in common_days])
    produced = np.stack([pv[day][0] for day in common_days])
    consumed_band = tuple(np.stack([load[day][1][q] for day in common_days]) for q in range(3))
    produced_band = tuple(np.stack([pv[day][1][q] for day in common_days]) for q in range(3))
    figures, details = (
        {},
        {
            "days": len(common_days),
            "load_served": load_model,
            "pv_served": pv_model,
            "feed_in_eur_per_kwh": FEED_IN_EUR,
            "retail_eur_per_kwh": RETAIL_EUR,
            "trade_eur_per_kwh": (FEED_IN_EUR + RETAIL_EUR) / 2,
            "alphas": {},
        },
    )
    for alpha in (0.05, 0.1, 0.2):
        # Hourly mean kW over one hour is kWh.
        result = backtest_advice(consumed, produced, consumed_band, produced_band, FEED_IN_EUR, RETAIL_EUR, alpha=alpha)
        entry = {
            "gain_eur_per_month": round(result.per_month(result.gain), 3),
            "perfect_gain_eur_per_month": round(result.per_month(result.perfect_gain), 3),
            "share_of_perfect": round(result.share_of_perfect, 4),
            "cost_no_advice_eur_per_month": round(result.per_month(result.cost_no_advice), 3),
            "cost_advised_eur_per_month": round(result.per_month(result.cost_advised), 3),
            "sale_shortfall_rate": round(result.shortfall_hours / max(result.sell_hours, 1), 4),
            "sell_hours": result.sell_hours,
            "buy_hours": result.buy_hours,
            "gain_from_sales_eur_per_month": round(result.per_month(result.gain_from_sales), 3),
            "gain_from_purchases_eur_per_month": round(result.per_month(result.gain_from_purchases), 3),
        }
        details["alphas"][str(alpha)] = entry
        suffix = "" if alpha == 0.1 else f"_alpha_{alpha:g}"
        figures[f"advice_value_eur_per_household_month{suffix}"] = entry["gain_eur_per_month"]
        figures[f"advice_share_of_perfect{suffix}"] = entry["share_of_perfect"]
        figures[f"advice_sale_shortfall_rate_alpha_{alpha:g}"] = entry["sale_shortfall_rate"]
        print(f"alpha {alpha:.0%}: {entry}")
    write_results("forecast", figures, {"advice_backtest": details}, merge=True)
    for key, value in figures.items():
        print(f"{key:<45} {value}")


if __name__ == "__main__":
    main()
