"""Train on the training part of a series and score the LSTM against every baseline on the test part."""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend.forecast import baselines, selection
from backend.forecast.features import DailyData
from backend.forecast.forecaster import ForecastConfig, Forecaster
from backend.forecast.metrics import evaluation_table
from backend.paths import VAR_DIR

MONDAY = 0


@dataclass
class Evaluation:
    """One evaluation: the table rows, the test geometry and the trained forecaster."""

    name: str
    rows: list[dict]
    issue_days: np.ndarray
    forecaster: Forecaster
    train_s: float
    forecasts: dict = field(default_factory=dict)
    # The served model, why, its margin over the best simple model, calibration rates, the seed spread.
    summary: dict = field(default_factory=dict)
    # The daily validation losses the choice was made from (origins, last weeks, members); not in the JSON.
    validation: dict = field(default_factory=dict)

    def row(self, model: str) -> dict:
        """Return the row of one model."""
        return next(row for row in self.rows if row["model"] == model)


def test_issue_days(daily: DailyData, config: ForecastConfig, test_from: str, test_until: str | None) -> np.ndarray:
    """Issue days in the test period: every day (day-ahead) or every Monday (week-ahead).

    A day counts when it, its horizon and the 7 days before it are complete
    and the whole horizon lies inside the test period.
    """
    window = config.window()
    first = daily.day_index(test_from)
    end = daily.day_index(test_until) + 1 if test_until else len(daily.dates)
    issue = window.issue_days(daily, first=first, last=end, target_end=end)
    if config.horizon_days == 7:
        issue = issue[daily.dates[issue].dayofweek == MONDAY]
    return issue


def simple_forecasts(daily: DailyData, issue: np.ndarray, horizon: int, kind: str) -> dict[str, np.ndarray]:
    """Every simple model's point forecast (kW) for ``issue`` days."""
    forecasts = {
        "persistence": baselines.persistence(daily, issue, horizon),
        "weekly persistence": baselines.weekly_persistence(daily, issue, horizon),
        "mean of last 7 days": baselines.mean_last_7_days(daily, issue, horizon),
    }
    if kind == "pv":
        forecasts["clear-sky-index persistence"] = baselines.clear_sky_index_persistence(daily, issue, horizon)
        forecasts["clear-sky-index mean of last 7 days"] = baselines.clear_sky_index_mean_7_days(daily, issue, horizon)
    return forecasts


def _actual(daily: DailyData, issue: np.ndarray, horizon: int) -> np.ndarray:
    return np.stack([daily.target_kw[i : i + horizon].ravel() for i in issue])


def _hours_mask(daily: DailyData, issue: np.ndarray, horizon: int) -> np.ndarray:
    return np.stack([daily.daylight[i : i + horizon].ravel() for i in issue])


def _ghi_clear(daily: DailyData, issue: np.ndarray, horizon: int) -> np.ndarray | None:
    if "ghi_clear" not in daily.covariate_names:
        return None
    column = daily.covariate_names.index("ghi_clear")
    return np.stack([daily.covariates[i : i + horizon, :, column].ravel() for i in issue])


def _level(daily: DailyData, issue: np.ndarray) -> np.ndarray:
    return np.array([np.nanmean(daily.target_kw[i - 7 : i]) for i in issue])


def _candidates(daily, issue, horizon, kind, ridge, lstm_point):
    forecasts = simple_forecasts(daily, issue, horizon, kind)
    forecasts["ridge"] = ridge.predict(daily, issue)
    forecasts[selection.LSTM] = lstm_point
    forecasts[selection.BLEND] = 0.5 * (lstm_point + forecasts["ridge"])
    return forecasts


# Validation blocks over the training period: ORIGIN_BLOCKS - 1 equal blocks, then the last weeks.
ORIGIN_BLOCKS = 5
# Training days kept out of a block's ridge fit after the block (their inputs hold the block's values).
_GAP_AFTER_DAYS = 7
_MIN_FIT_DAYS = 20


@dataclass
class OriginValidation:
    """Daily losses of every model without the LSTM on the validation origins, and its last block."""

    blocks: list[np.ndarray]
    losses: dict[str, np.ndarray]
    hours: np.ndarray
    last_forecasts: dict[str, np.ndarray]
    last_hours: np.ndarray


def validation_blocks(
    train_issue: np.ndarray, validation_fraction: float, blocks: int = ORIGIN_BLOCKS
) -> list[np.ndarray]:
    """Split the training issue days into ``blocks - 1`` equal blocks and the last ``validation_fraction``."""
    cut = int(len(train_issue) * (1 - validation_fraction))
    earlier = [block for block in np.array_split(train_issue[:cut], max(blocks - 1, 0)) if len(block)]
    return earlier + [train_issue[cut:]]


def origin_validation(
    daily: DailyData,
    kind: str,
    train_issue: np.ndarray,
    horizon: int,
    history_days: int,
    validation_fraction: float,
    blocks: int = ORIGIN_BLOCKS,
) -> OriginValidation:
    """Forecast every block of the training period with every model that has no LSTM.

    The simple models need no fit. The ridge of a block is fitted on the training days outside it: before it
    (whose targets end before the block) and more than a week after it (whose inputs do not hold the block's
    values). The test period is never used. Blocks spread over the training period cover its seasons.
    """
    parts: list[dict[str, np.ndarray]] = []
    hours = []
    split = validation_blocks(train_issue, validation_fraction, blocks)
    for block in split:
        outside = train_issue[(train_issue <= block[0] - horizon) | (train_issue > block[-1] + _GAP_AFTER_DAYS)]
        forecasts = simple_forecasts(daily, block, horizon, kind)
        if len(outside) >= _MIN_FIT_DAYS:
            fitted = baselines.RidgeBaseline(horizon, history_days).fit(daily, outside)
            forecasts["ridge"] = fitted.predict(daily, block)
        else:
            forecasts["ridge"] = np.full_like(forecasts["persistence"], np.nan)
        actual = _actual(daily, block, horizon)
        mask = _hours_mask(daily, block, horizon) if kind == "pv" else None
        parts.append({name: selection.daily_losses(actual, value, mask) for name, value in forecasts.items()})
        counted = np.isfinite(actual) & (mask.astype(bool) if mask is not None else True)
        hours.append(counted.sum(axis=1))
        last = forecasts
    losses = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    return OriginValidation(split, losses, np.concatenate(hours), last, hours[-1])


def evaluate(
    daily: DailyData,
    config: ForecastConfig,
    train_until: str,
    test_from: str,
    test_until: str | None = None,
    work_dir: str | Path = VAR_DIR / "forecast-eval",
    extra_training: list[DailyData] | None = None,
    train_from: str | None = None,
    verbose: int = 1,
) -> Evaluation:
    """Train the LSTM and the ridge up to ``train_until``, choose the served model on the validation weeks
    at the end of the training period, calibrate its bands there, and score everything on the test period.
    """
    if np.datetime64(test_from) <= np.datetime64(train_until):
        raise ValueError("the test period must start after the training period")
    horizon = config.horizon_days
    issue = test_issue_days(daily, config, test_from, test_until)
    if len(issue) == 0:
        raise ValueError("no complete test days in the test period")
    window = config.window()
    train_start = daily.day_index(train_from) if train_from else 0
    train_end = daily.day_index(train_until) + 1
    train_issue = window.issue_days(daily, first=train_start + 7, last=train_end, target_end=train_end)
    if len(train_issue) < 25:
        raise ValueError(f"only {len(train_issue)} complete training days with 7 days of history; need 25")
    # The validation weeks: the last part of the training issues, as the LSTM's own early-stopping split.
    validation_issue = validation_blocks(train_issue, config.validation_fraction)[-1]

    forecaster = Forecaster(config)
    started = time.perf_counter()
    forecaster.fit(
        [daily],
        train_until,
        Path(work_dir) / config.name,
        train_from=train_from,
        verbose=verbose,
        other_households=extra_training,
    )
    train_s = time.perf_counter() - started
    lstm = forecaster.predict(daily, issue)

    history_days = 1 if horizon == 1 else 7
    ridge = baselines.RidgeBaseline(horizon, history_days).fit(daily, train_issue)
    mask_val = _hours_mask(daily, validation_issue, horizon) if config.kind == "pv" else None
    mask_test = _hours_mask(daily, issue, horizon) if config.kind == "pv" else None

    # Validation origins: blocks over the whole training period, every model without the LSTM on each (the
    # ridge refitted without the block); the last block is the LSTM's own validation weeks.
    origins = origin_validation(daily, config.kind, train_issue, horizon, history_days, config.validation_fraction)
    validation = dict(origins.last_forecasts)
    actual_val = _actual(daily, validation_issue, horizon)
    lstm_val = forecaster.predict(daily, validation_issue)["point"]
    validation[selection.LSTM] = lstm_val
    validation[selection.BLEND] = 0.5 * (lstm_val + validation["ridge"])
    members_val = forecaster.predict_members(daily, validation_issue) if len(forecaster.member_networks) > 1 else []
    member_candidates = (
        {selection.LSTM: members_val, selection.BLEND: [0.5 * (m + validation["ridge"]) for m in members_val]}
        if members_val
        else {}
    )
    last_losses = {name: selection.daily_losses(actual_val, value, mask_val) for name, value in validation.items()}
    member_losses = {
        name: [selection.daily_losses(actual_val, m, mask_val) for m in values]
        for name, values in member_candidates.items()
    }
    chosen = selection.select_by_origins(origins.losses, origins.hours, last_losses, origins.last_hours, member_losses)
    scale_val = selection.band_scale(
        config.kind,
        validation[chosen.served],
        _ghi_clear(daily, validation_issue, horizon),
        _level(daily, validation_issue),
    )
    bands = selection.ConformalBands.fit(actual_val, validation[chosen.served], scale_val, mask_val)
    ridge_quantiles = selection.empirical_quantiles(actual_val, validation["ridge"], (0.1, 0.9), mask_val)

    # Test.
    test = _candidates(daily, issue, horizon, config.kind, ridge, lstm["point"])
    served_point = test[chosen.served]
    scale_test = selection.band_scale(
        config.kind, served_point, _ghi_clear(daily, issue, horizon), _level(daily, issue)
    )
    served = {
        "point": served_point,
        **{f"p{int(level * 100)}": bands.quantile(level, served_point, scale_test) for level in (0.1, 0.5, 0.9)},
    }
    if config.kind == "pv":
        served = {key: value * mask_test for key, value in served.items()}

    ridge_name = (
        f"ridge (last {history_days * 24} h + calendar"
        + (" + clear sky" + (" + weather" if config.use_weather else "") if config.kind == "pv" else "")
        + ")"
    )
    forecasts = {name: {"point": value} for name, value in simple_forecasts(daily, issue, horizon, config.kind).items()}
    forecasts[ridge_name] = {"point": test["ridge"]}
    forecasts[selection.BLEND] = {"point": test[selection.BLEND]}
    forecasts["LSTM"] = {"point": lstm["point"], "p10": lstm["p10"], "p90": lstm["p90"]}
    served_name = f"served: {chosen.served}"
    forecasts[served_name] = served

    actual = _actual(daily, issue, horizon)
    daylight = mask_test
    rows = evaluation_table(actual, forecasts, "persistence", daylight)
    for row in rows:
        row["is_ridge"] = row["model"] == ridge_name
        row["is_served"] = row["model"] == served_name
        row["simple"] = row["model"] in selection.SIMPLE_MODELS or row["is_ridge"]
        base = "ridge" if row["is_ridge"] else row["model"]
        if base in chosen.validation_rmse:
            row["validation_rmse"] = chosen.validation_rmse[base]
        if base in chosen.origin_rmse:
            row["origin_rmse"] = chosen.origin_rmse[base]

    summary = _summary(
        config, chosen, rows, actual, served, bands, test, ridge_quantiles, forecaster, daily, issue, mask_test
    )
    evaluation = Evaluation(config.name, rows, issue, forecaster, train_s, {**forecasts, "actual": actual}, summary)
    evaluation.validation = {"origins": origins, "last_losses": last_losses, "member_losses": member_losses}
    return evaluation


def _summary(config, chosen, rows, actual, served, bands, test, ridge_quantiles, forecaster, daily, issue, mask):
    """The served model against the best simple model, calibration and the seed spread, for one evaluation."""
    by_name = {row["model"]: row for row in rows}
    served_row = next(row for row in rows if row["is_served"])
    simple = [row for row in rows if row["simple"]]
    best_simple = max(simple, key=lambda row: row["skill"])
    ridge_row = next(row for row in rows if row["is_ridge"])
    lstm_row = by_name["LSTM"]
    levels = {0.1: served["p10"], 0.9: served["p90"]}
    ridge_band = {level: np.clip(test["ridge"] + ridge_quantiles[level], 0.0, None) for level in (0.1, 0.9)}
    if mask is not None:
        ridge_band = {level: value * mask for level, value in ridge_band.items()}
    summary = {
        "served": chosen.served,
        "reason": chosen.reason,
        "selection": chosen.to_json(),
        "served_skill": served_row["skill"],
        "best_simple_model": best_simple["model"],
        "best_simple_skill": best_simple["skill"],
        "margin": served_row["skill"] - best_simple["skill"],
        "lstm_chosen": selection.uses_lstm(chosen.served),
        "lstm_skill": lstm_row["skill"],
        "ridge_skill": ridge_row["skill"],
        "lstm_beats_ridge_on_test": lstm_row["skill"] > ridge_row["skill"],
        "p10_rate": selection.below_rate(actual, served["p10"], mask),
        "p90_rate": selection.below_rate(actual, served["p90"], mask),
        "pinball_served": float(np.mean([selection.pinball(actual, q, level, mask) for level, q in levels.items()])),
        "pinball_ridge_empirical": float(
            np.mean([selection.pinball(actual, q, level, mask) for level, q in ridge_band.items()])
        ),
        "bands": bands.to_json(),
    }
    scale = selection.band_scale(
        config.kind, served["point"], _ghi_clear(daily, issue, config.horizon_days), _level(daily, issue)
    )
    # The advice reads only the stored P10/P50/P90 and interpolates the household's alpha from them.
    from backend.forecast.advice import quantile_from_band

    median = bands.quantile(0.5, served["point"], scale)
    for alpha in (0.05, 0.1, 0.2):
        conservative = bands.quantile(alpha, served["point"], scale)
        from_band = quantile_from_band(alpha, served["p10"], median, served["p90"])
        if mask is not None:
            conservative, from_band = conservative * mask, from_band * mask
        summary[f"shortfall_rate_alpha_{alpha:g}"] = selection.below_rate(actual, conservative, mask)
        summary[f"advice_shortfall_rate_alpha_{alpha:g}"] = selection.below_rate(actual, from_band, mask)
    keep = np.isfinite(actual) & (mask if mask is not None else True)
    mean_actual = float(np.mean(actual[keep]))
    summary["mean_bias_pct"] = 100.0 * float(np.mean(served["point"][keep]) - mean_actual) / mean_actual
    summary["lstm_mean_bias_pct"] = 100.0 * float(np.mean(test["LSTM"][keep]) - mean_actual) / mean_actual
    if len(forecaster.member_networks) > 1:
        persistence_rmse = by_name["persistence"]["rmse"]
        members = forecaster.predict_members(daily, issue)
        summary["lstm_member_skills"] = [1.0 - selection.rmse(actual, m) / persistence_rmse for m in members]
        summary["blend_member_skills"] = [
            1.0 - selection.rmse(actual, 0.5 * (m + test["ridge"])) / persistence_rmse for m in members
        ]
    return summary
