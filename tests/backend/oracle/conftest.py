"""A session factory on a migrated database (SQLite and PostgreSQL), emptied after each test."""

import pytest
from sqlalchemy import delete

from backend.db.models import Interval, IntervalEntry, Meter, MeterStatus, Reading, Rejection, SettlementOutbox
from backend.db.session import session_factory


@pytest.fixture
def sessions(migrated_engine):
    factory = session_factory(migrated_engine)
    yield factory
    with factory() as session:
        # Children before parents: the foreign keys hold during the cleanup too.
        for table in (IntervalEntry, SettlementOutbox, Interval, Reading, Rejection, Meter, MeterStatus):
            session.execute(delete(table))
        session.commit()
