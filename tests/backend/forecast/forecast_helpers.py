"""Hand-made daily data for the forecast tests."""

import numpy as np
import pandas as pd

from backend.forecast.features import DailyData


def make_daily(
    values_kw: np.ndarray,
    start: str = "2024-01-01",
    covariates: np.ndarray | None = None,
    covariate_names: list[str] | None = None,
    name: str = "home",
) -> DailyData:
    """Wrap a ``[days, 24]`` array as DailyData starting at ``start``."""
    values_kw = np.asarray(values_kw, dtype=float)
    dates = pd.date_range(start, periods=len(values_kw), freq="D")
    if covariates is None:
        covariates = np.zeros(values_kw.shape + (0,))
    return DailyData(name, dates, values_kw, covariates, covariate_names or [])


def day_numbers(days: int) -> np.ndarray:
    """Value = day * 100 + hour, so every hour is identifiable."""
    return np.arange(days)[:, None] * 100.0 + np.arange(24)[None, :]
