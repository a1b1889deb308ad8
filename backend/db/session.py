"""Engines and sessions: SQLite by default, PostgreSQL (psycopg 3) in production.

The database URL comes from ``VATIO_DATABASE_URL``; without it the embedded
default is ``vatio.db`` under the var root ($VATIO_VAR_DIR, else <repo>/var).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from backend.paths import VAR_DIR, var_dir

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "DatabaseConfigError",
    "database_url",
    "make_engine",
    "parse_database_url",
    "session_factory",
]

DATABASE_URL_ENV = "VATIO_DATABASE_URL"
DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'vatio.db'}"
# How long a SQLite writer waits for another's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_BEGIN_MODES = ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")


class DatabaseConfigError(ValueError):
    """A database URL that names no supported database or driver."""


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """Return the configured database URL: $VATIO_DATABASE_URL, else vatio.db under the var root."""
    environ = os.environ if environ is None else environ
    return environ.get(DATABASE_URL_ENV, "").strip() or f"sqlite:///{var_dir(environ) / 'vatio.db'}"


def parse_database_url(url: str | URL) -> URL:
    """Parse and check a URL, choosing psycopg 3 for PostgreSQL; raise DatabaseConfigError if unusable."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV}: cannot parse database URL {_redacted(url)!r}; expected "
            "sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/dbname"
        ) from exc
    # From the URL text: asking SQLAlchemy for the driver would import it, or fail on "postgres".
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise DatabaseConfigError(f"{DATABASE_URL_ENV}: unsupported SQLite driver {driver!r}; use sqlite:///")
        return parsed
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise DatabaseConfigError(
                f"{DATABASE_URL_ENV}: unsupported PostgreSQL driver {driver!r}; use postgresql+psycopg://"
            )
        if not parsed.database:
            raise DatabaseConfigError(f"{DATABASE_URL_ENV}: {_redacted(parsed)!r} names no database")
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseConfigError(
        f"{DATABASE_URL_ENV}: unsupported database {backend!r} in {_redacted(parsed)!r}; "
        "use sqlite:/// or postgresql+psycopg://"
    )


def make_engine(url: str | URL | None = None, **engine_kwargs: Any) -> Engine:
    """Create an engine for `url` (default: the configured URL), set up for this project's use."""
    parsed = parse_database_url(database_url() if url is None else url)
    if parsed.drivername.startswith("sqlite"):
        return _sqlite_engine(parsed, **engine_kwargs)
    engine_kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **engine_kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session maker; objects stay readable after commit (they are handed to emitters)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def _sqlite_engine(url: URL, **engine_kwargs: Any) -> Engine:
    in_memory = url.database in (None, "", ":memory:") or (url.query.get("mode") == "memory")
    if not in_memory:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **engine_kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # The sqlite3 module's legacy mode never BEGINs before SELECT or
        # SAVEPOINT, which breaks savepoints and transactional DDL; SQLAlchemy
        # emits BEGIN itself instead (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                # Readers never block the writer, and the writer never blocks readers.
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        # execution_options(sqlite_begin="IMMEDIATE") takes the write lock up front: a
        # writer that first reads then writes otherwise fails with SQLITE_BUSY when
        # another writer committed in between, without waiting on the busy timeout.
        mode = options.get("sqlite_begin", "DEFERRED")
        if mode not in SQLITE_BEGIN_MODES:
            raise DatabaseConfigError(f"sqlite_begin must be one of {SQLITE_BEGIN_MODES}, got {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _redacted(url: str | URL) -> str:
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"
