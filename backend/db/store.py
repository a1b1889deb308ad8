"""Writes the oracle repeats safely: readings that may be redelivered, rejections of any input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from backend.db.models import MAX_PAYLOAD_BYTES, MAX_TOPIC_CHARS, Reading, Rejection, checksum_address

__all__ = ["insert_reading_once", "insert_readings", "record_rejection", "truncate_payload"]


def insert_reading_once(session: Session, **fields: Any) -> bool:
    """Insert one reading; return False, changing nothing else, when (meter, seq) is already stored.

    The insert runs in a savepoint, so a duplicate (a QoS 1 redelivery) rolls
    back only itself: rows added earlier in the same transaction stay, and the
    session stays usable. Any other integrity error is raised.
    """
    reading = Reading(**fields)
    try:
        with session.begin_nested():
            session.add(reading)
            session.flush()
    except IntegrityError:
        already_stored = session.scalar(
            select(Reading.id).where(Reading.meter == reading.meter, Reading.seq == reading.seq)
        )
        if already_stored is None:
            raise
        return False
    return True


def insert_readings(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert many readings in one statement, skipping those whose (meter, seq) is stored; return how many were new.

    Rows bypass the ORM, whose per-row work cost more than the insert itself
    on the oracle's hot path: addresses must already be checksummed. SQLite
    gets the driver's executemany straight (a third of the cost through Core)
    and reports the rows it changed; PostgreSQL's batched insert does not, so
    there the new ids come back with RETURNING.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return 0
    session.flush()  # the ORM's autoflush is skipped here: meters added just before must exist first
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        dbapi = connection.dialect.loaded_dbapi
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(_SQLITE_INSERT_READINGS, [tuple(row[name] for name in _READING_COLUMNS) for row in rows])
            return cursor.rowcount
        except dbapi.Error as error:  # the same exception types as through SQLAlchemy (IntegrityError, ...)
            raise DBAPIError.instance(_SQLITE_INSERT_READINGS, None, error, dbapi.Error) from error
        finally:
            cursor.close()
    if dialect == "postgresql":
        return len(connection.execute(_POSTGRESQL_INSERT_READINGS, rows).all())
    raise ValueError(f"unsupported database {dialect!r}")


_READINGS = Reading.__table__
_READING_COLUMNS = (
    "meter",
    "household",
    "seq",
    "ts",
    "produced_wh",
    "consumed_wh",
    "power_w",
    "signature",
    "digest",
    "received_at",
)
_SQLITE_INSERT_READINGS = (
    f"INSERT INTO {_READINGS.name} ({', '.join(_READING_COLUMNS)}) VALUES ({', '.join('?' * len(_READING_COLUMNS))})"
    " ON CONFLICT (meter, seq) DO NOTHING"
)
_POSTGRESQL_INSERT_READINGS = (
    postgresql.insert(_READINGS)
    .on_conflict_do_nothing(index_elements=[_READINGS.c.meter, _READINGS.c.seq])
    .returning(_READINGS.c.id)
)


def truncate_payload(payload: bytes | str) -> bytes:
    """Return the first MAX_PAYLOAD_BYTES bytes of a raw message (text is stored as its UTF-8)."""
    raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload)
    return raw[:MAX_PAYLOAD_BYTES]


def _storable_text(value: str) -> str:
    # PostgreSQL text holds neither NUL nor lone surrogates; both can come from a hostile message.
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def record_rejection(
    session: Session,
    *,
    received_at: int,
    topic: str,
    reason: str,
    payload: bytes | str,
    meter: str | None = None,
    detail: str | None = None,
) -> Rejection:
    """Add a rejection row for any input, however malformed; never raises on what the message held."""
    raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload)
    if isinstance(meter, str):
        meter = meter.strip()
    try:
        meter = checksum_address(meter)
    except ValueError:
        meter = None  # a malformed address names no meter; the payload still shows it
    rejection = Rejection(
        received_at=received_at,
        topic=_storable_text(topic)[:MAX_TOPIC_CHARS],
        meter=meter,
        reason=reason,
        detail=None if detail is None else _storable_text(detail),
        payload=raw[:MAX_PAYLOAD_BYTES],
        payload_size=len(raw),
    )
    session.add(rejection)
    return rejection
