"""Which settler acts: leader election through a PostgreSQL advisory lock.

Every `vatio oracle --role settle` process opens one dedicated connection and
asks `pg_try_advisory_lock(key)` on it, the key derived from the community's
chain and market. The one that gets it is the leader and settles while it
holds that connection; the others stand by and ask again every poll.
PostgreSQL releases a session's advisory locks when the session ends, so a
leader that dies (kill -9, a crash, its host gone) frees the lock and the next
standby to ask takes over; nothing else has to be cleaned up, since the
settler resumes from the database and the outbox (docs/outbox.md).

A host that vanishes without closing its socket is noticed through TCP
keepalives set on the lock's session (server side) and connection (client
side): within about KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_COUNT
seconds, well inside the default grace of 60 s. A leader whose lock
connection fails stops settling at once, before its next pass.

SQLite has no advisory locks and one writer: with SQLite, run one settling
process only (`SingleProcessLeader` leads unconditionally).

The lock's session names itself `vatio-settler <chainId> <host>:<pid>` in
pg_stat_activity, which is how /api/health tells who leads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from typing import Protocol

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

__all__ = [
    "AdvisoryLockLeader",
    "Leader",
    "SingleProcessLeader",
    "leader_for",
    "settler_lock_key",
    "SETTLER_APPLICATION_PREFIX",
]

log = logging.getLogger(__name__)

SETTLER_APPLICATION_PREFIX = "vatio-settler"
KEEPALIVE_IDLE_S = 5
KEEPALIVE_INTERVAL_S = 2
KEEPALIVE_COUNT = 3
CONNECT_TIMEOUT_S = 5


def settler_lock_key(chain_id: int, market_address: str) -> int:
    """The advisory lock's key: a signed 64-bit number from the community's chain and market."""
    digest = hashlib.sha256(f"vatio-settler:{chain_id}:{market_address.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leader(Protocol):
    def lead(self) -> bool:
        """True while this process may settle: take the lead if it is free, keep it if held."""

    def leading(self) -> bool:
        """True while this process holds the lead (no database round trip)."""

    def release(self) -> None:
        """Give the lead up (clean shutdown)."""


class SingleProcessLeader:
    """SQLite: one settling process by definition; it always leads."""

    def lead(self) -> bool:
        return True

    def leading(self) -> bool:
        return True

    def release(self) -> None:
        pass


class AdvisoryLockLeader:
    """Holds pg_try_advisory_lock(key) on one dedicated connection while leading."""

    def __init__(self, database_url: str, key: int, name: str, clock=time.monotonic):
        url = make_url(database_url)
        if url.get_backend_name() != "postgresql":
            raise ValueError(f"advisory-lock leader election needs PostgreSQL, got {url.get_backend_name()}")
        self.key = key
        self.name = name[:63]  # PostgreSQL's application_name limit
        self.clock = clock
        self.engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "application_name": self.name,
                "connect_timeout": CONNECT_TIMEOUT_S,
                "keepalives": 1,
                "keepalives_idle": KEEPALIVE_IDLE_S,
                "keepalives_interval": KEEPALIVE_INTERVAL_S,
                "keepalives_count": KEEPALIVE_COUNT,
            },
        )
        self._connection: Connection | None = None
        self._leading = False
        self.led_since: float | None = None

    def leading(self) -> bool:
        return self._leading

    def lead(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._open()
            if self._leading:
                # Still the same session, so still the lock's holder; a dropped connection raises here.
                self._connection.execute(text("SELECT 1")).scalar_one()
                return True
            if self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar_one():
                self._leading, self.led_since = True, self.clock()
                log.info("settler %s took the lead (advisory lock %d)", self.name, self.key)
            return self._leading
        except DBAPIError as error:
            if self._leading:
                log.error("settler %s lost its lock connection (%s): standing by", self.name, error.orig)
            self._drop()
            return False

    def release(self) -> None:
        if self._connection is not None and self._leading:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except DBAPIError:
                pass  # the session is gone, and the lock with it
        self._drop()
        self.engine.dispose()

    def _open(self) -> Connection:
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        # The server drops the session (and the lock) of a host that vanished without closing its socket.
        for setting, value in (
            ("tcp_keepalives_idle", KEEPALIVE_IDLE_S),
            ("tcp_keepalives_interval", KEEPALIVE_INTERVAL_S),
            ("tcp_keepalives_count", KEEPALIVE_COUNT),
        ):
            connection.execute(text(f"SET {setting} = {int(value)}"))
        return connection

    def _drop(self) -> None:
        self._leading, self.led_since = False, None
        if self._connection is not None:
            try:
                self._connection.close()
            except DBAPIError:
                pass
            self._connection = None


def leader_for(database_url: str, chain_id: int, market_address: str) -> Leader:
    """The election for this database: an advisory lock on PostgreSQL, a single process on SQLite."""
    if make_url(database_url).get_backend_name() != "postgresql":
        return SingleProcessLeader()
    name = f"{SETTLER_APPLICATION_PREFIX} {chain_id} {socket.gethostname()}:{os.getpid()}"
    return AdvisoryLockLeader(database_url, settler_lock_key(chain_id, market_address), name)
