"""Fills found by order and by household without scanning every fill.

Every interval adds about one Filled event per trading household (auto
orders), so after a month a 1,000-household community holds over a million.
The web app asks two questions of them on its hot paths: the fills of a few
resting orders (the open orders, the community summary's energy for sale,
the order book) and the fills of one household (its page). Both filter on a
JSON argument, which no index covered: each was a scan of every fill.

Two partial expression indexes over Filled events only answer them by
lookup. The expressions are exactly what ``backend.web.events.arg_text``
renders on each database (``args ->> 'name'`` on PostgreSQL, the cast of
``JSON_EXTRACT`` on SQLite), since a database only uses an expression index
for the same expression. They are not in ``backend.db.models``: SQLAlchemy's
metadata cannot spell a dialect-specific expression index, and Alembic's
comparison skips expression indexes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {"ix_chain_events_filled_order_id": "orderId", "ix_chain_events_filled_household": "household"}


def _expression(dialect: str, name: str) -> str:
    if dialect == "postgresql":
        return f"(args ->> '{name}')"
    if dialect == "sqlite":
        return f"CAST(JSON_EXTRACT(args, '$.\"{name}\"') AS VARCHAR)"
    raise NotImplementedError(f"no fill indexes for {dialect}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for index, argument in INDEXES.items():
        op.execute(f"CREATE INDEX {index} ON chain_events ({_expression(dialect, argument)}) WHERE event = 'Filled'")


def downgrade() -> None:
    for index in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {index}")
