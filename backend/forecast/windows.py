"""Window geometry: issue-day samples from daily arrays, normalisation, and ``tf.data`` datasets.

A sample is issued at local 00:00 of day ``i``. It sees ``lookback_days`` of
history (days ``i - lookback .. i - 1``) and predicts ``horizon_days`` of
hourly values (days ``i .. i + horizon - 1``).
"""

import json
from dataclasses import asdict, dataclass

import numpy as np

from backend.forecast.data import HOURS_PER_DAY
from backend.forecast.features import CALENDAR_NAMES, DailyData, calendar_features

# Clear-sky GHI below this (in kW/m²) makes a clear-sky index meaningless.
_MIN_CLEAR_SKY = 0.05
_MAX_CLEAR_SKY_INDEX = 1.5
# Weather performance persistence: the last 24 h's output per unit of forecast GHI.
# Below this much forecast irradiation (kWh/m² over 24 h) the ratio is noise, so it is damped.
_MIN_DAY_IRRADIATION = 0.5
_MAX_PERFORMANCE_RATIO = 2.0


@dataclass
class WindowArrays:
    """Model-ready arrays: history ``[n, L*24, fh]``, future ``[n, H*24, ff]``, target ``[n, H*24]`` (scaled)."""

    history: np.ndarray
    future: np.ndarray
    target: np.ndarray
    scale_kw: np.ndarray  # [n]: multiply a scaled value by this to get kW
    issue_days: np.ndarray  # [n] local dates (datetime64[D])

    def __len__(self) -> int:
        return len(self.target)

    @staticmethod
    def concatenate(parts: list["WindowArrays"]) -> "WindowArrays":
        """Stack the samples of several series (a global model across households)."""
        return WindowArrays(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("history", "future", "target", "scale_kw", "issue_days")
            )
        )


@dataclass
class Normalizer:
    """Per-channel mean and std of the history and future features, from training samples only."""

    history_mean: np.ndarray
    history_std: np.ndarray
    future_mean: np.ndarray
    future_std: np.ndarray

    @classmethod
    def fit(cls, arrays: WindowArrays) -> "Normalizer":
        """Compute the statistics over the given (training) samples."""

        def stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            flat = values.reshape(-1, values.shape[-1])
            return flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-6)

        history_mean, history_std = stats(arrays.history)
        future_mean, future_std = stats(arrays.future)
        return cls(history_mean, history_std, future_mean, future_std)

    def apply(self, arrays: WindowArrays) -> tuple[np.ndarray, np.ndarray]:
        """Return the network inputs: standardised ``history`` and ``future``, float32."""
        history = (arrays.history - self.history_mean) / self.history_std
        future = (arrays.future - self.future_mean) / self.future_std
        return history.astype("float32"), future.astype("float32")

    def to_json(self) -> str:
        """Serialise to JSON."""
        return json.dumps({k: np.asarray(v).tolist() for k, v in asdict(self).items()})

    @classmethod
    def from_json(cls, text: str) -> "Normalizer":
        """Deserialise from :meth:`to_json`."""
        return cls(**{k: np.asarray(v, dtype="float64") for k, v in json.loads(text).items()})


@dataclass
class WindowGenerator:
    """Own the window geometry and turn :class:`DailyData` into samples and datasets.

    Samples are addressed by their issue hour ``T`` (hours since the first
    local midnight of the series); day-ahead evaluation issues at ``T = 24 * i``.
    Training may issue at every ``stride_hours`` to see more (overlapping) windows.
    """

    lookback_days: int = 7
    horizon_days: int = 1
    clear_sky_lag: bool = False  # PV: add clear-sky-index persistence as a future feature

    def __post_init__(self) -> None:
        if not 1 <= self.horizon_days <= 7:
            raise ValueError("horizon_days must be 1..7 (weekly lags must be observed)")
        if self.lookback_days < 7:
            raise ValueError("lookback_days must be at least 7 (the 7-day features need them)")

    @property
    def input_hours(self) -> int:
        """Hours of history each sample sees."""
        return self.lookback_days * HOURS_PER_DAY

    @property
    def horizon_hours(self) -> int:
        """Hours each sample predicts."""
        return self.horizon_days * HOURS_PER_DAY

    def history_feature_names(self, daily: DailyData) -> list[str]:
        """Names of the history channels, in order."""
        return ["value"] + CALENDAR_NAMES + daily.covariate_names

    def future_feature_names(self, daily: DailyData) -> list[str]:
        """Names of the future channels, in order."""
        names = CALENDAR_NAMES + daily.covariate_names + ["lag_last_day", "lag_same_weekday", "mean_last_7_days"]
        if self.clear_sky_lag:
            names.append("clear_sky_index_persistence")
            if "ghi" in daily.covariate_names:
                names.append("weather_performance_persistence")
        return names

    def issue_hours(
        self,
        daily: DailyData,
        first: int = 0,
        last: int | None = None,
        target_end: int | None = None,
        stride_hours: int = HOURS_PER_DAY,
    ) -> np.ndarray:
        """Issue hours from day ``first`` up to (not including) day ``last``, every ``stride_hours``.

        A sample counts when every hour of its history and horizon is valid and
        (with ``target_end``) its horizon ends before day ``target_end``.
        """
        days = len(daily.dates)
        last = days if last is None else min(last, days)
        target_end = days if target_end is None else min(target_end, days)
        valid = np.isfinite(daily.target_kw).ravel()
        if daily.covariates.shape[-1]:
            valid &= np.isfinite(daily.covariates).all(axis=2).ravel()
        start = max(first * HOURS_PER_DAY, self.input_hours)
        candidates = np.arange(start, last * HOURS_PER_DAY, stride_hours)
        candidates = candidates[candidates + self.horizon_hours <= target_end * HOURS_PER_DAY]
        if len(candidates) == 0:
            return candidates
        # invalid_before[k] = number of invalid hours in [0, k)
        invalid_before = np.concatenate([[0], np.cumsum(~valid)])
        span_invalid = invalid_before[candidates + self.horizon_hours] - invalid_before[candidates - self.input_hours]
        return candidates[span_invalid == 0]

    def issue_days(
        self, daily: DailyData, first: int = 0, last: int | None = None, target_end: int | None = None
    ) -> np.ndarray:
        """Day indices ``i`` (issue at local 00:00) in ``[first, last)`` whose window is complete."""
        return self.issue_hours(daily, first, last, target_end) // HOURS_PER_DAY

    def make_arrays(self, daily: DailyData, issue_days: np.ndarray, scale_kw: float) -> WindowArrays:
        """Build the samples issued at 00:00 of ``issue_days`` with values divided by ``scale_kw``."""
        return self.make_hourly_arrays(daily, np.asarray(issue_days, dtype=int) * HOURS_PER_DAY, scale_kw)

    def make_hourly_arrays(self, daily: DailyData, issue_hours: np.ndarray, scale_kw: float) -> WindowArrays:
        """Build the samples issued at ``issue_hours`` with values divided by ``scale_kw``."""
        issue_hours = np.asarray(issue_hours, dtype=int)
        scaled = daily.target_kw.ravel() / scale_kw
        covariates = daily.covariates.reshape(len(scaled), -1)
        calendar = calendar_features(daily.dates).reshape(len(scaled), -1)
        past = issue_hours[:, None] + np.arange(-self.input_hours, 0)[None, :]  # [n, L*24]
        steps = np.arange(self.horizon_hours)
        ahead = issue_hours[:, None] + steps[None, :]  # [n, H*24]
        # The latest observed value at the same hour of day, and the 7 before it.
        days_back = steps // HOURS_PER_DAY + 1
        same_hour = [ahead - HOURS_PER_DAY * (days_back + k)[None, :] for k in range(7)]
        history = np.concatenate([scaled[past][..., None], calendar[past], covariates[past]], axis=-1)
        lags = [
            scaled[same_hour[0]],
            scaled[ahead - 7 * HOURS_PER_DAY],
            np.mean([scaled[index] for index in same_hour], axis=0),
        ]
        if self.clear_sky_lag:
            clear_past = covariates[same_hour[0], 0]
            clear_ahead = covariates[ahead, 0]
            index = np.where(
                clear_past > _MIN_CLEAR_SKY, scaled[same_hour[0]] / np.maximum(clear_past, _MIN_CLEAR_SKY), 0.0
            )
            index = np.clip(index, 0.0, _MAX_CLEAR_SKY_INDEX)
            lags.append(np.where(clear_ahead > 0, index * clear_ahead, 0.0))
            if "ghi" in daily.covariate_names:
                lags.append(
                    self._performance_persistence(
                        scaled, covariates[:, daily.covariate_names.index("ghi")], issue_hours, ahead
                    )
                )
        future = np.concatenate([calendar[ahead], covariates[ahead], np.stack(lags, axis=-1)], axis=-1)
        issue_dates = daily.dates.values[issue_hours // HOURS_PER_DAY].astype("datetime64[D]")
        return WindowArrays(
            history, future, scaled[ahead], np.full(len(issue_hours), scale_kw, dtype="float64"), issue_dates
        )

    @staticmethod
    def _performance_persistence(
        scaled: np.ndarray, ghi: np.ndarray, issue_hours: np.ndarray, ahead: np.ndarray
    ) -> np.ndarray:
        """Forecast GHI ahead times the last 24 h's output per unit of GHI (PV with a weather forecast).

        Snow on the panels, soiling or an outage keep output low under a clear
        sky, and they last for days: the ratio carries that state forward,
        which no per-hour weather feature can.
        """
        last_day = issue_hours[:, None] + np.arange(-HOURS_PER_DAY, 0)[None, :]
        produced = scaled[last_day].sum(axis=1)
        irradiation = ghi[last_day].sum(axis=1)
        ratio = np.clip(produced / np.maximum(irradiation, _MIN_DAY_IRRADIATION), 0.0, _MAX_PERFORMANCE_RATIO)
        return ratio[:, None] * ghi[ahead]

    def make_dataset(
        self, arrays: WindowArrays, normalizer: Normalizer, batch_size: int = 32, shuffle: bool = False, seed: int = 0
    ):
        """Return a batched ``tf.data.Dataset`` of ``((history, future), target)``."""
        import tensorflow as tf

        inputs = normalizer.apply(arrays)
        dataset = tf.data.Dataset.from_tensor_slices((inputs, arrays.target.astype("float32")))
        if shuffle:
            dataset = dataset.shuffle(len(arrays), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
