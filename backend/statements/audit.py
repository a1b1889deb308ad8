"""Re-deriving every statement line, to the cent, from chain events and the tariff files found by their on-chain hash.

Problems are sentences naming the household, the line and both values; any problem means exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from backend.statements.compose import (
    CSV_COLUMNS,
    FLAT_HASH,
    MonthEvents,
    Statement,
    build_statements,
    row_key,
    statement_csv,
    statement_lines,
    statement_rows,
)
from backend.statements.files import read_csv, read_text
from backend.tariffs.schema import Schedule, TariffError

COMPARED = ("household", "quantity", "unit", "price", "amount_eur")


def community_zone(events: MonthEvents, schedule_for: Callable[[bytes], Schedule]):
    """The time zone of the newest registered schedule: the months are local to it."""
    for version in sorted(events.versions, key=lambda v: -v.version):
        if version.schedule_hash != FLAT_HASH:
            return schedule_for(version.schedule_hash).zone
    raise TariffError("no tariff schedule is registered on-chain (only flat tariffs): there is nothing to bill by")


def _describe(row: dict[str, str]) -> str:
    return row["amount_eur"] or row["quantity"] or row["price"] or "(empty)"


def compare(household: str, expected: list[dict[str, str]], actual: list[dict[str, str]]) -> list[str]:
    problems = []
    wanted = {row_key(r): r for r in expected}
    found: dict[str, dict[str, str]] = {}
    for row in actual:
        key = row_key(row)
        if key in found:
            problems.append(f"household {household}: line {key} appears twice in the statement")
        found[key] = row
    for key, row in wanted.items():
        if key not in found:
            what = "settled interval" if row["section"] == "interval" else "line"
            problems.append(
                f"household {household}: {what} {key} is missing from the statement (re-derived {_describe(row)})"
            )
            continue
        for column in COMPARED:
            if found[key][column] != row[column]:
                problems.append(
                    f"household {household}: line {key} {column}: statement {found[key][column]!r}, "
                    f"re-derived {row[column]!r}"
                )
    for key, row in found.items():
        if key not in wanted:
            problems.append(
                f"household {household}: line {key} is in the statement but not re-derived from the "
                f"chain (statement {_describe(row)})"
            )
    return problems


def _named_once(statement: Statement) -> bool:
    """No two re-derived rows share a name (row_key). Interval and unbilled rows are named by their section and
    interval id only, so they are checked on the ids."""
    ids = statement.energy.columns["interval_id"]  # in interval order
    if len(ids) > 1 and not (ids[1:] != ids[:-1]).all():
        return False
    if len(set(statement.skipped)) != len(statement.skipped):
        return False
    rows = statement_lines(statement, intervals=False)
    return len({row_key(dict(zip(CSV_COLUMNS, row, strict=True))) for row in rows}) == len(rows)


def audit_statements(
    folder: Path, month: str, events: MonthEvents, schedule_for: Callable[[bytes], Schedule]
) -> tuple[int, list[str]]:
    """(statements checked, problems) for every statement file of `month` in `folder`."""
    problems: list[str] = []
    try:
        zone = community_zone(events, schedule_for)
        derived = build_statements(events, month, schedule_for, zone)
    except TariffError as error:
        return 0, [f"tariff: {problem}" for problem in error.problems]
    files = {path.stem.lower(): path for path in Path(folder).glob("*.csv")} if Path(folder).is_dir() else {}
    for statement in derived:
        path = files.pop(statement.household.lower(), None)
        if path is None:
            problems.append(
                f"household {statement.household}: settled intervals in {month} but no statement file in {folder}"
            )
            continue
        try:
            if read_text(path) == statement_csv(statement) and _named_once(statement):
                continue  # every line as re-derived, each named once: compare() would find nothing
            actual = read_csv(path)
        except (OSError, ValueError, UnicodeDecodeError) as error:
            problems.append(f"household {statement.household}: unreadable statement {path.name}: {error}")
            continue
        problems += compare(statement.household, statement_rows(statement), actual)
    for _, path in sorted(files.items()):
        problems.append(f"household {path.stem}: statement {path.name} has no settled interval on-chain in {month}")
    return len(derived), problems
