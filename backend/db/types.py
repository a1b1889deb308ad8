"""Column types and SQL defaults shared by the models and the migrations.

Migrations import from here, so what is defined here must never change
meaning: add new names instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

# The largest value a signed 64-bit column holds on both SQLite and PostgreSQL.
# Uint64 fields of a reading above it cannot be stored and must be rejected first.
MAX_STORED_INT = 2**63 - 1

# Surrogate keys: BIGINT on PostgreSQL, but INTEGER on SQLite, where only
# "INTEGER PRIMARY KEY" is the auto-incrementing rowid.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class unix_now(FunctionElement[int]):  # noqa: N801 - named like the SQL functions it stands for
    """The database's current time as integer unix seconds (UTC)."""

    type = BigInteger()
    inherit_cache = True


@compiles(unix_now, "sqlite")
def _unix_now_sqlite(element: unix_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(strftime('%s', 'now') AS INTEGER)"


@compiles(unix_now, "postgresql")
def _unix_now_postgresql(element: unix_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(floor(extract(epoch FROM now())) AS BIGINT)"
