"""Forecasting against the oracle database: train from its history, run and store forecasts on a schedule.

``vatio train --source db`` and ``vatio forecast run --source db [--every 3600]``
call these. TensorFlow is imported only when a model is trained or loaded,
inside this process; the web app reads the stored rows (``store.py``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.orm import sessionmaker

from backend.datasets.pvdaq import Site
from backend.forecast import serving
from backend.forecast.artifacts import latest_version_dir, model_root
from backend.forecast.data import HOURS_PER_DAY
from backend.forecast.features import DailyData, build_daily_data
from backend.forecast.history import (
    COMMUNITY,
    COMMUNITY_SITE,
    COMMUNITY_UTC_OFFSET_HOURS,
    CommunityHistory,
    DbHistory,
    newest_reading_ts,
)
from backend.forecast.pipeline import DATASET_SPLITS, default_config, series_of
from backend.forecast.store import forecast_hours, prune_forecasts, save_forecasts

log = logging.getLogger(__name__)

# The models a run uses: name -> (kind, horizon in days).
RUN_MODELS = {"load-24h": ("load", 1), "load-168h": ("load", 7), "pv-24h": ("pv", 1), "pv-168h": ("pv", 7)}
# Training needs at least this many complete forecast windows (20 to train, 5 to validate, some slack).
MIN_TRAINING_WINDOWS = 30
# Days of history every forecast sees (ForecastConfig.lookback_days of the run models).
LOOKBACK_DAYS = 7
BOOTSTRAP_SOURCES = {"load": "UCI Sceaux household", "pv": "NREL PVDAQ system 50"}


class NotEnoughHistory(Exception):
    """The database does not yet hold the history a model needs; the message says how much."""


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


# --- training from the database ---


@dataclass(frozen=True)
class TrainingCheck:
    """How much usable history there is for one model, against what it needs."""

    windows: int  # complete training windows over every series
    series: int
    longest_complete_days: int  # complete (24 valid hours) days of the series with the most
    needed_days: int  # consecutive complete days one series needs on its own

    @property
    def enough(self) -> bool:
        return self.windows >= MIN_TRAINING_WINDOWS


def training_series(history: CommunityHistory, kind: str) -> list[DailyData]:
    """Every household's series of ``kind``, and the community's, as :class:`DailyData`."""
    members = history.households + ([history.community] if history.community is not None else [])
    series = []
    for member in members:
        hourly_kw, info = series_of(member, kind)
        if hourly_kw is not None and hourly_kw.notna().any():
            series.append(build_daily_data(hourly_kw, info))
    return series


def check_training(series: list[DailyData], config, train_until: str) -> TrainingCheck:
    """Count the complete windows a model would train on, and the days there are and are needed."""
    window = config.window()
    windows, longest = 0, 0
    for daily in series:
        end = daily.day_index(train_until) + 1
        windows += len(
            window.issue_hours(
                daily, first=config.lookback_days, last=end, target_end=end, stride_hours=config.stride_hours
            )
        )
        longest = max(longest, int(np.isfinite(daily.target_kw[:end]).all(axis=1).sum()))
    needed = config.lookback_days + config.horizon_days + MIN_TRAINING_WINDOWS - 1
    return TrainingCheck(windows, len(series), longest, needed)


def _not_enough_message(name: str, kind: str, check: TrainingCheck) -> str:
    return (
        f"not enough history in the database to train {name}: {check.series} {kind} series, the longest "
        f"with {check.longest_complete_days} complete days, {check.windows} of the "
        f"{MIN_TRAINING_WINDOWS} complete forecast windows needed. One household needs "
        f"{check.needed_days} consecutive complete days (7 days seen + the horizon + "
        f"{MIN_TRAINING_WINDOWS - 1} more issue days); several households need fewer. "
        f"Until then `vatio forecast run --source db` uses the models trained on the shipped datasets."
    )


def train_from_db(
    sessions: sessionmaker,
    kind: str,
    horizon_days: list[int],
    train_until: str | None = None,
    root: str | Path | None = None,
    overrides: dict | None = None,
    site: Site = COMMUNITY_SITE,
    utc_offset_hours: float = COMMUNITY_UTC_OFFSET_HOURS,
    verbose: int = 1,
    notify: Callable[[str], None] = print,
) -> list[Path]:
    """Train a global ``kind`` model per horizon on every household (and the community) in the database.

    Raises :class:`NotEnoughHistory` before any training when a model would
    have too few complete windows. ``train_until`` defaults to the last day
    with readings; returns the new version directories.
    """
    from backend.forecast.pipeline import train_series_and_save

    with sessions() as session:
        newest = newest_reading_ts(session)
    if newest is None:
        raise NotEnoughHistory("no readings in the database yet: nothing to train on")
    # Up to the newest reading (not the wall clock): a replay of the past ends there.
    until = min(_now(), pd.Timestamp(newest, unit="s", tz="UTC")).ceil("1h")
    history = DbHistory(sessions, site, utc_offset_hours, history_days=None).load(until)
    series = training_series(history, kind)
    if not series:
        raise NotEnoughHistory(
            f"no {kind} history in the database yet (no household with {'production' if kind == 'pv' else 'readings'})"
        )
    if train_until is None:
        train_until = str(max(daily.dates[-1] for daily in series).date())
    configs = [default_config(kind, days, **(overrides or {})) for days in horizon_days]
    for config in configs:  # every check before any training: fail fast, not after an hour
        check = check_training(series, config, train_until)
        if not check.enough:
            raise NotEnoughHistory(_not_enough_message(config.name, kind, check))
    directories = []
    for config in configs:
        notify(f"training {config.name} on {len(series)} series from the database, up to {train_until}")
        try:
            directories.append(train_series_and_save(config, series, train_until, root, verbose))
        except ValueError as exc:  # gaps left fewer windows after the validation split
            raise NotEnoughHistory(f"{config.name}: {exc}") from exc
    return directories


# --- models for a run ---


@dataclass
class LoadedModel:
    forecaster: object  # backend.forecast.forecaster.Forecaster
    version: str  # "<name>/<version directory>", stored with every forecast


@dataclass
class ModelSet:
    """The latest version of each run model, reloaded only when ``LATEST`` moves.

    A missing model is trained from the shipped datasets first (bootstrap)
    unless ``bootstrap`` is False; ``overrides`` change the bootstrap config
    (small models for tests).
    """

    root: str | Path | None = None
    bootstrap: bool = True
    overrides: dict = field(default_factory=dict)
    notify: Callable[[str], None] = print
    verbose: int = 0
    loaded: dict[str, LoadedModel] = field(default_factory=dict)

    def refresh(self) -> dict[str, LoadedModel]:
        """Return the current models, loading new versions and bootstrapping missing ones."""
        from backend.forecast.forecaster import Forecaster

        for name, (kind, days) in RUN_MODELS.items():
            try:
                directory = latest_version_dir(name, self.root)
            except FileNotFoundError:
                if not self.bootstrap:
                    continue
                directory = self._bootstrap(name, kind, days)
            version = f"{name}/{directory.name}"
            if name not in self.loaded or self.loaded[name].version != version:
                self.loaded[name] = LoadedModel(Forecaster.load(directory), version)
        if not any(name.startswith("load") for name in self.loaded):
            raise FileNotFoundError(
                f"no trained load model under {model_root(self.root)}; run `vatio train --kind load` first"
            )
        return self.loaded

    def _bootstrap(self, name: str, kind: str, days: int) -> Path:
        from backend.forecast.pipeline import dataset_daily, train_and_save

        self.notify(
            f"no trained model {name!r} under {model_root(self.root)}: training a bootstrap model on the "
            f"shipped {BOOTSTRAP_SOURCES[kind]} data now (a minute or two). "
            f"`vatio train --kind {kind} --source db` replaces it once the database holds enough history."
        )
        split = DATASET_SPLITS[kind]
        config = default_config(kind, days, **self.overrides)
        directory, _ = train_and_save(
            config, dataset_daily(kind), split["train_until"], split["train_from"], root=self.root, verbose=self.verbose
        )
        self.notify(f"bootstrap model saved: {directory}")
        return directory


# --- one run ---


@dataclass
class RunSummary:
    """What one forecast run did."""

    issued_at: int | None
    households: int = 0  # households with at least one forecast stored
    community: bool = False
    hours_stored: int = 0
    pruned: int = 0
    skipped: list[str] = field(default_factory=list)  # households without a complete week of history
    message: str = ""
    served: dict[str, str] = field(default_factory=dict)  # run model -> the candidate served (stored per row)
    reasons: dict[str, str] = field(default_factory=dict)
    stand_in: bool = False  # the community's load from a stand-in history (backend.forecast.stand_in)


def issue_time(session_factory: sessionmaker, now: pd.Timestamp | None = None) -> pd.Timestamp | None:
    """The hour a run issues at: min(wall clock, newest stored reading), floored to the hour.

    The same watermark as interval closing: in real time the clock, when the
    simulator replays the past, the replayed time. None without readings.
    """
    with session_factory() as session:
        newest = newest_reading_ts(session)
    if newest is None:
        return None
    now = now or _now()
    return min(now, pd.Timestamp(newest, unit="s", tz="UTC")).floor("1h")


def trailing_complete_days(hourly_kw: pd.Series, issue_at: pd.Timestamp) -> float:
    """Days of history right before ``issue_at`` without a gap a forecast cannot bridge (over 3 hours)."""
    history = hourly_kw[hourly_kw.index < issue_at]
    if history.empty:
        return 0.0
    history = history.reindex(pd.date_range(history.index.min(), issue_at, freq="1h", inclusive="left"))
    values = history.interpolate(limit=3, limit_area="inside").to_numpy()
    gaps = np.flatnonzero(~np.isfinite(values))
    return (len(values) - (gaps[-1] + 1 if len(gaps) else 0)) / HOURS_PER_DAY


def run_db_forecasts(
    sessions: sessionmaker,
    models: ModelSet,
    issue_at: pd.Timestamp | None = None,
    site: Site = COMMUNITY_SITE,
    utc_offset_hours: float = COMMUNITY_UTC_OFFSET_HOURS,
    keep_days: float | None = None,
    choose_model: bool = True,
    stand_in: bool = False,
) -> RunSummary:
    """Forecast every household with a complete week of history, and the community; store the hours.

    ``issue_at`` defaults to :func:`issue_time`. Each model predicts all
    series in one batch. With ``choose_model`` (the default) each run model
    serves the candidate chosen per kind on the history's last week
    (:mod:`backend.forecast.serving`: the LSTM, a simple model, the ridge or
    the blend), and every stored row names it (``served_model``); without,
    the LSTM artifact is served. With ``stand_in``, a run before any household has a complete week
    stores the community's load from a stand-in history, each row saying so (:mod:`backend.forecast.stand_in`).
    The run is stored in one transaction, idempotently
    (a second run at the same hour replaces the first's values). With
    ``keep_days``, runs issued more than that many days before this one are
    deleted.
    """
    from backend.forecast.pipeline import forecast_batch

    if issue_at is None:
        issue_at = issue_time(sessions)
        if issue_at is None:
            return RunSummary(None, message="no readings stored yet: nothing to forecast")
    issue_at = pd.Timestamp(issue_at)
    issue_at = (issue_at.tz_localize("UTC") if issue_at.tz is None else issue_at.tz_convert("UTC")).floor("1h")
    issued = int(issue_at.timestamp())
    history = DbHistory(sessions, site, utc_offset_hours).load(issue_at)
    members = history.households + ([history.community] if history.community is not None else [])
    longest = max((trailing_complete_days(h.consumed_kw, issue_at) for h in history.households), default=0.0)
    if longest < LOOKBACK_DAYS:  # before loading (or bootstrapping) any model
        short = (
            f"no forecast at {issue_at:%Y-%m-%d %H:%M} UTC: a household needs {LOOKBACK_DAYS} days of complete "
            f"history before the issue hour; the longest has {longest:.1f} days "
            f"({len(history.households)} households with readings)"
        )
        summary = RunSummary(issued, skipped=[h.household for h in history.households], message=short)
        if stand_in:
            community = history.community.consumed_kw if history.community is not None else None
            _stand_in_run(sessions, models, summary, community, issue_at, utc_offset_hours, keep_days)
        return summary
    hours, forecast_households, community = [], set(), False
    choices = {}
    for name, model in models.refresh().items():
        kind = model.forecaster.config.kind
        items = [(member.household, *series_of(member, kind)) for member in members]
        items = [item for item in items if item[1] is not None]
        results = forecast_batch(model.forecaster, [(series, info) for _, series, info in items], issue_at)
        # The community first: it takes part in the choice whatever the number of households.
        ordered = sorted(items, key=lambda item: (item[0] != COMMUNITY, item[0].lower()))
        choice = serving.choose(model.forecaster, ordered, issue_at) if choose_model else None
        if choice is not None:
            choices[name] = choice
        for (key, series, info), result in zip(items, results, strict=True):
            if result is None:
                continue
            household = None if key == COMMUNITY else key
            served = "LSTM"
            if choice is not None:
                result = serving.serve(choice, model.forecaster, series, info, issue_at, result)
                served = "LSTM" if result.get("fallback") else choice.served
            hours += forecast_hours(
                issued, household, kind, result["p10"], result["p50"], result["p90"], model.version, served
            )
            if household is None:
                community = True
            else:
                forecast_households.add(household)
    skipped = sorted(h.household for h in history.households if h.household not in forecast_households)
    summary = RunSummary(
        issued,
        len(forecast_households),
        community,
        0,
        0,
        skipped,
        served={name: choice.served for name, choice in choices.items()},
        reasons={name: choice.reason for name, choice in choices.items()},
    )
    if not hours:
        summary.message = f"no forecast at {issue_at:%Y-%m-%d %H:%M} UTC: no series had a complete week"
        return summary
    with sessions.begin() as session:
        summary.hours_stored = save_forecasts(session, hours)
        if keep_days:
            summary.pruned = prune_forecasts(session, issued - int(keep_days * 86_400))
    summary.message = (
        f"stored {summary.hours_stored} forecast hours issued {issue_at:%Y-%m-%d %H:%M} UTC for "
        f"{summary.households} households"
        + (" and the community" if community else "")
        + (f"; {len(skipped)} households without a complete week of history" if skipped else "")
        + "".join(f"\n  {name}: served {choice.served} ({choice.reason})" for name, choice in choices.items())
    )
    return summary


def _stand_in_run(
    sessions: sessionmaker,
    models: ModelSet,
    summary: RunSummary,
    community_kw: pd.Series | None,
    issue_at: pd.Timestamp,
    utc_offset_hours: float,
    keep_days: float | None,
) -> None:
    """Store the community's load forecast from the stand-in history into ``summary``'s run (see stand_in)."""
    from backend.forecast.pipeline import forecast_batch
    from backend.forecast.stand_in import STAND_IN_SERVED, stand_in_series

    made = stand_in_series(community_kw, issue_at, utc_offset_hours)
    if isinstance(made, str):
        summary.message += f"; {made}"
        return
    series, info, level_kw = made
    hours = []
    for name, model in models.refresh().items():
        if model.forecaster.config.kind != "load":
            continue
        result = forecast_batch(model.forecaster, [(series, info)], issue_at)[0]
        if result is not None:
            hours += forecast_hours(
                summary.issued_at,
                None,
                "load",
                result["p10"],
                result["p50"],
                result["p90"],
                model.version,
                STAND_IN_SERVED,
            )
            summary.served[name] = STAND_IN_SERVED
    if not hours:
        return
    with sessions.begin() as session:
        summary.hours_stored = save_forecasts(session, hours)
        if keep_days:
            summary.pruned = prune_forecasts(session, summary.issued_at - int(keep_days * 86_400))
    summary.community = summary.stand_in = True
    summary.message += (
        f"; stored {summary.hours_stored} hours of a stand-in forecast of the community's load instead: the "
        f"shipped households' load shape at the community's measured mean of {level_kw:.2f} kW ({STAND_IN_SERVED})"
    )


def publish_run(sessions: sessionmaker, issued_at: int, emit: Callable[[dict, str | None], None]) -> int:
    """Push a stored run's day-ahead series live: each household's to it, the community's to everyone.

    ``emit(payload, household)`` is ``LiveEmitter.emit_forecast`` (backend.readmodel.emitter)
    in the backend, through the Redis queue; the payload is
    :func:`backend.forecast.advice.series_json` of that series' 24 h hours.
    Returns the number of events.
    """
    from backend.forecast.advice import series_json
    from backend.forecast.store import load_forecasts

    with sessions() as session:
        hours = load_forecasts(session, horizon_h=HOURS_PER_DAY, issued_at=issued_at)
    by_household: dict[str | None, list] = {}
    for hour in hours:
        by_household.setdefault(hour.household, []).append(hour)
    for household, rows in by_household.items():
        emit(series_json(rows), household)
    return len(by_household)


# --- the schedule ---


def next_run_at(now_s: float, every_s: float, offset_s: float = 0.0) -> float:
    """The first time after ``now_s`` that is ``offset_s`` past a multiple of ``every_s`` (unix s)."""
    return (math.floor((now_s - offset_s) / every_s) + 1) * every_s + offset_s


def run_every(
    job: Callable[[], object],
    every_s: float,
    offset_s: float = 0.0,
    max_runs: int | None = None,
    notify: Callable[[str], None] = print,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    retry_s: float | None = None,
    ready: Callable[[object], bool] = lambda result: True,
) -> int:
    """Run ``job`` now, then at every ``offset_s`` past a multiple of ``every_s`` (wall clock), until stopped.

    A failed run is logged and the schedule goes on: a database that is
    briefly down must not end the hourly forecasts. With ``retry_s``, a run
    that failed or whose result is not ``ready`` (no readings yet, less than
    a week of history) is tried again ``retry_s`` later instead of a whole
    period later, so a new community's first forecast follows its history
    within a minute. Returns the number of runs (after ``max_runs`` of them,
    when given).
    """
    if every_s <= 0:
        raise ValueError("every_s must be positive")
    if retry_s is not None and retry_s <= 0:
        raise ValueError("retry_s must be positive")
    runs = 0
    while True:
        done = False
        try:
            done = ready(job())
        except Exception as exc:  # noqa: BLE001 - the scheduler outlives one failed run, which it reports
            log.exception("forecast run failed")
            notify(f"forecast run failed: {exc!r}")
        runs += 1
        if max_runs is not None and runs >= max_runs:
            return runs
        wake = next_run_at(clock(), every_s, offset_s)
        if retry_s is not None and not done:
            wake = min(wake, clock() + retry_s)
        notify(f"next forecast run at {pd.Timestamp(wake, unit='s', tz='UTC'):%Y-%m-%d %H:%M:%S} UTC")
        sleep(max(0.0, wake - clock()))
