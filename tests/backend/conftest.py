"""Databases for the storage tests: a SQLite file and a real PostgreSQL, each test run on both.

PostgreSQL is reached through its maintenance database ($VATIO_TEST_POSTGRES_URL,
default postgres@127.0.0.1:5432); every database made here has a random name
and is dropped when the session ends.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, delete
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from backend.db.migrate import upgrade
from backend.db.models import Base
from backend.db.session import make_engine, session_factory

POSTGRES_URL_ENV = "VATIO_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_KINDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def make_postgres_database() -> Iterator[Callable[[], URL]]:
    """Create fresh, randomly named PostgreSQL databases on demand; drop them all at the end."""
    maintenance_url = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    maintenance = create_engine(maintenance_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with maintenance.connect():
            pass
    except OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {maintenance_url.render_as_string(hide_password=True)}; "
            f"start it or point {POSTGRES_URL_ENV} at a maintenance database ({exc.orig})"
        )
    created: list[str] = []

    def create() -> URL:
        name = f"vatio_test_{secrets.token_hex(6)}"
        with maintenance.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        return maintenance_url.set(database=name)

    yield create
    with maintenance.connect() as connection:
        for name in created:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    maintenance.dispose()


@pytest.fixture(scope="session", params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def empty_database_url(
    db_kind: str, tmp_path_factory: pytest.TempPathFactory, make_postgres_database: Callable[[], URL]
) -> str:
    """A database with no tables yet."""
    if db_kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'vatio.db'}"
    return make_postgres_database().render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_engine(
    db_kind: str, tmp_path_factory: pytest.TempPathFactory, make_postgres_database: Callable[[], URL]
) -> Iterator[Engine]:
    """An engine on a database migrated to head, shared by the tests of one kind."""
    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'vatio.db'}"
    else:
        url = make_postgres_database().render_as_string(hide_password=False)
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(migrated_engine: Engine) -> Iterator[Session]:
    """A session on the migrated database; every table is emptied afterwards."""
    session = session_factory(migrated_engine)()
    try:
        yield session
    finally:
        session.rollback()
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        session.commit()
        session.close()
