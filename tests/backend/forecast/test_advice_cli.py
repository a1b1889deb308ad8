"""`vatio forecast advice --alpha`: the household's shortfall rate sets the cautious quantities (no TensorFlow)."""

import json
import re

from click.testing import CliRunner

from backend.forecast.cli import forecast


def _run_file(tmp_path):
    load = {"p10": [0.2] * 24, "p50": [0.3] * 24, "p90": [0.5] * 24, "point": [0.3] * 24}
    sun = [0.0] * 8 + [2.0] * 8 + [0.0] * 8
    pv = {"p10": [v * 0.5 for v in sun], "p50": sun, "p90": [v * 1.2 for v in sun], "point": sun}
    document = {
        "issued_at": "2026-06-01T00:00:00+00:00",
        "records": [
            {"household": "home", "kind": "load", "model": "load-24h", "horizon_hours": 24, **load},
            {"household": "home", "kind": "pv", "model": "pv-24h", "horizon_hours": 24, **pv},
        ],
    }
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(document))
    return path


def _cautious_sell(output: str) -> int:
    return int(re.search(r"sell .* \(cautious (\d+) Wh", output).group(1))


def test_advice_alpha_sets_the_cautious_sell_quantity(tmp_path):
    path = str(_run_file(tmp_path))
    runner = CliRunner()
    default = runner.invoke(forecast, ["advice", "--household", "home", "--forecasts", path])
    assert default.exit_code == 0, default.output
    # P10 production 1000 Wh minus P90 consumption 500 Wh over 8 sunny hours.
    assert _cautious_sell(default.output) == 8 * (1000 - 500)
    cautious = runner.invoke(forecast, ["advice", "--household", "home", "--forecasts", path, "--alpha", "0.02"])
    bold = runner.invoke(forecast, ["advice", "--household", "home", "--forecasts", path, "--alpha", "0.3"])
    assert _cautious_sell(cautious.output) < 4000 < _cautious_sell(bold.output)
    assert "shortfall rate 2%" in cautious.output


def test_advice_refuses_a_shortfall_rate_outside_0_to_half(tmp_path):
    result = CliRunner().invoke(
        forecast, ["advice", "--household", "home", "--forecasts", str(_run_file(tmp_path)), "--alpha", "0.7"]
    )
    assert result.exit_code == 2 and "--alpha" in result.output


def test_advice_prints_what_each_suggestion_is_worth(tmp_path):
    result = CliRunner().invoke(
        forecast,
        [
            "advice",
            "--household",
            "home",
            "--forecasts",
            str(_run_file(tmp_path)),
            "--feed-in",
            "50000",
            "--retail",
            "200000",
        ],
    )
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("sell"))
    price = int(re.search(r"sell (\d+)", result.output.split("limit price hint:")[1]).group(1))
    # 4000 Wh cautious at (limit - feed-in) per kWh, in EUR (1 EUR = 1,000,000 base units).
    assert f"worth {4000 * (price - 50000) / 1000 / 1e6:.2f} EUR" in line
