"""Writing a month's statements: a CSV and a PDF per member."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from backend.statements.compose import MonthEvents, build_statements, month_intervals
from backend.statements.files import statement_dir, write_csv
from backend.statements.pdf import render_pdf
from backend.tariffs.schema import Schedule

SPANISH_ZONES = ("Europe/Madrid", "Atlantic/Canary", "Africa/Ceuta")


def default_language(zone) -> str:
    """The members' language when none is given: Spanish for a Spanish community, else English."""
    return "es" if str(zone) in SPANISH_ZONES else "en"


@dataclass(frozen=True)
class Written:
    household: str
    total: Decimal
    without: Decimal
    saving: Decimal
    csv: Path
    pdf: Path | None


# The month's events for forked workers: inherited, never pickled (millions of rows).
_JOB: dict = {}


def _write_some(households: list[str] | None) -> list[Written]:
    job = _JOB
    events, month, schedule_for, zone, folder = (
        job["events"],
        job["month"],
        job["schedule_for"],
        job["zone"],
        job["folder"],
    )
    written = []
    for statement in build_statements(events, month, schedule_for, zone, households):
        csv_path = write_csv(statement, folder)
        pdf_path = None
        if job["pdf"]:
            lang = job["chosen"].get(statement.household.lower(), job["language"] or default_language(zone))
            names = ", ".join(sorted({schedule_for(v.schedule_hash).name for v in statement.versions}))
            pdf_path = render_pdf(
                statement, folder / f"{statement.household}.pdf", lang, zone, events.interval_seconds, names
            )
        written.append(
            Written(
                statement.household, statement.bill.total, statement.without.total, statement.saving, csv_path, pdf_path
            )
        )
    return written


def write_statements(
    events: MonthEvents,
    month: str,
    schedule_for: Callable[[bytes], Schedule],
    zone,
    root: Path,
    households: Iterable[str] | None = None,
    language: str | None = None,
    languages: dict[str, str] | None = None,
    pdf: bool = True,
    workers: int = 1,
) -> list[Written]:
    """Each member's statement into <root>/<month>/; `languages` maps households to "es"/"en". With `workers`
    > 1 the members are split over forked processes, which inherit the events."""
    folder = statement_dir(root, month)
    _JOB.update(
        events=events,
        month=month,
        schedule_for=schedule_for,
        zone=zone,
        folder=folder,
        pdf=pdf,
        language=language,
        chosen={h.lower(): lang for h, lang in (languages or {}).items()},
    )
    try:
        # The month's members; the grouped month is built here, before workers fork, and inherited.
        members = list(events.table(month_intervals(month, zone, events.interval_seconds)).members)
        if households is not None:
            members = sorted(set(members) & {h.lower() for h in households})
        if workers <= 1 or len(members) < 2:
            return _write_some(members)
        import multiprocessing

        chunks = [members[i :: workers * 4] for i in range(workers * 4)]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_write_some, [c for c in chunks if c])
        return sorted((w for part in parts for w in part), key=lambda w: w.household.lower())
    finally:
        _JOB.clear()
