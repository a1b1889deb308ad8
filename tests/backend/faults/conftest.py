"""Fixtures of the fault tests: each starts something real and stops it when the test ends.

A community on its own Anvil (its deployment file in tmp_path), a private
Mosquitto with the repo's config, a migrated SQLite or PostgreSQL database,
`vatio oracle` as a subprocess, and a fleet of meters publishing signed
readings in real time.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fault_helpers import (
    Community,
    Database,
    MeterFleet,
    OracleLogWarning,
    OracleProcess,
    PrivateBroker,
    ReconnectingPublisher,
    build_community,
)

from backend.db.migrate import upgrade
from backend.db.session import make_engine


@pytest.fixture
def make_community(tmp_path: Path) -> Iterator[Callable[..., Community]]:
    """build_community(...) for this test; its nodes are stopped at the end."""
    built: list[Community] = []

    def build(**options) -> Community:
        community = build_community(tmp_path, **options)
        built.append(community)
        return community

    yield build
    for community in built:
        community.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A private Mosquitto with the repo's config (unbounded QoS 1 queues, persistence) on a free port.

    Private even where nothing restarts it: the shared broker's queue limits
    are not the repo's, and other tests load it."""
    started = PrivateBroker(tmp_path / "mosquitto")
    yield started
    started.stop()


@pytest.fixture
def make_database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Database]]:
    """A migrated database: 'sqlite' (a file in tmp_path) or 'postgresql' (a fresh, randomly named database)."""
    made: list[Database] = []

    def make(kind: str = "sqlite") -> Database:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / 'oracle.db'}"
        else:
            url = request.getfixturevalue("make_postgres_database")().render_as_string(hide_password=False)
        upgrade(url)
        database = Database(url, make_engine(url))
        made.append(database)
        return database

    yield make
    for database in made:
        database.engine.dispose()


@pytest.fixture
def make_oracle(tmp_path: Path) -> Iterator[Callable[..., OracleProcess]]:
    """OracleProcess(...) for this test; still-running oracles are stopped (SIGTERM) at the end."""
    made: list[OracleProcess] = []

    def make(community: Community, broker: PrivateBroker, database: Database, **options) -> OracleProcess:
        options.setdefault("archive_dir", tmp_path / "archive")
        oracle = OracleProcess(community, broker, database, log_dir=tmp_path, **options)
        made.append(oracle)
        return oracle

    yield make
    for oracle in made:
        oracle.stop()
        # Tracebacks the oracle logged but recovered from (a retried batch or settler pass) do not fail
        # the test; they are reported so that they are seen.
        for traceback, count in Counter(oracle.tracebacks()).items():
            warnings.warn(OracleLogWarning(f"the oracle logged {count}x: {traceback}"), stacklevel=1)


@pytest.fixture
def make_fleet() -> Iterator[Callable[[Community, PrivateBroker], MeterFleet]]:
    """A MeterFleet publishing through a reconnecting paho client; stopped at the end."""
    fleets: list[MeterFleet] = []

    def make(community: Community, broker: PrivateBroker) -> MeterFleet:
        fleet = MeterFleet(community, ReconnectingPublisher(broker.url))
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        fleet.close()
