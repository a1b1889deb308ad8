"""Statement files: `<dir>/<YYYY-MM>/<household>.csv` and `.pdf`."""

from __future__ import annotations

import csv
from pathlib import Path

from backend.statements.compose import CSV_COLUMNS, Statement, statement_csv


def statement_dir(root: Path, month: str) -> Path:
    return Path(root) / month


def write_csv(statement: Statement, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{statement.household}.csv"
    path.write_text(statement_csv(statement), encoding="utf-8", newline="")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise ValueError(f"{path.name}: not a statement CSV (columns {reader.fieldnames})")
        return list(reader)


def read_text(path: Path) -> str:
    """The file's text as written (newlines untranslated)."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return handle.read()
