"""Alembic environment: migrate Vatio's database to the models in backend.db.models.

The URL is, in order: ``config.attributes["database_url"]`` (set by
``backend.db.migrate``), ``$VATIO_DATABASE_URL``, then ``sqlalchemy.url`` in
alembic.ini. A caller may also hand over an open connection as
``config.attributes["connection"]``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

from backend.db.models import Base
from backend.db.session import DATABASE_URL_ENV, make_engine

config = context.config
target_metadata = Base.metadata
# Any fixed 64-bit number: PostgreSQL processes that migrate at the same time take turns.
MIGRATION_LOCK_KEY = 0x7661_7469_6F5F_6462  # "vatio_db"

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = (
        config.attributes.get("database_url")
        or os.environ.get(DATABASE_URL_ENV, "").strip()
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError(f"no database URL: set {DATABASE_URL_ENV} or sqlalchemy.url in alembic.ini")
    return url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite alters a table by copying it; generated migrations stay portable.
        render_as_batch=True,
        compare_type=True,
        compare_server_default=True,
        # DDL is transactional on both databases (session.py makes sqlite3 emit BEGIN),
        # so a failed migration leaves the schema as it was.
        transactional_ddl=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Write the migration SQL instead of running it (alembic upgrade --sql)."""
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite and not connection.in_transaction():
        # Batch mode rebuilds a table by copy, drop and rename, which foreign keys would
        # refuse or cascade; the pragma only takes effect outside a transaction.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        # Take the write lock at BEGIN, so two processes migrating at once take turns.
        connection = connection.execution_options(sqlite_begin="IMMEDIATE")
    _configure(connection=connection)
    try:
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            context.run_migrations()
            if is_sqlite:
                violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if violations:
                    raise RuntimeError(f"migration left rows that break foreign keys: {violations[:10]}")
    finally:
        if is_sqlite and not connection.in_transaction():
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_migrations(connection)
        return
    engine = make_engine(_database_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _run_migrations(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
