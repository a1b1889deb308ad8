"""Re-deriving every statement line, to the cent, from chain events and the tariff files found by their on-chain hash.

Problems are sentences naming the household, the line and both values; any problem means exit 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from backend.statements.compose import FLAT_HASH, MonthEvents, build_statements, row_key, statement_rows
from backend.statements.files import read_csv
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
            actual = read_csv(path)
        except (OSError, ValueError, UnicodeDecodeError) as error:
            problems.append(f"household {statement.household}: unreadable statement {path.name}: {error}")
            continue
        problems += compare(statement.household, statement_rows(statement), actual)
    for _, path in sorted(files.items()):
        problems.append(f"household {path.stem}: statement {path.name} has no settled interval on-chain in {month}")
    return len(derived), problems
