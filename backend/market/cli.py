"""``vatio market``: command-line tools for the community market."""

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from backend.market.community_types import Tariffs
from backend.market.compare import (
    DEFAULT_TARIFFS,
    LIMIT_MODES,
    NO_COMMUNITY,
    Comparison,
    interval_count,
    simulate_and_compare,
)

UNITS_PER_EURO = 1_000_000


def _euros(units: float) -> str:
    return f"{units / UNITS_PER_EURO:,.2f}"


def _price(price_per_kwh: float | None) -> str:
    return "—" if price_per_kwh is None else f"{price_per_kwh / UNITS_PER_EURO:.4f}"


def household_table(comparison: Comparison) -> Table:
    """Build the per-household bills table (€ over the whole period)."""
    names = [summary.mechanism for summary in comparison.mechanisms]
    table = Table(title="Bills per household over the period (€, positive = pays)")
    table.add_column("Household")
    table.add_column("PV kWp", justify="right")
    table.add_column("Load kWh", justify="right")
    table.add_column("PV kWh", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for result in comparison.households:
        alone = result.bills[NO_COMMUNITY]
        cells = [
            _euros(result.bills[name])
            if name == NO_COMMUNITY or result.bills[name] <= alone
            else f"[red]{_euros(result.bills[name])}[/red]"
            for name in names
        ]
        address = f"{result.household[:6]}…{result.household[-4:]}"
        table.add_row(
            address,
            f"{result.pv_kwp:.1f}",
            f"{result.consumed_wh / 1000:,.1f}",
            f"{result.produced_wh / 1000:,.1f}",
            *cells,
        )
    table.add_section()
    table.add_row(
        "community",
        f"{sum(result.pv_kwp for result in comparison.households):.1f}",
        f"{sum(result.consumed_wh for result in comparison.households) / 1000:,.1f}",
        f"{sum(result.produced_wh for result in comparison.households) / 1000:,.1f}",
        *[_euros(summary.community_bill) for summary in comparison.mechanisms],
    )
    return table


def mechanism_table(comparison: Comparison) -> Table:
    """Build the per-mechanism summary table."""
    table = Table(title="Community totals per mechanism")
    for header in (
        "Mechanism",
        "Community bill €",
        "Saved vs no community €",
        "Self-suff.",
        "Traded kWh",
        "Grid import kWh",
        "Grid export kWh",
        "Avg buy €/kWh",
        "Avg sell €/kWh",
        "Worse off",
    ):
        table.add_column(header, justify="left" if header == "Mechanism" else "right")
    for summary in comparison.mechanisms:
        table.add_row(
            summary.mechanism,
            _euros(summary.community_bill),
            _euros(summary.savings),
            f"{summary.self_sufficiency:.1%}",
            f"{summary.traded_wh / 1000:,.1f}",
            f"{summary.grid_import_wh / 1000:,.1f}",
            f"{summary.grid_export_wh / 1000:,.1f}",
            _price(summary.avg_buy_price_per_kwh),
            _price(summary.avg_sell_price_per_kwh),
            str(summary.households_worse_off),
        )
    return table


@click.group("market")
def market() -> None:
    """Community market tools."""


@market.command("compare")
@click.option(
    "--households", "n_households", type=click.IntRange(min=1), default=20, show_default=True, help="Community size."
)
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True, help="Days of 15-min intervals.")
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-04-06",
    show_default=True,
    help="First day, UTC.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Draws the households; same seed, same table.")
@click.option(
    "--retail-price",
    type=click.IntRange(min=0),
    default=DEFAULT_TARIFFS.retail_price,
    show_default=True,
    help="Grid import price, payment units/kWh (1 € = 1000000).",
)
@click.option(
    "--feed-in-price",
    type=click.IntRange(min=0),
    default=DEFAULT_TARIFFS.feed_in_price,
    show_default=True,
    help="Grid export price, payment units/kWh.",
)
@click.option(
    "--limits",
    type=click.Choice(LIMIT_MODES),
    default="none",
    show_default=True,
    help="none: every household is a price taker; random: standing bid and ask limits per household.",
)
@click.option(
    "--pv-share",
    type=click.FloatRange(0.0, 1.0),
    default=0.6,
    show_default=True,
    help="Share of households with rooftop PV (2-6 kWp each).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results here (money in payment units, energy in Wh).",
)
def compare(
    n_households: int,
    days: int,
    start,
    seed: int,
    retail_price: int,
    feed_in_price: int,
    limits: str,
    pv_share: float,
    json_path: Path | None,
) -> None:
    """Settle a simulated community under every mechanism and compare the bills."""
    try:
        tariffs = Tariffs(retail_price=retail_price, feed_in_price=feed_in_price)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    # The tables need ~170 columns; when piped, rich would squeeze them to 80.
    probe = Console()
    console = Console(width=max(probe.width, 170)) if not probe.is_terminal else probe
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Settling intervals", total=interval_count(days))
        comparison = simulate_and_compare(
            n_households,
            start.date(),
            days,
            seed,
            tariffs=tariffs,
            limits=limits,
            pv_share=pv_share,
            on_interval=lambda: progress.advance(task),
        )
    console.print(household_table(comparison))
    console.print(mechanism_table(comparison))
    console.print(
        "Self-sufficiency: share of consumption not imported from the grid. Avg prices: community energy only. "
        "Worse off: households paying more than without the community (red above)."
    )
    if json_path is not None:
        json_path.write_text(json.dumps(comparison.to_json(), indent=2) + "\n")
        console.print(f"Wrote {json_path}")
