"""Forecast accuracy metrics and the one table every model is reported in."""

import numpy as np


def point_metrics(actual_kw: np.ndarray, predicted_kw: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Return MAE and RMSE (kW) and nMAE (% of the mean actual) over the masked hours."""
    actual = np.asarray(actual_kw, dtype=float)
    predicted = np.asarray(predicted_kw, dtype=float)
    keep = np.isfinite(actual) & np.isfinite(predicted)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    errors = predicted[keep] - actual[keep]
    if errors.size == 0:
        return {"mae": float("nan"), "rmse": float("nan"), "nmae_pct": float("nan"), "hours": 0}
    mae = float(np.mean(np.abs(errors)))
    mean_actual = float(np.mean(actual[keep]))
    return {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "nmae_pct": 100.0 * mae / mean_actual if mean_actual else float("nan"),
        "hours": int(errors.size),
    }


def rmse_skill(rmse_model: float, rmse_reference: float) -> float:
    """Return 1 − RMSE_model / RMSE_reference (positive is better than the reference)."""
    return 1.0 - rmse_model / rmse_reference if rmse_reference else float("nan")


def interval_coverage(
    actual_kw: np.ndarray, lower_kw: np.ndarray, upper_kw: np.ndarray, mask: np.ndarray | None = None
) -> float:
    """Return the fraction of hours whose actual value lies within [lower, upper]."""
    actual = np.asarray(actual_kw, dtype=float)
    keep = np.isfinite(actual)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    inside = (actual >= lower_kw) & (actual <= upper_kw)
    return float(inside[keep].mean()) if keep.any() else float("nan")


def evaluation_table(
    actual_kw: np.ndarray,
    forecasts: dict[str, dict],
    reference: str = "persistence",
    daylight: np.ndarray | None = None,
) -> list[dict]:
    """Score every forecast on the same hours; skill is against ``reference``.

    ``forecasts`` maps a model name to ``{"point": array, "p10": array, "p90": array}``
    (quantiles optional). With ``daylight`` each row also carries ``daylight_*`` metrics.
    """
    reference_all = point_metrics(actual_kw, forecasts[reference]["point"])
    reference_day = point_metrics(actual_kw, forecasts[reference]["point"], daylight) if daylight is not None else None
    rows = []
    for name, forecast in forecasts.items():
        row = {"model": name, **point_metrics(actual_kw, forecast["point"])}
        row["skill"] = rmse_skill(row["rmse"], reference_all["rmse"])
        if "p10" in forecast:
            row["p10_p90_coverage"] = interval_coverage(actual_kw, forecast["p10"], forecast["p90"])
        if daylight is not None:
            day = point_metrics(actual_kw, forecast["point"], daylight)
            row.update({f"daylight_{key}": value for key, value in day.items() if key != "hours"})
            row["daylight_skill"] = rmse_skill(day["rmse"], reference_day["rmse"])
            if "p10" in forecast:
                row["daylight_p10_p90_coverage"] = interval_coverage(
                    actual_kw, forecast["p10"], forecast["p90"], daylight
                )
        rows.append(row)
    return rows


def format_table(rows: list[dict], title: str = "") -> str:
    """Render evaluation rows as a fixed-width text table."""
    columns = [
        ("model", "model", "{:<42}"),
        ("mae", "MAE kW", "{:>8.3f}"),
        ("rmse", "RMSE kW", "{:>8.3f}"),
        ("nmae_pct", "nMAE %", "{:>7.1f}"),
        ("skill", "skill", "{:>7.3f}"),
        ("p10_p90_coverage", "P10-P90", "{:>8.1%}"),
        ("daylight_rmse", "day RMSE", "{:>9.3f}"),
        ("daylight_skill", "day skill", "{:>9.3f}"),
        ("daylight_p10_p90_coverage", "day P10-P90", "{:>11.1%}"),
    ]
    present = [c for c in columns if any(c[0] in row for row in rows)]
    header = " ".join(
        f"{label:<42}" if key == "model" else f"{label:>{len(fmt.format(0.0)) if key != 'model' else 42}}"
        for key, label, fmt in present
    )
    lines = ([title] if title else []) + [header, "-" * len(header)]
    for row in rows:
        cells = []
        for key, _, fmt in present:
            value = row.get(key)
            width = len(fmt.format(0.0)) if key != "model" else 42
            cells.append(fmt.format(value) if value is not None else " " * (width - 1) + "-")
        lines.append(" ".join(cells))
    return "\n".join(lines)
