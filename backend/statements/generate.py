"""Writing a month's statements: a CSV and a PDF per member."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from backend.statements.compose import MonthEvents, Statement, build_statements
from backend.statements.files import statement_dir, write_csv
from backend.statements.pdf import render_pdf
from backend.tariffs.schema import Schedule

SPANISH_ZONES = ("Europe/Madrid", "Atlantic/Canary", "Africa/Ceuta")


def default_language(zone) -> str:
    """The members' language when none is given: Spanish for a Spanish community, else English."""
    return "es" if str(zone) in SPANISH_ZONES else "en"


@dataclass(frozen=True)
class Written:
    statement: Statement
    csv: Path
    pdf: Path | None


def write_statements(events: MonthEvents, month: str, schedule_for: Callable[[bytes], Schedule], zone, root: Path,
                     households: Iterable[str] | None = None, language: str | None = None,
                     languages: dict[str, str] | None = None, pdf: bool = True) -> list[Written]:
    """Each member's statement into <root>/<month>/; `languages` maps households to "es"/"en"."""
    folder = statement_dir(root, month)
    chosen = {h.lower(): lang for h, lang in (languages or {}).items()}
    written = []
    for statement in build_statements(events, month, schedule_for, zone, households):
        csv_path = write_csv(statement, folder)
        pdf_path = None
        if pdf:
            lang = chosen.get(statement.household.lower(), language or default_language(zone))
            names = {schedule_for(v.schedule_hash).name for v in statement.versions}
            pdf_path = render_pdf(statement, folder / f"{statement.household}.pdf", lang, zone,
                                  events.interval_seconds, ", ".join(sorted(names)))
        written.append(Written(statement, csv_path, pdf_path))
    return written
