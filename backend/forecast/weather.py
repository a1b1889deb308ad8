"""Hourly weather forecasts (GHI, air temperature, cloud cover) in the Open-Meteo API's format, cached.

The client asks ``GET {base_url}/v1/forecast`` with ``latitude``,
``longitude``, ``hourly=shortwave_radiation,temperature_2m,cloud_cover``,
``timezone=UTC`` and ``forecast_days``, as the Open-Meteo documentation
describes, and reads the answer's ``hourly`` arrays. Open-Meteo's
``shortwave_radiation`` at time T is the mean over the hour *ending* at T,
so the value stamped T belongs to the hour starting at T − 1 h (this
package labels hours by their start); temperature and cloud cover are
instantaneous at T and are given to the same hour, whose end they mark.

Answers are cached per site in a JSON file for ``ttl_s`` (default one hour),
so an hourly forecast run asks once an hour at most. The offline stand-in,
:func:`recorded_forecast_document`, writes the same format from the NSRDB
weather shipped with pvanalytics (a perfect forecast of a past day, for the
demo and tests); :class:`OpenMeteoClient` reads it through the same parser.
Nothing here imports TensorFlow.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_BASE_URL = "https://api.open-meteo.com"
HOURLY = ("shortwave_radiation", "temperature_2m", "cloud_cover")
COLUMNS = {"shortwave_radiation": "ghi_w_m2", "temperature_2m": "temp_air_c", "cloud_cover": "cloud_cover_pct"}


class WeatherError(RuntimeError):
    """The weather forecast could not be had or read; the message is one line."""


def parse_open_meteo(document: dict) -> pd.DataFrame:
    """An Open-Meteo forecast answer as hourly columns ``ghi_w_m2``, ``temp_air_c``, ``cloud_cover_pct``.

    The index is the UTC start of each hour (see the module docstring).
    """
    if document.get("error"):
        raise WeatherError(f"weather service refused the request: {document.get('reason', 'no reason given')}")
    hourly = document.get("hourly")
    if not isinstance(hourly, dict) or "time" not in hourly:
        raise WeatherError("weather answer has no hourly data")
    missing = [name for name in HOURLY if name not in hourly]
    if missing:
        raise WeatherError(f"weather answer lacks {', '.join(missing)}")
    offset = int(document.get("utc_offset_seconds", 0))
    ends = pd.DatetimeIndex(pd.to_datetime(hourly["time"])) - pd.Timedelta(seconds=offset)
    starts = ends.tz_localize("UTC") - pd.Timedelta(hours=1)
    frame = pd.DataFrame({COLUMNS[name]: np.asarray(hourly[name], dtype="float64") for name in HOURLY}, index=starts)
    frame.index.name = "timestamp"
    if (len(frame) and frame.index.duplicated().any()) or not frame.index.is_monotonic_increasing:
        raise WeatherError("weather answer's hours are not in order")
    return frame


@dataclass
class OpenMeteoClient:
    """One community's weather forecast: its site, the service and a cache file."""

    latitude: float
    longitude: float
    cache_dir: str | Path
    base_url: str = DEFAULT_BASE_URL
    forecast_days: int = 2
    ttl_s: float = 3600.0
    timeout_s: float = 10.0

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) / f"open-meteo-{self.latitude:.4f}-{self.longitude:.4f}.json"

    def params(self) -> dict:
        return {
            "latitude": self.latitude,
            "longitude": self.longitude,
            "hourly": ",".join(HOURLY),
            "timezone": "UTC",
            "forecast_days": self.forecast_days,
        }

    def document(self, now: float | None = None) -> dict:
        """The cached answer while younger than ``ttl_s``, else a fresh one (then cached)."""
        now = time.time() if now is None else now
        path = self.cache_path
        if path.is_file():
            cached = json.loads(path.read_text())
            if now - cached.get("fetched_at", 0) < self.ttl_s:
                return cached["document"]
        import requests

        url = self.base_url.rstrip("/") + "/v1/forecast"
        try:
            response = requests.get(url, params=self.params(), timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise WeatherError(f"cannot reach the weather service at {url}: {type(exc).__name__}") from exc
        try:
            document = response.json()
        except ValueError as exc:
            raise WeatherError(f"weather service answered {response.status_code} without JSON") from exc
        if response.status_code != 200 or document.get("error"):
            raise WeatherError(
                f"weather service answered {response.status_code}: {document.get('reason', 'no reason given')}"
            )
        parse_open_meteo(document)  # refuse a malformed answer before caching it
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fetched_at": now, "params": self.params(), "document": document}))
        return document

    def forecast(self, now: float | None = None) -> pd.DataFrame:
        """Hourly GHI (W/m²), air temperature (°C) and cloud cover (%) from now on, UTC hour starts."""
        return parse_open_meteo(self.document(now))


def recorded_forecast_document(start: str | pd.Timestamp, days: int = 2) -> dict:
    """An Open-Meteo-format answer for ``days`` from ``start`` (UTC) made of PVDAQ 50's shipped NSRDB weather.

    The offline stand-in of a forecast (a perfect one: it is the weather that
    happened), for the demo and tests. Cloud cover is not in NSRDB; it is
    estimated as ``100 × (1 − GHI / clear-sky GHI)`` in daylight, clipped to
    0–100, and NaN at night.
    """
    from backend.forecast.data import load_dataset_weather

    weather = load_dataset_weather()
    start = pd.Timestamp(start)
    start = (start.tz_localize("UTC") if start.tz is None else start.tz_convert("UTC")).floor("1h")
    hours = pd.date_range(start, periods=days * 24, freq="1h")
    rows = weather.reindex(hours)
    if rows["ghi_w_m2"].isna().all():
        raise WeatherError(f"no recorded weather from {start:%Y-%m-%d}; the NSRDB file covers 2011-2013")
    clear = rows["ghi_clear_w_m2"].to_numpy()
    cloud = np.where(
        clear > 10, np.clip(100 * (1 - rows["ghi_w_m2"].to_numpy() / np.maximum(clear, 1)), 0, 100), np.nan
    )
    ends = hours + pd.Timedelta(hours=1)

    def values(array):
        return [None if not np.isfinite(v) else round(float(v), 2) for v in array]

    return {
        "latitude": 39.742,
        "longitude": -105.1727,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "hourly_units": {"time": "iso8601", "shortwave_radiation": "W/m²", "temperature_2m": "°C", "cloud_cover": "%"},
        "hourly": {
            "time": [f"{t:%Y-%m-%dT%H:%M}" for t in ends.tz_localize(None)],
            "shortwave_radiation": values(rows["ghi_w_m2"].to_numpy()),
            "temperature_2m": values(rows["temp_air_c"].to_numpy()),
            "cloud_cover": values(cloud),
        },
        "source": "recorded: NSRDB PSM3 weather of PVDAQ 50 (pvanalytics), as a perfect forecast",
    }
