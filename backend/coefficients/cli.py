"""`vatio coefficients`: plan hourly sharing coefficients, write the distributor's file, check one, compare."""

from __future__ import annotations

import csv
from pathlib import Path

import click
import numpy as np
import pandas as pd

USES = ("scenarios", "p50", "p10")
# The flat tariff of `vatio deploy` (CommunitySettings' defaults), payment units per kWh.
RETAIL_PRICE = 200_000
COMPENSATION_PRICE = 50_000


def price_options(function):
    function = click.option(
        "--retail-price",
        default=RETAIL_PRICE,
        show_default=True,
        help="Grid import price, payment units (6 decimals) per kWh.",
    )(function)
    return click.option(
        "--compensation-price", default=COMPENSATION_PRICE, show_default=True, help="What a kWh sent to the grid earns."
    )(function)


FILE_SCENARIO_WEIGHTS = (0.2, 0.6, 0.2)  # P10, P50, P90 standing for the bands 0-20 %, 20-80 %, 80-100 %


@click.group()
def coefficients() -> None:
    """Hourly sharing coefficients of a shared installation (autoconsumo colectivo; docs/coefficients.md)."""


def _members(path: Path | None):
    """The members file's members, or None without one."""
    from backend.coefficients.members import MembersFileError, read_members

    if path is None:
        return None
    try:
        return read_members(path)
    except MembersFileError as error:
        raise click.ClickException(str(error)) from error


def _read_forecasts(path: Path, members: list[str]):
    """hour_start_utc,cups,p10_wh,p50_wh,p90_wh; the rows of cups `installation` are the production."""
    frame = pd.read_csv(path)
    missing = {"hour_start_utc", "cups", "p10_wh", "p50_wh", "p90_wh"} - set(frame.columns)
    if missing:
        raise click.ClickException(f"{path.name}: missing columns {sorted(missing)}")
    frame["hour_start_utc"] = pd.to_datetime(frame["hour_start_utc"], utc=True)
    table = frame.pivot_table(index="hour_start_utc", columns="cups", values=["p10_wh", "p50_wh", "p90_wh"])
    named = set(frame["cups"])
    unknown, missing = named - set(members) - {"installation"}, ({"installation", *members} - named)
    if unknown or missing:
        raise click.ClickException(
            f"{path.name}: the forecasts must name exactly the members and `installation` "
            f"(unknown: {sorted(unknown)}, missing: {sorted(missing)})"
        )
    if table.isna().any().any():
        raise click.ClickException(f"{path.name}: some member lacks a forecast for some hour")
    scenarios = np.stack([table[q][members].to_numpy() for q in ("p10_wh", "p50_wh", "p90_wh")])
    return table.index, scenarios, table["p50_wh"]["installation"].to_numpy()


@coefficients.command("plan")
@click.option("--from", "start", required=True, help="First day of the period (local date, YYYY-MM-DD).")
@click.option("--months", default=4, show_default=True)
@click.option(
    "--members",
    "members_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV: cups,min_share,max_share,static_share,contracted_kw. Default: 20 simulated members.",
)
@click.option(
    "--forecasts",
    "forecasts_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV: hour_start_utc,cups,p10_wh,p50_wh,p90_wh (cups `installation` = production). Default: "
    "typical-day forecasts from 4 weeks of simulated profiles before --from, clear-sky production.",
)
@click.option("--kwp", default=None, type=float, help="Simulated installation size (default 1.5 kWp per member).")
@click.option(
    "--band", default=None, type=float, help="Fairness: each member's share of the period within static ± band."
)
@click.option(
    "--use",
    type=click.Choice(USES),
    default="scenarios",
    show_default=True,
    help="Plan on the forecast's scenarios (expected self-consumption), its P50, or its P10 (conservative).",
)
@click.option("--seed", default=1, show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("coefficients-plan.csv"), show_default=True
)
@price_options
def plan_command(
    start, months, members_file, forecasts_file, kwp, band, use, seed, out, retail_price, compensation_price
):
    """Plan hourly coefficients for a period from forecasts (HiGHS LP), written as hour_start_utc,cups,coefficient."""
    from backend.coefficients.community import simulate_shared_community
    from backend.coefficients.members import member_terms
    from backend.coefficients.planner import plan
    from backend.coefficients.profile_forecast import typical_day_forecast
    from backend.coefficients.rounding import MICRO

    members = _members(members_file)
    first = pd.Timestamp(start, tz="Europe/Madrid").tz_convert("UTC")
    last = (pd.Timestamp(start, tz="Europe/Madrid") + pd.DateOffset(months=months)).tz_convert("UTC")
    if forecasts_file is not None:
        if members is None:
            raise click.UsageError("--forecasts needs --members")
        hour_starts, scenarios, production = _read_forecasts(forecasts_file, [m.cups for m in members])
        inside = (hour_starts >= first) & (hour_starts < last)
        expected = int((last - first) / pd.Timedelta(hours=1))
        if inside.sum() != expected:
            raise click.ClickException(
                f"{forecasts_file.name}: {inside.sum()} hours of forecasts in the period, expected {expected}"
            )
        hour_starts, scenarios, production = hour_starts[inside], scenarios[:, inside], production[inside]
        weights = FILE_SCENARIO_WEIGHTS
        consumption = {"scenarios": scenarios, "p50": scenarios[1], "p10": scenarios[0]}[use]
    else:
        count = len(members) if members is not None else 20
        history_start = (first - pd.Timedelta(weeks=4)).normalize()
        days = int((last - history_start) / pd.Timedelta(days=1)) + 1
        click.echo(f"simulating {count} members' profiles from {history_start.date()} ({days} days)...")
        community = simulate_shared_community(
            count, str(history_start.date()), days, seed=seed, kwp_per_member=(kwp / count) if kwp else 1.5
        )
        if members is None:
            members = community.members
        starts = community.hour_starts
        inside = (starts >= first) & (starts < last)
        history = (starts >= first - pd.Timedelta(weeks=4)) & (starts < first)
        forecast = typical_day_forecast(community.consumption_wh[history], starts[history], starts[inside])
        hour_starts, production, weights = starts[inside], community.production_wh[inside], None
        consumption = getattr(forecast, use)
    try:
        terms = member_terms(members)
        result = plan(
            consumption,
            production,
            terms,
            fairness_band=band,
            retail_price=retail_price,
            leftover_price=(retail_price + compensation_price) // 2,
            scenario_weights=weights if use == "scenarios" else None,
        )
    except ValueError as error:  # PlanError, MembersFileError
        raise click.ClickException(str(error)) from error
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["hour_start_utc", "cups", "coefficient"])
        for hour, row in zip(hour_starts, result.coefficients_micro.tolist(), strict=True):
            stamp = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerows(
                [stamp, cups, f"{micro / MICRO:.6f}"] for cups, micro in zip(result.members, row, strict=True)
            )
    click.echo(
        f"planned {len(result.members)} members x {len(hour_starts)} hours in {result.solve_s:.1f} s "
        f"({result.solver_status}); expected self-consumption {result.expected_self_consumed_wh / 1000:.1f} "
        f"kWh on the forecast; written {out}"
    )


@coefficients.command("export")
@click.option("--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--members", "members_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--cau", required=True, help="The installation's self-consumption code (26 characters).")
@click.option("--year", type=int, required=True)
@click.option("--out", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--decimal", type=click.Choice([".", ","]), default=".", show_default=True)
def export_command(plan_file, members_file, cau, year, folder, decimal):
    """Write the distributor's <CAU>_<year>.txt: the plan's hours, the static shares in every other hour."""
    from backend.coefficients.distributor_file import CoefficientSet, export
    from backend.coefficients.hours import hour_starts_utc
    from backend.coefficients.members import member_terms, share_micro

    members = _members(members_file)
    try:
        terms = member_terms(members)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    cups = [t.member for t in terms]
    table = np.tile([t.static_micro for t in terms], (len(hour_starts_utc(year)), 1))
    starts = hour_starts_utc(year)
    frame = pd.read_csv(plan_file, dtype={"coefficient": str})
    frame["hour_start_utc"] = pd.to_datetime(frame["hour_start_utc"], utc=True)
    unknown = set(frame["cups"]) - set(cups)
    if unknown:
        raise click.ClickException(f"{plan_file.name}: CUPS not in the members file: {sorted(unknown)}")
    rows = starts.get_indexer(frame["hour_start_utc"])
    if np.any(rows < 0):
        click.echo(f"{int((rows < 0).sum())} planned coefficients fall outside {year}: left out")
    column = {c: i for i, c in enumerate(cups)}
    for row, member, text in zip(rows, frame["cups"], frame["coefficient"], strict=True):
        if row >= 0:
            table[row, column[member]] = share_micro(text, plan_file.name)
    try:
        path = export(CoefficientSet(cau, year, tuple(cups), table), folder, decimal)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"written {path} ({len(cups)} supply points x {len(starts)} hours)")


@coefficients.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--members",
    "members_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Refuse CUPS that are not in this members file, and members without coefficients.",
)
def validate_command(path, members_file):
    """Check a distributor's coefficients file: CUPS, hours of the year, sums per hour."""
    from backend.coefficients.distributor_file import CoefficientFileError, import_file

    known = [m.cups for m in _members(members_file)] if members_file else None
    try:
        checked = import_file(path, known)
    except CoefficientFileError as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"{path.name}: valid, {len(checked.members)} supply points x {len(checked.coefficients_micro)} "
        f"hours of {checked.year}, every hour summing to 1"
    )


@coefficients.command("compare")
@click.option("--start", default="2023-01-01", show_default=True, help="First day of the test (UTC).")
@click.option("--days", default=28, show_default=True)
@click.option("--members", "count", default=20, show_default=True)
@click.option("--band", default=0.05, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option(
    "--anchor",
    "anchors",
    type=click.Choice(["equal", "power"]),
    multiple=True,
    default=("equal", "power"),
    show_default=True,
    help="Static shares the planned coefficients stay within --band of (repeatable): one planned set each.",
)
@price_options
def compare_command(start, days, count, band, seed, anchors, retail_price, compensation_price):
    """Planned against static coefficients on a simulated community, with and without the leftover market."""
    from backend.coefficients.community import compare_year, simulate_shared_community
    from backend.market.community_types import Tariffs

    test_start = pd.Timestamp(start, tz="UTC")
    community = simulate_shared_community(count, str((test_start - pd.Timedelta(weeks=4)).date()), days + 28, seed=seed)
    outcomes = compare_year(
        community,
        test_start,
        Tariffs(retail_price, compensation_price),
        fairness_band=band,
        anchors=tuple(f"static-{anchor}" for anchor in anchors),
    )
    header = [
        "coefficients",
        "market",
        "self_consumed_kwh",
        "self_consumed_share",
        "unused_kwh",
        "sold_in_market_kwh",
        "grid_import_kwh",
        "total_bill_eur",
        "mean_bill_eur",
    ]
    click.echo(" | ".join(header))
    for outcome in outcomes:
        row = outcome.row()
        click.echo(" | ".join(str(row[h]) for h in header))
