"""Shared bits for the benchmark scripts: timing, writing results, a throwaway PostgreSQL database."""

from __future__ import annotations

import json
import os
import platform
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
POSTGRES_URL = os.environ.get("VATIO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def median_ms(function, repeats: int) -> tuple[float, list[float]]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), samples


def write_results(name: str, figures: dict, details: dict | None = None, merge: bool = False) -> Path:
    """figures: the numeric keys later checks read; details: context for people.

    With `merge`, the figures and details of other scripts writing the same
    file are kept (several benchmarks share ingest.json)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = json.loads(path.read_text()) if merge and path.exists() else {}
    old_details = payload.pop("_details", {})
    payload.update(figures)
    payload["_details"] = {
        **old_details,
        "machine": platform.machine(),
        "python": platform.python_version(),
        **(details or {}),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written {path.relative_to(RESULTS_DIR.parent.parent)}")
    return path


@contextmanager
def throwaway_database(tag: str, keep: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL database named vatio_bench_<tag>_<random>, migrated to head, dropped afterwards
    (``keep``: left in place, and its URL printed, to run again on the same data).

    Like tests/backend/conftest.py: the server at $VATIO_TEST_POSTGRES_URL (a maintenance database).
    """
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from backend.db.migrate import upgrade

    maintenance_url = make_url(POSTGRES_URL)
    maintenance = create_engine(maintenance_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"vatio_bench_{tag}_{secrets.token_hex(4)}"
    with maintenance.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = maintenance_url.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        if keep:
            print(f"kept the database: --database {url}")
        else:
            with maintenance.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        maintenance.dispose()
