"""Command line for forecasting: ``train`` and the ``forecast`` group (evaluate, run, advice).

``backend/cli.py`` adds these to ``vatio``. Importing this module does not
import TensorFlow; the commands that train or predict do.
"""

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from backend.forecast.data import HOURS_PER_DAY

HORIZONS = {"24": [1], "168": [7], "all": [1, 7]}


def _verbose() -> int:
    """Keras progress: a live bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def _json_default(value):
    return value.item() if hasattr(value, "item") else str(value)


@click.command("train")
@click.option("--kind", type=click.Choice(["load", "pv"]), required=True, help="Consumption or PV production.")
@click.option("--source", type=click.Choice(["dataset", "db", "csv"]), default="dataset", show_default=True,
              help="History to train on; csv takes PATH (columns timestamp, kW).")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--train-until", help="Last training day (YYYY-MM-DD). Dataset default: the benchmark split.")
@click.option("--horizon", type=click.Choice(list(HORIZONS)), default="all", show_default=True,
              help="Hours ahead: 24, 168 or both.")
@click.option("--weather/--no-weather", default=True, show_default=True,
              help="PV from the dataset: also train the day-ahead model with the weather stand-in.")
@click.option("--utc-offset", type=float, default=0.0, show_default=True, help="CSV: local day offset from UTC, h.")
@click.option("--model-dir", type=click.Path(file_okay=False), help="Model root (default $VATIO_MODEL_DIR or models).")
def train(kind, source, path, train_until, horizon, weather, utc_offset, model_dir):
    """Train forecast models (early stopping, checkpoint) and save them as a new version."""
    from backend.forecast import pipeline

    test_from = test_until = train_from = None
    if source == "db":
        raise click.UsageError("the oracle database reader does not exist yet; use --source dataset or csv PATH")
    if source == "csv":
        if path is None:
            raise click.UsageError("--source csv needs PATH")
        daily_for = lambda use_weather: pipeline.file_daily(path, kind, utc_offset)  # noqa: E731
        if train_until is None:
            train_until = str(daily_for(False).dates[-1].date())
    else:
        split = pipeline.DATASET_SPLITS[kind]
        train_from = split["train_from"]
        if train_until is None:
            train_until, test_from, test_until = split["train_until"], split["test_from"], split["test_until"]
        daily_for = lambda use_weather: pipeline.dataset_daily(kind, use_weather)  # noqa: E731
    configs = pipeline.model_names(kind, HORIZONS[horizon], weather and source == "dataset")
    from tqdm import tqdm

    for config in tqdm(configs, desc="models", unit="model"):
        daily = daily_for(config.use_weather)
        end = daily.day_index(train_until) + 1
        has_test = test_from is not None or end < len(daily.dates)
        version_dir, metrics = pipeline.train_and_save(
            config, daily, train_until, train_from,
            test_from or (str(daily.dates[end].date()) if has_test else None), test_until, model_dir, _verbose())
        lstm = next((row for row in metrics.get("rows", []) if row["model"] == "LSTM"), None)
        summary = f"skill {lstm['skill']:.3f}, RMSE {lstm['rmse']:.3f} kW" if lstm else "no test period"
        click.echo(f"{config.name}: saved {version_dir} ({summary})")


@click.group("forecast")
def forecast():
    """Evaluate, run and explain consumption and PV forecasts."""


@forecast.command("evaluate")
@click.option("--kind", type=click.Choice(["load", "pv"]), required=True)
@click.option("--series", "series_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="CSV or parquet with columns timestamp, kW.")
@click.option("--train-until", required=True, help="Last training day, YYYY-MM-DD.")
@click.option("--test-from", required=True, help="First test day, YYYY-MM-DD.")
@click.option("--test-until", help="Last test day, YYYY-MM-DD (default: end of the series).")
@click.option("--train-from", help="First training day, YYYY-MM-DD (default: start of the series).")
@click.option("--horizon", type=click.Choice(list(HORIZONS)), default="all", show_default=True)
@click.option("--utc-offset", type=float, default=0.0, show_default=True, help="Local day offset from UTC, hours.")
@click.option("--latitude", type=float, help="PV site latitude (default: PVDAQ 50, Golden CO).")
@click.option("--longitude", type=float, help="PV site longitude.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the tables as JSON here.")
def evaluate_command(kind, series_path, train_until, test_from, test_until, train_from, horizon, utc_offset,
                     latitude, longitude, json_path):
    """Train on the training part of any series and compare the LSTM with the baselines on the test part."""
    from backend.datasets.pvdaq import PVDAQ50_SITE, Site
    from backend.forecast import pipeline
    from backend.forecast.evaluate import evaluate
    from backend.forecast.metrics import format_table

    site = None
    if kind == "pv" and latitude is not None and longitude is not None:
        site = Site("custom", latitude, longitude, 0.0, "UTC")
    daily = pipeline.file_daily(series_path, kind, utc_offset, site or PVDAQ50_SITE)
    tables = {}
    for days in HORIZONS[horizon]:
        config = pipeline.default_config(kind, days)
        result = evaluate(daily, config, train_until, test_from, test_until, Path("var/forecast-eval"),
                          train_from=train_from, verbose=_verbose())
        title = (f"{config.name}: {Path(series_path).name}, train to {train_until}, test {test_from}.."
                 f"{test_until or 'end'}, {len(result.issue_days)} forecasts")
        click.echo(format_table(result.rows, title) + "\n")
        tables[config.name] = {"issues": len(result.issue_days), "train_s": result.train_s, "rows": result.rows}
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(tables, indent=1, default=_json_default))
        click.echo(f"wrote {json_path}")


@forecast.command("run")
@click.option("--source", type=click.Choice(["dataset", "db", "csv"]), default="dataset", show_default=True,
              help="Household history; csv takes PATH (timestamp, household, kind, kW).")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--at", "issue_at", help="Issue time, UTC (default: the current hour).")
@click.option("--model-dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default="var/forecasts/latest.json", show_default=True)
def run(source, path, issue_at, model_dir, out):
    """Forecast every household and the community from the latest history, and store the result."""
    import pandas as pd
    from tqdm import tqdm

    from backend.forecast.pipeline import JsonForecastStore, run_forecasts
    from backend.forecast.sources import history_source

    try:
        history = history_source(source, path)
    except (NotImplementedError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    when = pd.Timestamp(issue_at) if issue_at else pd.Timestamp.now(tz="UTC")
    when = (when.tz_localize("UTC") if when.tz is None else when.tz_convert("UTC")).floor("1h")
    try:
        document = run_forecasts(history, when, model_dir, progress=lambda items: tqdm(items, desc="households"))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    written = JsonForecastStore(out).save(document)
    click.echo(f"{len(document['records'])} forecasts for {len({r['household'] for r in document['records']})} "
               f"households issued at {document['issued_at']} -> {written}")


@forecast.command("advice")
@click.option("--household", required=True, help="Household address (or dataset name).")
@click.option("--forecasts", type=click.Path(dir_okay=False), default="var/forecasts/latest.json", show_default=True)
@click.option("--feed-in", type=int, default=50_000, show_default=True, help="Feed-in price, base units per kWh.")
@click.option("--retail", type=int, default=200_000, show_default=True, help="Retail price, base units per kWh.")
def advice_command(household, forecasts, feed_in, retail):
    """Print sell and buy windows, price hints and the community's short households for the next 24 h."""
    from backend.forecast.advice import Tariffs, community_outlook, household_advice
    from backend.forecast.pipeline import JsonForecastStore

    try:
        document = JsonForecastStore(forecasts).latest()
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    household_forecasts = stored_day_ahead(document)
    target = next((f for f in household_forecasts if f.household.lower() == household.lower()), None)
    if target is None:
        raise click.ClickException(f"no forecast for {household}; have {[f.household for f in household_forecasts]}")
    community = community_outlook(household_forecasts)
    advice = household_advice(target, community, Tariffs(feed_in, retail))
    click.echo(f"{advice.household}: next 24 h net {advice.net.net_p50_wh.sum():+.0f} Wh (P50)")
    for window in advice.sell_windows + advice.buy_windows:
        click.echo(f"  {window.side:<4} {window.start:%Y-%m-%d %H:%M}-{window.end:%H:%M} UTC  {window.energy_wh} Wh "
                   f"(cautious {window.confident_wh} Wh)")
    click.echo(f"  limit price hint: sell {advice.sell_limit_price_per_kwh}, buy {advice.buy_limit_price_per_kwh} per kWh")
    click.echo(f"community: surplus {community.available_for_sale_wh} Wh, deficit {community.total_deficit_wh} Wh")
    for short in community.short_households:
        click.echo(f"  short: {short.household} {short.total_deficit_wh} Wh over {len(short.hours)} h")


def stored_day_ahead(document: dict):
    """Turn a stored run into :class:`HouseholdForecast` objects for the next 24 h (Wh per hour)."""
    from backend.forecast.advice import HouseholdForecast, kw_to_wh

    issued = datetime.fromisoformat(document["issued_at"]).astimezone(timezone.utc)
    hours = tuple(issued + timedelta(hours=h) for h in range(HOURS_PER_DAY))
    by_household: dict[str, dict] = {}
    for record in document["records"]:
        if record["horizon_hours"] == HOURS_PER_DAY:
            by_household.setdefault(record["household"], {})[record["kind"]] = record
    forecasts = []
    for household, kinds in sorted(by_household.items()):
        if "load" not in kinds:
            continue
        load, pv = kinds["load"], kinds.get("pv")
        band = {f"consumed_{q}_wh": kw_to_wh(load[q]) for q in ("p10", "p50", "p90")}
        if pv:
            band.update({f"produced_{q}_wh": kw_to_wh(pv[q]) for q in ("p10", "p50", "p90")})
        forecasts.append(HouseholdForecast(household, hours, **band))
    return forecasts
