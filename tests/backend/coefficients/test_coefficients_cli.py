"""`vatio coefficients plan/export/validate` through the real command line (click's runner)."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from backend.cli import main
from backend.coefficients.cups import make_cups
from backend.coefficients.distributor_file import import_file

MEMBERS = [make_cups(31, n) for n in (1, 2, 3)]
CAU = MEMBERS[0] + "A001"


def write_members(path, static=("0.500000", "0.300000", "0.200000")):
    rows = ["cups,min_share,max_share,static_share,contracted_kw"]
    rows += [f"{c},0.050000,0.800000,{s},4.6" for c, s in zip(MEMBERS, static, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def write_forecasts(path, start="2024-03-01", months=1):
    first = pd.Timestamp(start, tz="Europe/Madrid").tz_convert("UTC")
    last = (pd.Timestamp(start, tz="Europe/Madrid") + pd.DateOffset(months=months)).tz_convert("UTC")
    hours = pd.date_range(first, last, freq="h", inclusive="left")
    local_hour = hours.tz_convert("Europe/Madrid").hour.to_numpy()
    sun = np.clip(np.sin((local_hour - 7) / 12 * np.pi), 0, None)
    rows = []
    for hour, h, s in zip(hours, local_hour, sun, strict=True):
        stamp = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append((stamp, "installation", 0, round(6000 * s), 0))
        for number, cups in enumerate(MEMBERS):
            use = 300 + 700 * (number == 0 and 9 <= h < 15)  # the first member works from home at midday
            rows.append((stamp, cups, use // 2, use, use * 2))
    frame = pd.DataFrame(rows, columns=["hour_start_utc", "cups", "p10_wh", "p50_wh", "p90_wh"])
    frame.to_csv(path, index=False)
    return path, len(hours)


def test_plan_export_and_validate_round_trip(tmp_path):
    runner = CliRunner()
    members = write_members(tmp_path / "members.csv")
    forecasts, n_hours = write_forecasts(tmp_path / "forecasts.csv")
    planned = tmp_path / "plan.csv"
    result = runner.invoke(
        main,
        [
            "coefficients",
            "plan",
            "--from",
            "2024-03-01",
            "--months",
            "1",
            "--members",
            str(members),
            "--forecasts",
            str(forecasts),
            "--band",
            "0.1",
            "--out",
            str(planned),
        ],
    )
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(planned)
    assert len(plan) == 3 * n_hours == 3 * (31 * 24 - 1)  # March 2024 loses an hour to summer time
    sums = plan.groupby("hour_start_utc")["coefficient"].sum()
    assert np.allclose(sums, 1.0, atol=1e-9)
    assert plan["coefficient"].between(0.05, 0.8).all()

    result = runner.invoke(
        main,
        [
            "coefficients",
            "export",
            "--plan",
            str(planned),
            "--members",
            str(members),
            "--cau",
            CAU,
            "--year",
            "2024",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    exported = tmp_path / f"{CAU}_2024.txt"
    checked = import_file(exported, MEMBERS)
    assert checked.coefficients_micro.shape == (8784, 3)
    assert checked.coefficients_micro[0].tolist() == [500_000, 300_000, 200_000]  # January: static shares
    noon = pd.Timestamp("2024-03-12 11:00", tz="UTC")
    row = plan[plan["hour_start_utc"] == noon.strftime("%Y-%m-%dT%H:%M:%SZ")]
    hour = int((noon - pd.Timestamp("2023-12-31 23:00", tz="UTC")) / pd.Timedelta(hours=1))
    assert checked.coefficients_micro[hour].tolist() == [round(c * 1e6) for c in row["coefficient"]]

    result = runner.invoke(main, ["coefficients", "validate", str(exported), "--members", str(members)])
    assert result.exit_code == 0 and "valid, 3 supply points x 8784 hours of 2024" in result.output


def test_validate_names_the_problems_and_fails(tmp_path):
    members = write_members(tmp_path / "members.csv")
    bad = tmp_path / f"{CAU}_2023.txt"
    bad.write_text(f"{MEMBERS[0]};1;0.600000\n{MEMBERS[1]};1;0.300000\n")
    result = CliRunner().invoke(main, ["coefficients", "validate", str(bad), "--members", str(members)])
    assert result.exit_code == 1
    assert "hour 1: the coefficients sum to 0.900000, not 1" in result.output
    assert f"member {MEMBERS[2]} has no coefficients" in result.output
    assert f"{MEMBERS[0]}: 8759 hour(s) missing: 2-8760" in result.output


def test_a_members_file_with_static_shares_not_summing_to_one_is_refused(tmp_path):
    members = write_members(tmp_path / "members.csv", static=("0.500000", "0.300000", "0.100000"))
    forecasts, _ = write_forecasts(tmp_path / "forecasts.csv")
    result = CliRunner().invoke(
        main,
        [
            "coefficients",
            "plan",
            "--from",
            "2024-03-01",
            "--months",
            "1",
            "--members",
            str(members),
            "--forecasts",
            str(forecasts),
            "--out",
            str(tmp_path / "plan.csv"),
        ],
    )
    assert result.exit_code == 1 and "the static shares sum to 0.9, not 1" in result.output


@pytest.mark.slow  # simulates a community and plans it three times (about 4 s)
def test_compare_plans_around_each_static_rule_it_is_given():
    runner = CliRunner()
    args = ["coefficients", "compare", "--members", "4", "--days", "3", "--start", "2023-06-01"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    names = {line.split(" | ")[0] for line in result.output.splitlines()[1:]}
    assert {"static-equal", "static-power", "planned-scenarios", "planned-scenarios-around-power"} <= names

    only_equal = runner.invoke(main, [*args, "--anchor", "equal"])
    assert only_equal.exit_code == 0, only_equal.output
    assert "around-power" not in only_equal.output
    refused = runner.invoke(main, [*args, "--anchor", "investment"])
    assert refused.exit_code == 2 and "investment" in refused.output
