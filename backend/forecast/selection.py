"""Choose the served model per series on validation weeks, and calibrate its bands there. Pure numpy.

The validation weeks are the last part of the training period (the same
days the LSTM holds out for early stopping); the test period is never seen.
Every candidate is scored on exactly those days:

- the simple models: persistence, weekly persistence, mean of the last 7
  days and, for PV, clear-sky-index persistence and the clear-sky-index mean
  of the last 7 days (recent level times tomorrow's clear sky: it carries the
  season);
- the ridge, fitted on the training days before the validation weeks;
- the LSTM ensemble, and the blend ``(LSTM + ridge) / 2``.

The rule served since 2026-12-07 is :func:`select_by_origins`: blocks over the
whole training period for the models without the LSTM, then a ladder
(simple, ridge, blend, LSTM) in which each step must win a paired test.
:func:`select` is the first rule, kept for comparison: the candidate with the
lowest validation RMSE, except that a candidate containing the LSTM is served
only if it beats the best candidate without it with *every* seed's member
alone (``member_rmse``). Ties go to the simpler model in both.

Bands: split conformal on the served model's validation residuals, divided by
a scale known at issue time (the point forecast, floored at a fifth of the
last week's mean: a band learnt in summer shrinks with winter's forecast, and
a night or an empty house still gets one). The P10, P90
and any household-set quantile α are the point plus the residual quantile
times that scale.
"""

from dataclasses import dataclass, field

import numpy as np

SIMPLE_MODELS = (
    "persistence",
    "weekly persistence",
    "mean of last 7 days",
    "clear-sky-index persistence",
    "clear-sky-index mean of last 7 days",
)
LSTM = "LSTM"
BLEND = "blend (LSTM + ridge) / 2"
# Simplest first: on equal validation RMSE the earlier one is served.
_ORDER = (*SIMPLE_MODELS, "ridge", BLEND, LSTM)
_LOAD_SCALE_FLOOR = 0.2


def rmse(actual: np.ndarray, predicted: np.ndarray, mask: np.ndarray | None = None) -> float:
    """RMSE over finite (and masked) hours."""
    keep = np.isfinite(actual) & np.isfinite(predicted)
    if mask is not None:
        keep &= mask
    return float(np.sqrt(np.mean((predicted[keep] - actual[keep]) ** 2))) if keep.any() else float("nan")


def uses_lstm(name: str) -> bool:
    """Whether a candidate's forecast contains the LSTM."""
    return name in (LSTM, BLEND)


def is_ridge(name: str) -> bool:
    return name.startswith("ridge")


def _rank(name: str) -> int:
    base = "ridge" if is_ridge(name) else name
    return _ORDER.index(base) if base in _ORDER else len(_ORDER)


@dataclass
class Selection:
    """The served candidate, every candidate's validation RMSE and why."""

    served: str
    validation_rmse: dict[str, float]
    reason: str
    member_rmse: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "served": self.served,
            "reason": self.reason,
            "validation_rmse": self.validation_rmse,
            "member_rmse": self.member_rmse,
        }


def select(
    actual: np.ndarray,
    candidates: dict[str, np.ndarray],
    member_candidates: dict[str, list[np.ndarray]] | None = None,
    mask: np.ndarray | None = None,
) -> Selection:
    """Pick the served candidate from validation forecasts ``{name: [samples, hours]}``.

    ``member_candidates`` maps an LSTM-containing candidate to the same
    forecast made with each seed's member alone.
    """
    scores = {name: rmse(actual, forecast, mask) for name, forecast in candidates.items()}
    finite = {name: score for name, score in scores.items() if np.isfinite(score)}
    if not finite:
        raise ValueError("no candidate has a validation score")
    plain = {name: score for name, score in finite.items() if not uses_lstm(name)}
    best_plain = min(plain, key=lambda name: (plain[name], _rank(name))) if plain else None
    best = min(finite, key=lambda name: (finite[name], _rank(name)))
    members = {
        name: [rmse(actual, forecast, mask) for forecast in forecasts]
        for name, forecasts in (member_candidates or {}).items()
    }
    if not uses_lstm(best) or best_plain is None:
        return Selection(best, scores, f"lowest validation RMSE ({finite[best]:.4f} kW)", members)
    # The best is the LSTM or the blend: it must hold with every seed's member alone.
    lstm_ok = [
        name
        for name in (LSTM, BLEND)
        if name in finite and all(score < plain[best_plain] for score in members.get(name, [finite[name]]))
    ]
    if lstm_ok:
        served = min(lstm_ok, key=lambda name: (finite[name], _rank(name)))
        spread = members.get(served)
        seeds = f"; every seed's member alone beats it too ({max(spread):.4f} kW worst)" if spread else ""
        return Selection(
            served,
            scores,
            f"lowest validation RMSE ({finite[served]:.4f} kW) against the best model "
            f"without the LSTM, {best_plain} ({plain[best_plain]:.4f} kW){seeds}",
            members,
        )
    return Selection(
        best_plain,
        scores,
        f"{best} was lower on validation ({finite[best]:.4f} kW) but not with every "
        f"seed's member alone; served the best model without the LSTM "
        f"({plain[best_plain]:.4f} kW)",
        members,
    )


# ---- the served rule of issue 18, second version: blocked origins and a paired test -----------------

# One-sided thresholds on the paired statistic (a Diebold-Mariano t on daily losses): a more complex model
# replaces a simpler one only when it is better by more than this many standard errors. Fixed on the
# benchmark rows on 2026-12-07 (docs/forecast.md, "Selection rule, second version"): the ridge against the
# simple models needs only a lower loss over the origins (any margin lost 0.02-0.03 of skill on two of six
# benchmark splits); the LSTM and the blend, whose last weeks were also their early-stopping set, need 1.645.
RIDGE_SIGNIFICANCE = 0.0
LSTM_SIGNIFICANCE = 1.645
# Bartlett lags of the long-run variance: day-ahead losses of neighbouring days are correlated (weather, holidays).
HAC_LAGS = 6


def daily_losses(actual: np.ndarray, predicted: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Sum of squared errors per forecast (one row of ``[samples, hours]``); NaN where no hour counts.

    Summing (not averaging) keeps the ranking of the pooled RMSE when days have different numbers of
    daylight hours.
    """
    keep = np.isfinite(actual) & np.isfinite(predicted)
    if mask is not None:
        keep = keep & mask.astype(bool)
    squared = np.where(keep, (predicted - actual) ** 2, 0.0)
    return np.where(keep.any(axis=1), squared.sum(axis=1), np.nan)


def paired_statistic(simpler: np.ndarray, complex_: np.ndarray, lags: int = HAC_LAGS) -> float:
    """Diebold-Mariano-style t statistic of ``simpler - complex_`` daily losses (positive: the complex is better).

    The variance of the mean is the Bartlett (Newey-West) long-run variance with ``lags`` lags.
    """
    diff = np.asarray(simpler, float) - np.asarray(complex_, float)
    diff = diff[np.isfinite(diff)]
    n = len(diff)
    if n < 3:
        return 0.0
    centred = diff - diff.mean()
    variance = float(np.mean(centred**2))
    for lag in range(1, min(lags, n - 1) + 1):
        variance += 2.0 * (1.0 - lag / (lags + 1)) * float(np.mean(centred[lag:] * centred[:-lag]))
    if variance <= 0:
        return float(np.sign(diff.mean()) * np.inf) if diff.mean() != 0 else 0.0
    return float(diff.mean() / np.sqrt(variance / n))


@dataclass
class OriginSelection(Selection):
    """The served candidate under the origins rule, with the statistics that decided it."""

    origin_rmse: dict[str, float] = field(default_factory=dict)
    statistics: dict[str, float] = field(default_factory=dict)
    rule: str = "origins"

    def to_json(self) -> dict:
        return {**super().to_json(), "origin_rmse": self.origin_rmse, "statistics": self.statistics, "rule": self.rule}


def _pooled_rmse(losses: np.ndarray, hours: np.ndarray) -> float:
    keep = np.isfinite(losses)
    return float(np.sqrt(losses[keep].sum() / max(hours[keep].sum(), 1))) if keep.any() else float("nan")


def select_by_origins(
    origin_losses: dict[str, np.ndarray],
    origin_hours: np.ndarray,
    last_losses: dict[str, np.ndarray],
    last_hours: np.ndarray,
    member_losses: dict[str, list[np.ndarray]] | None = None,
    ridge_significance: float = RIDGE_SIGNIFICANCE,
    lstm_significance: float = LSTM_SIGNIFICANCE,
) -> OriginSelection:
    """Serve the simplest model that no more complex one beats significantly.

    - ``origin_losses``: daily losses of the models without the LSTM on every validation origin (blocks
      spread over the whole training period; the ridge refitted without each block), ``origin_hours`` the
      hours each day counts;
    - ``last_losses``: daily losses on the last block (the LSTM's own validation weeks) of every candidate,
      the LSTM and the blend included; ``member_losses`` the LSTM-containing ones per seed's member.

    A ladder, simplest first: the simple model with the lowest pooled loss over the origins; the ridge
    replaces it only if its paired statistic over the origins exceeds ``ridge_significance`` (0: a lower
    pooled loss); then the blend, then the LSTM, each replaces the model served so far only if, on the
    last block, its paired statistic against it exceeds ``lstm_significance`` and every seed's member
    alone has a lower loss there too.
    """
    origin_rmse = {name: _pooled_rmse(loss, origin_hours) for name, loss in origin_losses.items()}
    last_rmse = {name: _pooled_rmse(loss, last_hours) for name, loss in last_losses.items()}
    simple = {name: score for name, score in origin_rmse.items() if name in SIMPLE_MODELS and np.isfinite(score)}
    if not simple:
        raise ValueError("no simple model has a validation score")
    served = min(simple, key=lambda name: (simple[name], _rank(name)))
    statistics: dict[str, float] = {}
    reason = f"best simple model over the validation origins ({simple[served]:.4f} kW)"
    ridge = next((name for name in origin_losses if is_ridge(name)), None)
    if ridge is not None and np.isfinite(origin_rmse.get(ridge, np.nan)):
        stat = paired_statistic(origin_losses[served], origin_losses[ridge])
        statistics[f"{ridge} vs {served}"] = stat
        if stat > ridge_significance:
            reason = (
                f"{ridge} beat {served} over the validation origins ({origin_rmse[ridge]:.4f} against "
                f"{origin_rmse[served]:.4f} kW, paired statistic {stat:.2f} > {ridge_significance:g})"
            )
            served = ridge
        else:
            reason += (
                f"; {ridge} ({origin_rmse[ridge]:.4f} kW) not better "
                f"(paired statistic {stat:.2f} <= {ridge_significance:g})"
            )
    members = member_losses or {}
    # Up the ladder: the blend, then the LSTM, each against the model served so far, on the last weeks.
    steps = []
    for name in (BLEND, LSTM):
        if name not in last_losses or served not in last_losses or not np.isfinite(last_rmse.get(name, np.nan)):
            continue
        stat = paired_statistic(last_losses[served], last_losses[name])
        statistics[f"{name} vs {served} (last weeks)"] = stat
        base = float(np.nansum(last_losses[served]))
        seeds_ok = all(float(np.nansum(loss)) < base for loss in members.get(name, []))
        if stat > lstm_significance and seeds_ok:
            steps.append(
                f"{name} beat {served} on the last validation weeks ({last_rmse[name]:.4f} against "
                f"{last_rmse[served]:.4f} kW, paired statistic {stat:.2f} > {lstm_significance:g}, every "
                f"seed's member too)"
            )
            served = name
        else:
            steps.append(
                f"{name} did not beat {served} significantly with every seed on the last weeks "
                f"({last_rmse[name]:.4f} kW, paired statistic {stat:.2f})"
            )
    if steps:
        reason += "; " + "; ".join(steps)
    member_rmse = {name: [_pooled_rmse(loss, last_hours) for loss in losses] for name, losses in members.items()}
    return OriginSelection(served, last_rmse, reason, member_rmse, origin_rmse, statistics)


# ---- calibrated quantiles -------------------------------------------------------------------------


def band_scale(kind: str, point: np.ndarray, ghi_clear: np.ndarray | None, level: np.ndarray) -> np.ndarray:
    """The residual scale of each forecast hour: the point forecast, floored at a fifth of the last week's mean.

    Chosen on the benchmark rows (Sceaux, PVDAQ 50) among no scale, the
    week's level, the clear-sky GHI and combinations: it had the lowest
    pinball loss on both and kept P10 and P90 within 5 points there. The
    clear-sky GHI alone, fitted on the winter validation weeks of PVDAQ 50,
    gave bands far too wide (P10 3%, P90 94%). ``kind`` and ``ghi_clear`` are
    kept for other scales.
    """
    return np.maximum(point, _LOAD_SCALE_FLOOR * level[:, None])


@dataclass
class ConformalBands:
    """Quantiles of validation residuals divided by the hour's scale."""

    levels: tuple[float, ...]
    quantiles: tuple[float, ...]

    @classmethod
    def fit(
        cls,
        actual: np.ndarray,
        point: np.ndarray,
        scale: np.ndarray,
        mask: np.ndarray | None = None,
        levels: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95),
    ) -> "ConformalBands":
        keep = np.isfinite(actual) & np.isfinite(point) & (scale > 1e-6)
        if mask is not None:
            keep &= mask
        if keep.sum() < 20:
            raise ValueError(f"only {int(keep.sum())} validation hours to calibrate the bands; need 20")
        ratio = (actual[keep] - point[keep]) / scale[keep]
        return cls(tuple(levels), tuple(float(np.quantile(ratio, level)) for level in levels))

    def quantile(self, level: float, point: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The ``level`` quantile forecast (kW, never below zero)."""
        q = float(np.interp(level, self.levels, self.quantiles))
        return np.clip(point + q * scale, 0.0, None)

    def to_json(self) -> dict:
        return {"levels": list(self.levels), "residual_quantiles": list(self.quantiles)}


def below_rate(actual: np.ndarray, quantile: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fraction of hours whose actual value lies below the quantile (nominal: its level)."""
    keep = np.isfinite(actual)
    if mask is not None:
        keep &= mask
    return float(np.mean(actual[keep] < quantile[keep])) if keep.any() else float("nan")


def pinball(actual: np.ndarray, quantile: np.ndarray, level: float, mask: np.ndarray | None = None) -> float:
    """Mean pinball (quantile) loss in kW."""
    keep = np.isfinite(actual)
    if mask is not None:
        keep &= mask
    diff = actual[keep] - quantile[keep]
    return float(np.mean(np.maximum(level * diff, (level - 1) * diff))) if keep.any() else float("nan")


def empirical_quantiles(
    actual: np.ndarray, point: np.ndarray, levels: tuple[float, ...], mask: np.ndarray | None = None
) -> dict[float, float]:
    """Plain residual quantiles in kW (the reference band: a model plus its empirical residuals)."""
    keep = np.isfinite(actual) & np.isfinite(point)
    if mask is not None:
        keep &= mask
    residual = actual[keep] - point[keep]
    return {level: float(np.quantile(residual, level)) for level in levels}


def format_served_table(summaries: dict[str, dict], title: str = "") -> str:
    """One line per series: served model, its test skill, the best simple model's, the margin, the LSTM's part."""
    header = (
        f"{'series':<30} {'served':<36} {'served':>7} {'best simple':>11} {'margin':>7} {'LSTM?':>5} "
        f"{'LSTM':>6} {'ridge':>6} {'P10':>6} {'P90':>6} {'bias %':>7}"
    )
    lines = ([title] if title else []) + [header, "-" * len(header)]
    for name, table in summaries.items():
        s = table["summary"]
        lines.append(
            f"{name:<30} {s['served']:<36} {s['served_skill']:7.3f} {s['best_simple_skill']:11.3f} "
            f"{s['margin']:+7.3f} {'yes' if s['lstm_chosen'] else 'no':>5} {s['lstm_skill']:6.3f} "
            f"{s['ridge_skill']:6.3f} {s['p10_rate']:6.1%} {s['p90_rate']:6.1%} {s['mean_bias_pct']:+7.1f}"
        )
    margins = [table["summary"]["margin"] for table in summaries.values()]
    if margins:
        chosen = sum(table["summary"]["lstm_chosen"] for table in summaries.values())
        lines.append(f"smallest margin {min(margins):+.3f}; LSTM or blend served on {chosen} of {len(margins)}")
    return "\n".join(lines)
