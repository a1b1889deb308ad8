"""A session factory on a migrated database (SQLite and PostgreSQL), emptied after each test."""

import pytest
from sqlalchemy import delete

from backend.db.models import Meter, Reading, Rejection
from backend.db.session import session_factory


@pytest.fixture
def sessions(migrated_engine):
    factory = session_factory(migrated_engine)
    yield factory
    with factory() as session:
        for table in (Reading, Rejection, Meter):
            session.execute(delete(table))
        session.commit()
