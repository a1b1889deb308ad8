"""Command line for forecasting: ``train`` and the ``forecast`` group (evaluate, run, advice).

``backend/cli.py`` adds these to ``vatio``. Importing this module does not
import TensorFlow; the commands that train or predict do.
"""

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from backend.forecast.data import HOURS_PER_DAY

HORIZONS = {"24": [1], "168": [7], "all": [1, 7]}


def _verbose() -> int:
    """Keras progress: a live bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def _json_default(value):
    return value.item() if hasattr(value, "item") else str(value)


def _settings(**given):
    """The forecast commands' settings: the options given, else the VATIO_* variables, else under the var root."""
    from backend.settings import ForecastSettings, SettingsError

    try:
        return ForecastSettings.from_env(**given)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _model_dir_option(command):
    return click.option(
        "--model-dir",
        type=click.Path(file_okay=False),
        default=None,
        show_default="$VATIO_MODEL_DIR or <var>/models",
        help="Model root.",
    )(command)


def _database_options(command):
    """Options of the commands that read the oracle database: its URL and the community's site."""
    options = [
        click.option(
            "--database-url",
            default=None,
            show_default="$VATIO_DATABASE_URL or sqlite:///<var>/vatio.db",
            help="Oracle database.",
        ),
        click.option(
            "--latitude", type=float, help="Community latitude for PV clear sky (default: the simulator's, Madrid)."
        ),
        click.option("--longitude", type=float, help="Community longitude."),
        click.option(
            "--altitude",
            type=float,
            help="Community altitude, m (default: looked up from latitude and longitude, never 0).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _model_options(command):
    """Overrides of the tuned model configs: smaller, faster models (tests, a quick demo)."""
    options = [
        click.option("--max-epochs", type=int, help="Override the epochs limit."),
        click.option("--units", type=int, help="Override the LSTM and decoder units."),
        click.option("--members", type=int, help="Override the ensemble size."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _overrides(max_epochs, units, members) -> dict:
    overrides = {}
    if max_epochs is not None:
        overrides["max_epochs"] = max_epochs
    if units is not None:
        overrides.update(units=units, decoder_units=units)
    if members is not None:
        overrides["members"] = members
    return overrides


def site_from_options(name, latitude, longitude, altitude, notify=None):
    """A PV site from --latitude/--longitude/--altitude; None when no location is given.

    Without --altitude the altitude is looked up in pvlib's shipped elevation
    map (never silently 0 m), and ``notify`` says so.
    """
    from backend.datasets.pvdaq import Site

    if (latitude is None) != (longitude is None):
        raise click.UsageError("give both --latitude and --longitude, or neither")
    if latitude is None:
        if altitude is not None:
            raise click.UsageError("--altitude needs --latitude and --longitude")
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise click.UsageError(f"no such place: latitude {latitude}, longitude {longitude}")
    if altitude is None:
        from pvlib.location import lookup_altitude

        altitude = float(lookup_altitude(latitude, longitude))
        if notify:
            notify(f"altitude {altitude:.0f} m from pvlib's elevation map (give --altitude to set it)")
    return Site(name, latitude, longitude, float(altitude), "UTC")


def _community_site(latitude, longitude, altitude=None):
    from backend.forecast.history import COMMUNITY_SITE

    return site_from_options("community", latitude, longitude, altitude, click.echo) or COMMUNITY_SITE


def _db_sessions(database_url):
    """A session maker on the oracle database, migrated to the current schema (the forecasts table)."""
    from sqlalchemy.exc import OperationalError

    from backend.db.migrate import upgrade
    from backend.db.session import DatabaseConfigError, make_engine, session_factory

    try:
        upgrade(database_url)
        return session_factory(make_engine(database_url))
    except DatabaseConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    except OperationalError as exc:
        raise click.ClickException(f"cannot open the database: {exc.orig}") from exc


@click.command("train")
@click.option("--kind", type=click.Choice(["load", "pv"]), required=True, help="Consumption or PV production.")
@click.option(
    "--source",
    type=click.Choice(["dataset", "db", "csv"]),
    default="dataset",
    show_default=True,
    help="History to train on; csv takes PATH (columns timestamp, kW).",
)
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--train-until", help="Last training day (YYYY-MM-DD). Dataset default: the benchmark split.")
@click.option(
    "--horizon",
    type=click.Choice(list(HORIZONS)),
    default="all",
    show_default=True,
    help="Hours ahead: 24, 168 or both.",
)
@click.option(
    "--weather/--no-weather",
    default=True,
    show_default=True,
    help="PV from the dataset: also train the day-ahead model with the weather stand-in.",
)
@click.option(
    "--utc-offset", type=float, default=None, help="Local day offset from UTC, h. Default: 0 for csv, 1 (CET) for db."
)
@_model_dir_option
@_database_options
@_model_options
def train(
    kind,
    source,
    path,
    train_until,
    horizon,
    weather,
    utc_offset,
    model_dir,
    database_url,
    latitude,
    longitude,
    altitude,
    max_epochs,
    units,
    members,
):
    """Train forecast models (early stopping, checkpoint) and save them as a new version.

    With --source db: one global model per horizon over every household (and
    the community) in the oracle database, when it holds enough history.
    """
    from backend.forecast import pipeline

    settings = _settings(database_url=database_url, model_dir=model_dir)
    database_url, model_dir = settings.database_url, settings.model_dir
    test_from = test_until = train_from = None
    overrides = _overrides(max_epochs, units, members)
    if source == "db":
        from backend.forecast.history import COMMUNITY_UTC_OFFSET_HOURS
        from backend.forecast.service import NotEnoughHistory, train_from_db

        try:
            directories = train_from_db(
                _db_sessions(database_url),
                kind,
                HORIZONS[horizon],
                train_until,
                model_dir,
                overrides,
                _community_site(latitude, longitude, altitude),
                COMMUNITY_UTC_OFFSET_HOURS if utc_offset is None else utc_offset,
                _verbose(),
                click.echo,
            )
        except NotEnoughHistory as exc:
            raise click.ClickException(str(exc)) from exc
        for directory in directories:
            click.echo(f"{directory.parent.name}: saved {directory}")
        return
    utc_offset = utc_offset or 0.0
    if source == "csv":
        if path is None:
            raise click.UsageError("--source csv needs PATH")
        from backend.forecast.data import SeriesError, require_days

        site = site_from_options("custom", latitude, longitude, altitude, click.echo)
        try:
            daily = pipeline.file_daily(path, kind, utc_offset, site)
            require_days(daily)
        except SeriesError as exc:
            raise click.ClickException(str(exc)) from exc
        daily_for = lambda use_weather: daily  # noqa: E731
        if train_until is None:
            train_until = str(daily.dates[-1].date())
    else:
        split = pipeline.DATASET_SPLITS[kind]
        train_from = split["train_from"]
        if train_until is None:
            train_until, test_from, test_until = split["train_until"], split["test_from"], split["test_until"]
        daily_for = lambda use_weather: pipeline.dataset_daily(kind, use_weather)  # noqa: E731
    configs = [
        pipeline.default_config(c.kind, c.horizon_days, c.use_weather, **overrides)
        for c in pipeline.model_names(kind, HORIZONS[horizon], weather and source == "dataset")
    ]
    from tqdm import tqdm

    for config in tqdm(configs, desc="models", unit="model"):
        daily = daily_for(config.use_weather)
        end = daily.day_index(train_until) + 1
        has_test = test_from is not None or end < len(daily.dates)
        version_dir, metrics = pipeline.train_and_save(
            config,
            daily,
            train_until,
            train_from,
            test_from or (str(daily.dates[end].date()) if has_test else None),
            test_until,
            model_dir,
            _verbose(),
        )
        lstm = next((row for row in metrics.get("rows", []) if row["model"] == "LSTM"), None)
        summary = f"skill {lstm['skill']:.3f}, RMSE {lstm['rmse']:.3f} kW" if lstm else "no test period"
        click.echo(f"{config.name}: saved {version_dir} ({summary})")


@click.group("forecast")
def forecast():
    """Evaluate, run and explain consumption and PV forecasts."""


@forecast.command("evaluate")
@click.option("--kind", type=click.Choice(["load", "pv"]), help="Consumption or PV (with --series).")
@click.option(
    "--series",
    "series_path",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV or parquet with columns timestamp, kW.",
)
@click.option(
    "--suite",
    "suite_name",
    type=click.Choice(["heldout", "benchmark"]),
    help="Instead of --series: every series of a fixed suite (backend/forecast/suites.py), day-ahead, "
    "with its own split; one table at the end.",
)
@click.option("--train-until", help="Last training day, YYYY-MM-DD (with --series).")
@click.option("--test-from", help="First test day, YYYY-MM-DD (with --series).")
@click.option("--test-until", help="Last test day, YYYY-MM-DD (default: end of the series).")
@click.option("--train-from", help="First training day, YYYY-MM-DD (default: start of the series).")
@click.option("--horizon", type=click.Choice(list(HORIZONS)), default="all", show_default=True)
@click.option("--utc-offset", type=float, default=0.0, show_default=True, help="Local day offset from UTC, hours.")
@click.option("--latitude", type=float, help="PV site latitude (default: PVDAQ 50, Golden CO).")
@click.option("--longitude", type=float, help="PV site longitude.")
@click.option("--altitude", type=float, help="PV site altitude, m (default: looked up from latitude and longitude).")
@click.option("--seed", type=int, help="First seed of the LSTM members (default 42).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the tables as JSON here.")
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False),
    default=None,
    show_default="<var>/forecast-eval",
    help="Where training keeps its checkpoints, one folder per model.",
)
@_model_options
def evaluate_command(
    kind,
    series_path,
    suite_name,
    train_until,
    test_from,
    test_until,
    train_from,
    horizon,
    utc_offset,
    latitude,
    longitude,
    altitude,
    seed,
    json_path,
    checkpoint_dir,
    max_epochs,
    units,
    members,
):
    """Train on the training part of a series (or of every series of a suite), choose the served model on the
    training period's last weeks, and compare it, the LSTM and every simple model on the test part."""
    from backend.datasets.pvdaq import PVDAQ50_SITE
    from backend.forecast import pipeline
    from backend.forecast.data import SeriesError, require_days
    from backend.forecast.features import build_daily_data

    settings = _settings(eval_dir=checkpoint_dir)
    overrides = _overrides(max_epochs, units, members)
    if seed is not None:
        overrides["seed"] = seed
    tables = {}
    if suite_name:
        from backend.forecast.suites import suite

        if series_path or kind:
            raise click.UsageError("--suite runs its own series; drop --series and --kind")
        for item in suite(suite_name):
            hourly, info = item.loader()
            daily = build_daily_data(hourly, info)
            tables[item.name] = _evaluate_one(
                item.name,
                daily,
                item.kind,
                [1],
                item.train_until,
                item.test_from,
                item.test_until,
                item.train_from,
                overrides,
                settings.eval_dir,
            )
        from backend.forecast.selection import format_served_table

        click.echo(
            format_served_table(
                {name: table["day-ahead"] for name, table in tables.items()},
                f"suite {suite_name}: served model against the best simple model",
            )
        )
    else:
        if not series_path or not kind:
            raise click.UsageError("give --kind and --series, or --suite")
        if not train_until or not test_from:
            raise click.UsageError("--series needs --train-until and --test-from")
        site = site_from_options("custom", latitude, longitude, altitude, click.echo) if kind == "pv" else None
        try:
            daily = pipeline.file_daily(series_path, kind, utc_offset, site or PVDAQ50_SITE)
            require_days(daily)
        except SeriesError as exc:
            raise click.ClickException(str(exc)) from exc
        tables[Path(series_path).name] = _evaluate_one(
            Path(series_path).name,
            daily,
            kind,
            HORIZONS[horizon],
            train_until,
            test_from,
            test_until,
            train_from,
            overrides,
            settings.eval_dir,
        )
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(tables, indent=1, default=_json_default))
        click.echo(f"wrote {json_path}")


def _evaluate_one(name, daily, kind, horizons, train_until, test_from, test_until, train_from, overrides, eval_dir):
    """Evaluate one series for each horizon; print the candidates, the choice and the test table."""
    from backend.forecast import pipeline
    from backend.forecast.evaluate import evaluate
    from backend.forecast.metrics import format_table

    tables = {}
    for days in horizons:
        config = pipeline.default_config(kind, days, **overrides)
        try:
            result = evaluate(
                daily, config, train_until, test_from, test_until, eval_dir, train_from=train_from, verbose=_verbose()
            )
        except ValueError as exc:
            raise click.ClickException(f"{name}: {exc}") from exc
        summary = result.summary
        title = (
            f"{config.name}: {name}, train to {train_until}, test {test_from}..{test_until or 'end'}, "
            f"{len(result.issue_days)} forecasts"
        )
        origins = summary["selection"].get("origin_rmse", {})
        click.echo(
            f"{title}\nvalidation RMSE, kW: over the origins (blocks across the training period) "
            f"and on the last weeks of training:"
        )
        for candidate, score in sorted(summary["selection"]["validation_rmse"].items(), key=lambda kv: kv[1]):
            mark = "  <- served" if candidate == summary["served"] else ""
            over = f"{origins[candidate]:8.4f}" if candidate in origins else f"{'-':>8}"
            click.echo(f"  {candidate:<42} {over} {score:8.4f}{mark}")
        click.echo(f"served: {summary['served']}: {summary['reason']}")
        click.echo(format_table(result.rows, "test period") + "\n")
        click.echo(
            f"served skill {summary['served_skill']:.3f}, best simple {summary['best_simple_model']} "
            f"{summary['best_simple_skill']:.3f}, margin {summary['margin']:+.3f}; "
            f"P10 rate {summary['p10_rate']:.1%}, P90 rate {summary['p90_rate']:.1%}\n"
        )
        label = "day-ahead" if days == 1 else "week-ahead"
        tables[label] = {
            "model": config.name,
            "issues": len(result.issue_days),
            "train_s": result.train_s,
            "rows": result.rows,
            "summary": summary,
        }
    return tables


@forecast.command("run")
@click.option(
    "--source",
    type=click.Choice(["dataset", "db", "csv"]),
    default="dataset",
    show_default=True,
    help="Household history; db reads the oracle's readings and stores the forecasts there; "
    "csv takes PATH (timestamp, household, kind, kW).",
)
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--at",
    "issue_at",
    help="Issue time, UTC (default: the current hour; for db, the hour of min(now, newest reading)).",
)
@_model_dir_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    show_default="<var>/forecasts/latest.json",
    help="dataset/csv: where the run is written.",
)
@click.option("--every", type=float, help="Keep running every SECONDS (the backend: 3600), until Ctrl-C.")
@click.option(
    "--offset",
    type=float,
    default=900.0,
    show_default=True,
    help="With --every: seconds past each multiple, so that meters have reported the last hour.",
)
@click.option("--max-runs", type=int, help="With --every: stop after this many runs.")
@click.option(
    "--retry",
    type=float,
    default=60.0,
    show_default=True,
    help="With --every: seconds until the next try after a run that stored nothing (no readings "
    "yet, less than a week of history) or failed, instead of a whole period.",
)
@click.option(
    "--keep-days",
    type=float,
    default=14.0,
    show_default=True,
    help="db: delete runs issued longer ago than this (0 keeps everything).",
)
@click.option(
    "--bootstrap/--no-bootstrap",
    default=True,
    show_default=True,
    help="db: train a missing model from the shipped datasets first.",
)
@click.option(
    "--stand-in/--no-stand-in",
    default=False,
    show_default=True,
    help="db: before any household has a week of readings, forecast the community's load from the shipped "
    "households' load shape at its measured level, each row labelled so (backend/forecast/stand_in.py); "
    "such a run is retried like one that stored nothing.",
)
@click.option(
    "--utc-offset", type=float, default=None, help="db: the community's local day offset, h (default 1, CET)."
)
@click.option(
    "--redis-url",
    default=None,
    help="db: push each run live to the web app through this Socket.IO message queue "
    "(or $VATIO_REDIS_URL); none: no pushes.",
)
@click.option(
    "--socketio-channel",
    default=None,
    show_default="$VATIO_SOCKETIO_CHANNEL or vatio",
    help="db: the message queue's channel, as the web app's.",
)
@_database_options
@_model_options
def run(
    source,
    path,
    issue_at,
    model_dir,
    out,
    every,
    offset,
    max_runs,
    retry,
    keep_days,
    bootstrap,
    stand_in,
    utc_offset,
    redis_url,
    socketio_channel,
    database_url,
    latitude,
    longitude,
    altitude,
    max_epochs,
    units,
    members,
):
    """Forecast every household and the community from the latest history, and store the result."""
    import pandas as pd

    settings = _settings(
        database_url=database_url,
        model_dir=model_dir,
        forecasts_file=out,
        redis_url=redis_url,
        socketio_channel=socketio_channel,
    )
    database_url, model_dir, out = settings.database_url, settings.model_dir, settings.forecasts_file
    redis_url, socketio_channel = settings.redis_url, settings.socketio_channel
    if every is not None and issue_at:
        raise click.UsageError("--at fixes one issue time; it cannot repeat with --every")
    if every is not None and every <= 0:
        raise click.UsageError("--every must be positive")
    if retry <= 0:
        raise click.UsageError("--retry must be positive")
    when = None
    if issue_at:
        when = pd.Timestamp(issue_at)
        when = (when.tz_localize("UTC") if when.tz is None else when.tz_convert("UTC")).floor("1h")
    if source == "db":
        if path is not None:
            raise click.UsageError("--source db reads the database (--database-url), not a PATH")
        job = _db_run_job(
            when,
            model_dir,
            keep_days,
            bootstrap,
            utc_offset,
            database_url,
            latitude,
            longitude,
            altitude,
            _overrides(max_epochs, units, members),
            _live_emitter(redis_url, socketio_channel),
            stand_in,
        )
    else:
        job = _file_run_job(source, path, when, model_dir, out)
    if every is None:
        job()
        return
    from backend.forecast.service import run_every

    try:
        # A db run that stored nothing is retried soon; a file run always produces its document.
        run_every(
            job,
            every,
            offset,
            max_runs,
            notify=click.echo,
            retry_s=retry,
            # A stand-in run is retried too: the real forecast follows as soon as there is a week.
            ready=lambda result: getattr(result, "hours_stored", 1) > 0 and not getattr(result, "stand_in", False),
        )
    except KeyboardInterrupt:
        click.echo("stopped")


def _db_run_job(
    when,
    model_dir,
    keep_days,
    bootstrap,
    utc_offset,
    database_url,
    latitude,
    longitude,
    altitude,
    overrides,
    emitter=None,
    stand_in=False,
):
    from backend.forecast.history import COMMUNITY_UTC_OFFSET_HOURS
    from backend.forecast.service import ModelSet, run_db_forecasts

    sessions = _db_sessions(database_url)
    site = _community_site(latitude, longitude, altitude)
    models = ModelSet(model_dir, bootstrap, overrides, click.echo, _verbose())
    offset_hours = COMMUNITY_UTC_OFFSET_HOURS if utc_offset is None else utc_offset

    def once():
        try:
            summary = run_db_forecasts(sessions, models, when, site, offset_hours, keep_days or None, stand_in=stand_in)
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(summary.message)
        return summary

    def job():
        summary = once()
        if not summary.hours_stored and bootstrap:
            before = len(models.loaded)
            models.refresh()  # train missing bootstrap models while the history grows, not after it
            if len(models.loaded) > before:
                summary = once()  # the history grew during the training: try again now, not a retry later
        if summary.hours_stored and emitter is not None:
            from backend.forecast.service import publish_run

            publish_run(sessions, summary.issued_at, emitter.emit_forecast)
        return summary

    return job


def _live_emitter(redis_url, channel):
    """The write-only emitter on the web app's Socket.IO queue; None without one (runs are not pushed)."""
    if not redis_url:
        return None
    from backend.readmodel.emitter import LiveEmitter

    return LiveEmitter(redis_url, channel=channel)


def _file_run_job(source, path, when, model_dir, out):
    import pandas as pd
    from tqdm import tqdm

    from backend.forecast.pipeline import JsonForecastStore, run_forecasts
    from backend.forecast.sources import history_source

    try:
        history = history_source(source, path)
    except (NotImplementedError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc

    def job():
        issue = when or pd.Timestamp.now(tz="UTC").floor("1h")
        try:
            document = run_forecasts(history, issue, model_dir, progress=lambda items: tqdm(items, desc="models"))
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
        written = JsonForecastStore(out).save(document)
        click.echo(
            f"{len(document['records'])} forecasts for {len({r['household'] for r in document['records']})} "
            f"households issued at {document['issued_at']} -> {written}"
        )
        return document

    return job


@forecast.command("advice")
@click.option("--household", required=True, help="Household address (or dataset name).")
@click.option(
    "--source",
    type=click.Choice(["json", "db"]),
    default="json",
    show_default=True,
    help="Read the last run from --forecasts (json) or the forecasts table (db).",
)
@click.option(
    "--forecasts",
    type=click.Path(dir_okay=False),
    default=None,
    show_default="<var>/forecasts/latest.json",
    help="json: the run written by `vatio forecast run`.",
)
@click.option(
    "--database-url",
    default=None,
    show_default="$VATIO_DATABASE_URL or sqlite:///<var>/vatio.db",
    help="db: the oracle database.",
)
@click.option("--feed-in", type=int, default=50_000, show_default=True, help="Feed-in price, base units per kWh.")
@click.option("--retail", type=int, default=200_000, show_default=True, help="Retail price, base units per kWh.")
@click.option(
    "--alpha",
    "shortfall_rate",
    type=click.FloatRange(0.0, 0.5, min_open=True, max_open=True),
    default=0.1,
    show_default=True,
    help="Shortfall rate: the cautious sell quantity is what the household has with "
    "probability 1 - alpha (its alpha quantile of production, 1 - alpha of use).",
)
def advice_command(household, source, forecasts, database_url, feed_in, retail, shortfall_rate):
    """Print sell and buy windows, price hints and the community's short households for the next 24 h."""
    from backend.forecast.advice import (
        Tariffs,
        community_outlook,
        forecasts_from_hours,
        household_advice,
        window_value,
    )

    settings = _settings(database_url=database_url, forecasts_file=forecasts)
    database_url, forecasts = settings.database_url, settings.forecasts_file
    if source == "db":
        from backend.forecast.store import load_forecasts

        with _db_sessions(database_url)() as session:
            stored = load_forecasts(session, horizon_h=HOURS_PER_DAY)
        if not stored:
            raise click.ClickException("no stored forecasts; run `vatio forecast run --source db` first")
        household_forecasts, _ = forecasts_from_hours(stored)
    else:
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
    advice = household_advice(target, community, Tariffs(feed_in, retail), alpha=shortfall_rate)
    click.echo(f"{advice.household}: next 24 h net {advice.net.net_p50_wh.sum():+.0f} Wh (P50)")
    tariffs = Tariffs(feed_in, retail)
    for window in advice.sell_windows + advice.buy_windows:
        limit = advice.sell_limit_price_per_kwh if window.side == "sell" else advice.buy_limit_price_per_kwh
        worth = window_value(window, limit, tariffs) / 1_000_000
        click.echo(
            f"  {window.side:<4} {window.start:%Y-%m-%d %H:%M}-{window.end:%H:%M} UTC  {window.energy_wh} Wh "
            f"(cautious {window.confident_wh} Wh, shortfall rate {shortfall_rate:.0%}; "
            f"worth {worth:.2f} EUR against the grid at the limit price)"
        )
    click.echo(
        f"  limit price hint: sell {advice.sell_limit_price_per_kwh}, buy {advice.buy_limit_price_per_kwh} per kWh"
    )
    click.echo(f"community: surplus {community.available_for_sale_wh} Wh, deficit {community.total_deficit_wh} Wh")
    for short in community.short_households:
        click.echo(f"  short: {short.household} {short.total_deficit_wh} Wh over {len(short.hours)} h")


def stored_day_ahead(document: dict):
    """Turn a stored run into :class:`HouseholdForecast` objects for the next 24 h (Wh per hour)."""
    from backend.forecast.advice import HouseholdForecast, kw_to_wh

    issued = datetime.fromisoformat(document["issued_at"]).astimezone(UTC)
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
