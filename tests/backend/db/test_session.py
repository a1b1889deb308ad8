"""Engine configuration: URLs from the environment, SQLite pragmas, failing fast, migrating from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

import backend.db.session as session_module
from backend.db.migrate import ALEMBIC_INI, current_revision, head_revision, upgrade
from backend.db.models import Interval
from backend.db.session import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    DatabaseConfigError,
    database_url,
    make_engine,
    parse_database_url,
    session_factory,
)

pytestmark = pytest.mark.slow  # several processes migrating one database at once

REPO_ROOT = Path(session_module.__file__).resolve().parents[2]


def test_the_default_database_is_var_vatio_db_in_the_repository():
    assert database_url({}) == DEFAULT_DATABASE_URL
    assert f"sqlite:///{REPO_ROOT / 'var' / 'vatio.db'}" == DEFAULT_DATABASE_URL
    assert database_url({DATABASE_URL_ENV: " sqlite:///x.db "}) == "sqlite:///x.db"
    assert database_url({DATABASE_URL_ENV: ""}) == DEFAULT_DATABASE_URL


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mysql://user@host/vatio",
        "postgresql+psycopg2://user@host/vatio",
        "postgresql+psycopg://user@host",  # no database
        "sqlite+pysqlcipher:///x.db",
    ],
)
def test_a_bad_url_fails_fast_with_a_clear_error(url: str):
    with pytest.raises(DatabaseConfigError, match=DATABASE_URL_ENV):
        make_engine(url)


def test_errors_never_show_the_password():
    with pytest.raises(DatabaseConfigError) as refused:
        parse_database_url("mysql://vatio:hunter2@host/vatio")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("url", ["postgresql://u@h/vatio", "postgres://u@h/vatio", "postgresql+psycopg://u@h/vatio"])
def test_postgresql_urls_use_psycopg_3(url: str):
    assert parse_database_url(url).drivername == "postgresql+psycopg"


def test_sqlite_engines_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'vatio.db'}")  # parent folders are created
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def test_sqlite_savepoints_roll_back_inside_the_transaction(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'vatio.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            session.add(Interval(interval_id=1))
            nested = session.begin_nested()
            session.add(Interval(interval_id=2))
            session.flush()
            nested.rollback()
            session.rollback()  # the outer rollback must undo interval 1 too
            assert session.scalars(select(Interval.interval_id)).all() == []
    finally:
        engine.dispose()


def test_alembic_command_line_migrates_the_configured_database_from_any_folder(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, DATABASE_URL_ENV: url}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", "head"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert current_revision(url) == head_revision()


def test_processes_upgrading_at_once_take_turns(empty_database_url: str):
    # Alembic keeps its context in module globals, so this takes real processes, not threads.
    migrate = f"from backend.db.migrate import upgrade; upgrade({empty_database_url!r})"
    processes = [
        subprocess.Popen([sys.executable, "-c", migrate], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    assert current_revision(empty_database_url) == head_revision()
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()
