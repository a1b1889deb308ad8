"""Reading the contract events the indexer stored in chain_events.

The indexer stores each log's decoded arguments under their ABI names;
integers may be JSON numbers or decimal strings (uint256), bytes32 values
0x hex. `arg_int` reads either. Arguments are matched in SQL as text
(the JSON value as a string), which is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from backend.db.models import ChainEvent

__all__ = ["arg_int", "arg_matches", "arg_text"]


def arg_int(args: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
    """Return an integer argument stored as a JSON number or a decimal (or 0x hex) string."""
    value = args.get(name, default)
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith("0x") else int(value)
    raise ValueError(f"event argument {name} is not an integer: {value!r}")


def arg_text(name: str) -> ColumnElement[str]:
    """The JSON argument as SQL text, for comparisons that work on both databases.

    Renders ``args ->> 'name'`` on PostgreSQL and ``CAST(JSON_EXTRACT(args,
    '$."name"') AS VARCHAR)`` on SQLite: the expressions migration 0004
    indexes for Filled events (orderId, household), so keep them as they are.
    """
    return ChainEvent.args[name].as_string()


def arg_matches(name: str, values: Iterable[Any]) -> ColumnElement[bool]:
    """SQL: the argument equals one of values (compared as text)."""
    return arg_text(name).in_([str(v) for v in values])
