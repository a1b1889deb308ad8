"""How far simple models get on the issue's accuracy rows, to put the LSTM's misses in proportion.

The LSTM's targets (issue 4) sit above the simple models. This script asks
whether the data leave room for them: stronger linear and gradient-boosted
models, and their averages, on exactly the test hours of
``bench_forecast.py``. With ``--lstm FILE`` (the ``.npz`` that
``bench_forecast.py`` writes) it also averages the LSTM in
and measures how alike the errors are.

Run: .venv/bin/python benchmarks/forecast_ceiling.py [--lstm benchmarks/results/forecast_lstm.npz]
Writes benchmarks/results/forecast_ceiling.json.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from common import write_results  # noqa: E402

from backend.forecast import baselines  # noqa: E402
from backend.forecast.evaluate import test_issue_days  # noqa: E402
from backend.forecast.features import DailyData  # noqa: E402
from backend.forecast.pipeline import DATASET_SPLITS, dataset_daily, default_config  # noqa: E402

ALPHAS = np.logspace(-2, 5, 30)
# Below this much irradiation in the last 24 h (kWh/m²) the output-per-GHI ratio is damped, as in windows.py.
MIN_DAY_IRRADIATION = 0.5


def rows_of(daily: DailyData, days: np.ndarray) -> np.ndarray:
    return np.stack([daily.target_kw[i] for i in days])


@dataclass
class Split:
    """One benchmark row's fixed split, as bench_forecast.py cuts it: training and test issue days."""

    daily: DailyData
    train: np.ndarray
    test: np.ndarray
    targets: np.ndarray  # kW [train days, 24]
    actual: np.ndarray  # kW [test days, 24]
    reference: float  # persistence RMSE on the test hours
    sun_up: np.ndarray | None  # PV: [test days, 24]; night hours are zero

    @classmethod
    def of(cls, kind: str, use_weather: bool = False) -> Split:
        daily = dataset_daily(kind, use_weather=use_weather)
        config = default_config(kind, 1, use_weather=use_weather)
        split = DATASET_SPLITS[kind]
        test = test_issue_days(daily, config, split["test_from"], split["test_until"])
        first = daily.day_index(split["train_from"]) if split["train_from"] else 0
        train_end = daily.day_index(split["train_until"]) + 1
        train = config.window().issue_days(daily, first=first + 7, last=train_end, target_end=train_end)
        actual = rows_of(daily, test)
        reference = float(np.sqrt(np.mean((baselines.persistence(daily, test, 1) - actual) ** 2)))
        sun_up = np.stack([daily.daylight[i] for i in test]) if kind == "pv" else None
        return cls(daily, train, test, rows_of(daily, train), actual, reference, sun_up)


def skill(forecast: np.ndarray, actual: np.ndarray, reference_rmse: float, sun_up: np.ndarray | None = None) -> float:
    forecast = np.clip(forecast, 0.0, None) * (1.0 if sun_up is None else sun_up)
    return round(1.0 - float(np.sqrt(np.mean((forecast - actual) ** 2))) / reference_rmse, 4)


def ridge(
    train_inputs: np.ndarray, train_targets: np.ndarray, test_inputs: np.ndarray, per_target: bool = False
) -> np.ndarray:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS, alpha_per_target=per_target))
    return model.fit(np.nan_to_num(train_inputs), train_targets).predict(np.nan_to_num(test_inputs))


def load_inputs(daily: DailyData, days: np.ndarray, history_days: int) -> np.ndarray:
    """Last days' values, weekday and month one-hot."""
    rows = []
    for i in days:
        weekday, month = np.zeros(7), np.zeros(12)
        weekday[daily.dates[i].dayofweek] = 1.0
        month[daily.dates[i].month - 1] = 1.0
        rows.append(np.concatenate([daily.target_kw[i - history_days : i].ravel(), weekday, month]))
    return np.stack(rows)


def load_long_inputs(daily: DailyData, days: np.ndarray) -> np.ndarray:
    """One row per target hour for gradient boosting: hour, weekday, day of year, 7 same-hour lags, daily stats."""
    rows = []
    for i in days:
        past = daily.target_kw[i - 7 : i]
        stats = np.concatenate([past.mean(axis=1), past.min(axis=1), past.max(axis=1), past[-1]])
        for hour in range(24):
            rows.append(
                np.concatenate([[hour, daily.dates[i].dayofweek, daily.dates[i].dayofyear], past[:, hour], stats])
            )
    return np.stack(rows)


def load_row() -> tuple[Split, dict[str, np.ndarray]]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    split = Split.of("load")
    daily, train, test, targets = split.daily, split.train, split.test, split.targets
    forecasts = {
        "ridge (issue's: last 24 h + calendar)": baselines.RidgeBaseline(1, 1).fit(daily, train).predict(daily, test),
        "ridge, last 48 h + weekday + month, alpha per hour": ridge(
            load_inputs(daily, train, 2), targets, load_inputs(daily, test, 2), per_target=True
        ),
    }
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    forecasts["extra trees, last 7 days + weekday + month"] = (
        ExtraTreesRegressor(500, min_samples_leaf=5, max_features=0.3, n_jobs=2, random_state=0)
        .fit(np.nan_to_num(load_inputs(daily, train, 7)), targets)
        .predict(np.nan_to_num(load_inputs(daily, test, 7)))
    )
    forecasts["analogue days (60 nearest, last 48 h + weekday + month)"] = (
        make_pipeline(StandardScaler(), KNeighborsRegressor(60, weights="distance"))
        .fit(np.nan_to_num(load_inputs(daily, train, 2)), targets)
        .predict(np.nan_to_num(load_inputs(daily, test, 2)))
    )
    boosting = HistGradientBoostingRegressor(
        max_iter=800, learning_rate=0.02, min_samples_leaf=100, l2_regularization=1.0, random_state=0
    )
    forecasts["gradient boosting, per hour"] = (
        boosting.fit(load_long_inputs(daily, train), targets.ravel())
        .predict(load_long_inputs(daily, test))
        .reshape(-1, 24)
    )
    return split, forecasts


def pv_weather_row() -> tuple[Split, dict[str, np.ndarray]]:
    split = Split.of("pv", use_weather=True)
    daily, train, test, targets = split.daily, split.train, split.test, split.targets
    ghi = np.nan_to_num(daily.covariates[..., daily.covariate_names.index("ghi")])

    def inputs(days: np.ndarray, performance: bool) -> np.ndarray:
        rows = []
        for i in days:
            parts = [daily.target_kw[i - 1], daily.covariates[i].ravel()]
            if performance:  # the same snow/outage state the LSTM's weather_performance_persistence carries
                ratio = np.nansum(daily.target_kw[i - 1]) / max(ghi[i - 1].sum(), MIN_DAY_IRRADIATION)
                parts += [ghi[i] * ratio, [ratio]]
            rows.append(np.concatenate(parts))
        return np.stack(rows)

    forecasts = {
        "ridge (issue's: last 24 h + calendar + clear sky + weather)": baselines.RidgeBaseline(1, 1)
        .fit(daily, train)
        .predict(daily, test),
        "ridge + weather performance persistence": ridge(inputs(train, True), targets, inputs(test, True)),
    }
    return split, forecasts


def pv_row() -> tuple[Split, dict[str, np.ndarray]]:
    """PV without weather: yesterday, the last week's clear-sky index and the clear sky ahead."""
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    split = Split.of("pv")
    daily, train, test, targets = split.daily, split.train, split.test, split.targets
    clear = daily.covariates[..., daily.covariate_names.index("ghi_clear")]

    def inputs(days: np.ndarray) -> np.ndarray:
        rows = []
        for i in days:
            week_index = np.nansum(daily.target_kw[i - 7 : i], axis=1) / np.maximum(clear[i - 7 : i].sum(axis=1), 0.1)
            rows.append(np.concatenate([daily.target_kw[i - 1], week_index, daily.covariates[i].ravel()]))
        return np.nan_to_num(np.stack(rows))

    forecasts = {
        "ridge (issue's: last 24 h + calendar + clear sky)": baselines.RidgeBaseline(1, 1)
        .fit(daily, train)
        .predict(daily, test),
        "ridge, + last 7 days' clear-sky index": ridge(inputs(train), targets, inputs(test)),
        "extra trees, same inputs": ExtraTreesRegressor(
            500, min_samples_leaf=5, max_features=0.3, n_jobs=2, random_state=0
        )
        .fit(inputs(train), targets)
        .predict(inputs(test)),
        "analogue days (30 nearest), same inputs": make_pipeline(
            StandardScaler(), KNeighborsRegressor(30, weights="distance")
        )
        .fit(inputs(train), targets)
        .predict(inputs(test)),
    }
    return split, forecasts


def score(split: Split, forecasts: dict[str, np.ndarray], lstm: np.ndarray | None) -> dict:
    forecasts = dict(forecasts)
    if lstm is not None:
        forecasts["LSTM"] = lstm
    names = list(forecasts)
    scores = {name: skill(forecasts[name], split.actual, split.reference, split.sun_up) for name in names}
    scores["average of all above"] = skill(
        np.mean([forecasts[n] for n in names], axis=0), split.actual, split.reference, split.sun_up
    )
    result = {"skills": scores}
    if lstm is not None:
        errors = [(np.clip(forecasts[n], 0, None) - split.actual).ravel() for n in (names[0], "LSTM")]
        result["error_correlation_lstm_vs_issue_ridge"] = round(float(np.corrcoef(*errors)[0, 1]), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lstm", type=Path, help="the LSTM's test forecasts that bench_forecast.py saves")
    args = parser.parse_args()
    saved = np.load(args.lstm) if args.lstm else None
    figures, details = {}, {}
    for key, build in (("load_dayahead", load_row), ("pv_dayahead", pv_row), ("pv_dayahead_weather", pv_weather_row)):
        split, forecasts = build()
        lstm = None
        if saved is not None and f"{key}_lstm" in saved:
            if not np.array_equal(saved[f"{key}_issue"], split.test):
                raise SystemExit(f"{args.lstm}: {key} forecasts were issued on other days")
            lstm = saved[f"{key}_lstm"]
        result = score(split, forecasts, lstm)
        details[key] = result
        print(f"\n{key} (RMSE skill against persistence, {len(split.test)} test days)")
        for name, value in result["skills"].items():
            print(f"  {name:<62} {value:.4f}")
        if "error_correlation_lstm_vs_issue_ridge" in result:
            print(f"  error correlation, LSTM vs the issue's ridge: {result['error_correlation_lstm_vs_issue_ridge']}")
        figures[f"{key}_best_single_simple_skill"] = max(
            value for name, value in result["skills"].items() if name not in ("LSTM", "average of all above")
        )
        figures[f"{key}_average_skill"] = result["skills"]["average of all above"]
    write_results("forecast_ceiling", figures, details)


if __name__ == "__main__":
    main()
