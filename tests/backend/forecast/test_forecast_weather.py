"""The Open-Meteo-format weather client against a local server replaying recorded answers. No internet, no TF."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from backend.forecast.weather import (
    OpenMeteoClient,
    WeatherError,
    parse_open_meteo,
    recorded_forecast_document,
)

# Written from the Open-Meteo forecast API documentation's example answer (hourly variables, timezone UTC).
ANSWER = {
    "latitude": 40.42,
    "longitude": -3.7,
    "generationtime_ms": 0.2,
    "utc_offset_seconds": 0,
    "timezone": "GMT",
    "timezone_abbreviation": "GMT",
    "elevation": 651.0,
    "hourly_units": {"time": "iso8601", "shortwave_radiation": "W/m²", "temperature_2m": "°C", "cloud_cover": "%"},
    "hourly": {
        "time": ["2026-06-01T00:00", "2026-06-01T01:00", "2026-06-01T02:00", "2026-06-01T03:00"],
        "shortwave_radiation": [0.0, 0.0, 12.5, 140.0],
        "temperature_2m": [18.2, 17.9, 17.5, 17.8],
        "cloud_cover": [100, 90, None, 20],
    },
}
REFUSAL = {"error": True, "reason": "Latitude must be in range of -90 to 90°. Given: 140.0."}


@pytest.fixture
def server():
    state = {"requests": [], "status": 200, "body": ANSWER}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["requests"].append(urlparse(self.path))
            body = json.dumps(state["body"]).encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_the_client_asks_the_documented_request_and_reads_hour_starts(server, tmp_path):
    client = OpenMeteoClient(40.42, -3.7, tmp_path, base_url=server["url"])
    frame = client.forecast(now=1_000.0)
    request = server["requests"][0]
    assert request.path == "/v1/forecast"
    query = parse_qs(request.query)
    assert query["hourly"] == ["shortwave_radiation,temperature_2m,cloud_cover"]
    assert query["timezone"] == ["UTC"] and query["latitude"] == ["40.42"] and query["longitude"] == ["-3.7"]
    # The radiation stamped 03:00 is the mean of 02:00-03:00, so it belongs to the hour starting 02:00.
    assert frame.index[0] == pd.Timestamp("2026-05-31T23:00", tz="UTC")
    assert frame.loc[pd.Timestamp("2026-06-01T02:00", tz="UTC"), "ghi_w_m2"] == 140.0
    assert list(frame.columns) == ["ghi_w_m2", "temp_air_c", "cloud_cover_pct"]
    assert np.isnan(frame["cloud_cover_pct"].iloc[2])


def test_answers_are_cached_per_site_for_the_ttl(server, tmp_path):
    client = OpenMeteoClient(40.42, -3.7, tmp_path, base_url=server["url"], ttl_s=3600)
    client.forecast(now=1_000.0)
    client.forecast(now=1_000.0 + 3599)
    assert len(server["requests"]) == 1
    client.forecast(now=1_000.0 + 3601)
    assert len(server["requests"]) == 2
    OpenMeteoClient(41.0, -3.7, tmp_path, base_url=server["url"]).forecast(now=1_000.0)
    assert len(server["requests"]) == 3


def test_a_refusal_is_one_clear_error_and_not_cached(server, tmp_path):
    server["status"], server["body"] = 400, REFUSAL
    client = OpenMeteoClient(140.0, -3.7, tmp_path, base_url=server["url"])
    with pytest.raises(WeatherError, match="answered 400: Latitude must be in range"):
        client.forecast()
    assert not client.cache_path.exists()


def test_an_unreachable_service_is_a_weather_error(tmp_path):
    client = OpenMeteoClient(40.42, -3.7, tmp_path, base_url="http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(WeatherError, match="cannot reach"):
        client.forecast()


def test_a_malformed_answer_is_refused():
    with pytest.raises(WeatherError, match="lacks cloud_cover"):
        parse_open_meteo({"hourly": {"time": ["2026-06-01T00:00"], "shortwave_radiation": [0], "temperature_2m": [1]}})


def test_the_recorded_forecast_is_the_shipped_nsrdb_weather_in_the_same_format(server, tmp_path):
    from backend.forecast.data import load_dataset_weather

    document = recorded_forecast_document("2012-06-10", days=2)
    server["body"] = document
    frame = OpenMeteoClient(39.742, -105.1727, tmp_path, base_url=server["url"]).forecast()
    weather = load_dataset_weather().reindex(frame.index)
    assert len(frame) == 48 and frame.index[0] == pd.Timestamp("2012-06-10", tz="UTC")
    np.testing.assert_allclose(frame["ghi_w_m2"], weather["ghi_w_m2"], atol=0.01)
    assert frame["ghi_w_m2"].max() > 500
    with pytest.raises(WeatherError, match="covers 2011-2013"):
        recorded_forecast_document("2020-01-01")
