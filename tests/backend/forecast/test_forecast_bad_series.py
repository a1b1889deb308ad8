"""Bad series files: one clear line and exit code 1 from the command line, never a traceback. No TensorFlow."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from backend.forecast.cli import forecast, site_from_options, train
from backend.forecast.data import SeriesError, read_series_file


def _good_frame(days: int = 40) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=days * 24, freq="1h")
    values = 0.5 + 0.3 * np.sin(np.arange(len(index)) * 2 * np.pi / 24)
    return pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "kW": values})


def _write(tmp_path, frame: pd.DataFrame, name: str = "series.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _evaluate(path: str, *extra: str):
    args = [
        "evaluate",
        "--kind",
        "load",
        "--series",
        path,
        "--train-until",
        "2024-01-31",
        "--test-from",
        "2024-02-01",
        "--horizon",
        "24",
        *extra,
    ]
    return CliRunner().invoke(forecast, args)


def _bad_files(tmp_path):
    good = _good_frame()
    missing = good.rename(columns={"kW": "power"})
    all_nan = good.assign(kW=np.nan)
    few_days = _good_frame(days=10)
    text = good.astype({"kW": object})
    text.loc[30, "kW"] = "1,5"
    zone = good.copy()
    zone.loc[12, "timestamp"] = "2024-01-01T12:00:00 Mars/Olympus"
    duplicate = pd.concat([good.iloc[:100], good.iloc[[99]].assign(kW=9.0), good.iloc[100:]])
    return {
        "missing column 'kW'": missing,
        "every kW value is missing": all_nan,
        "only 10 complete days": few_days,
        "kW values are not numbers, the first '1,5' in data row 31": text,
        "cannot read timestamp '2024-01-01T12:00:00 Mars/Olympus' in data row 13": zone,
        "1 repeated timestamps, the first 2024-01-05T03:00:00+00:00": duplicate,
    }


@pytest.mark.parametrize("case", list(range(6)))
def test_evaluate_refuses_a_bad_series_in_one_line(tmp_path, case):
    message, frame = list(_bad_files(tmp_path).items())[case]
    result = _evaluate(_write(tmp_path, frame))
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def test_train_csv_refuses_a_bad_series_in_one_line(tmp_path):
    path = _write(tmp_path, _good_frame().assign(kW=np.nan))
    result = CliRunner().invoke(train, ["--kind", "load", "--source", "csv", path])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: series.csv: every kW value is missing (NaN)"


def test_a_good_file_passes_and_offsets_are_honoured(tmp_path):
    frame = _good_frame(3)
    frame["timestamp"] = pd.date_range("2024-01-01", periods=72, freq="1h", tz="Europe/Madrid").strftime(
        "%Y-%m-%dT%H:%M:%S%z"
    )
    frame.loc[5, "kW"] = np.nan
    series = read_series_file(_write(tmp_path, frame))
    assert str(series.index[0]) == "2023-12-31 23:00:00+00:00"
    assert np.isnan(series.iloc[5]) and series.notna().sum() == 71


def test_duplicates_are_an_error_not_a_silent_choice(tmp_path):
    frame = pd.DataFrame(
        {"timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T01:00:00Z"], "kW": [1.0, 2.0, 3.0]}
    )
    with pytest.raises(SeriesError, match="repeated timestamps"):
        read_series_file(_write(tmp_path, frame))


def test_latitude_without_altitude_is_looked_up_not_zero():
    notes = []
    site = site_from_options("x", 39.742, -105.1727, None, notes.append)
    assert site.altitude_m > 1500 and "pvlib" in notes[0]
    assert site_from_options("x", 39.742, -105.1727, 12.5).altitude_m == 12.5
    assert site_from_options("x", None, None, None) is None


def test_evaluate_wants_both_coordinates_and_a_real_place(tmp_path):
    path = _write(tmp_path, _good_frame())
    args = ["evaluate", "--kind", "pv", "--series", path, "--train-until", "2024-01-31", "--test-from", "2024-02-01"]
    result = CliRunner().invoke(forecast, [*args, "--latitude", "40"])
    assert result.exit_code == 2 and "both --latitude and --longitude" in result.output
    result = CliRunner().invoke(forecast, [*args, "--latitude", "140", "--longitude", "3"])
    assert result.exit_code == 2 and "no such place" in result.output


def test_evaluate_wants_a_series_or_a_suite_not_both(tmp_path):
    path = _write(tmp_path, _good_frame())
    result = CliRunner().invoke(forecast, ["evaluate", "--suite", "heldout", "--series", path])
    assert result.exit_code == 2 and "--suite runs its own series" in result.output
    result = CliRunner().invoke(forecast, ["evaluate", "--kind", "load", "--series", path])
    assert result.exit_code == 2 and "--train-until and --test-from" in result.output
    result = CliRunner().invoke(forecast, ["evaluate"])
    assert result.exit_code == 2 and "--suite" in result.output
