"""Bring a database's schema to the current migration (``alembic upgrade head``), in process."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from backend.db.session import database_url, make_engine, parse_database_url

__all__ = ["alembic_config", "current_revision", "downgrade", "head_revision", "upgrade"]

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config(url: str | URL | None = None) -> Config:
    """Return the project's Alembic config, aimed at `url` (default: the configured database)."""
    parsed = parse_database_url(database_url() if url is None else url)  # fail fast, before Alembic
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = parsed.render_as_string(hide_password=False)
    config.attributes["configure_logging"] = False  # the calling program owns logging
    return config


def upgrade(url: str | URL | None = None, revision: str = "head") -> None:
    """Migrate the database up to `revision`; a no-op when it is already there."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL | None, revision: str) -> None:
    """Migrate the database down to `revision` ("base" drops every table)."""
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """Return the newest migration's revision id."""
    return ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_current_head()


def current_revision(url: str | URL | None = None) -> str | None:
    """Return the revision the database is at, or None when it was never migrated."""
    engine = make_engine(database_url() if url is None else url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
