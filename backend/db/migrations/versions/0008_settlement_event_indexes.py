"""Settlement events found by interval and by household without reading whole settlement transactions.

A household's interval history (`/api/households/<a>/intervals`, and the
ten recent intervals on its page) finds its HouseholdSettled events through
the settlement transactions of the intervals it lists
(backend.web.events.household_settled): first the IntervalSettled and
ChunkSettled events of those intervals, by their intervalId argument, then
the household's HouseholdSettled events in those transactions. Neither had
an index: the first scanned every settlement event, the second read every
log of each transaction (one HouseholdSettled and about one Filled per
household), about 2,000 rows per interval at 1,000 households. A page of 100
intervals read 200,000 rows (benchmarks/bench_web.py: 340 ms).

Two partial indexes over those events only, on the expressions
``backend.readmodel.args.arg_text`` renders (see migration 0004: a database
uses an expression index only for the same expression):

* IntervalSettled and ChunkSettled by intervalId (one row per settlement
  transaction: small);
* HouseholdSettled by (tx_hash, household): one lookup per transaction.

The queries stay as they were; only their plans change.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTLED_BY_INTERVAL = "ix_chain_events_settled_interval_id"
HOUSEHOLD_SETTLED_BY_TX = "ix_chain_events_household_settled_tx"


def _argument(dialect: str, name: str) -> str:
    """What backend.readmodel.args.arg_text renders for one JSON argument on this database."""
    if dialect == "postgresql":
        return f"(args ->> '{name}')"
    if dialect == "sqlite":
        return f"CAST(JSON_EXTRACT(args, '$.\"{name}\"') AS VARCHAR)"
    raise NotImplementedError(f"no settlement event indexes for {dialect}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(
        f"CREATE INDEX {SETTLED_BY_INTERVAL} ON chain_events ({_argument(dialect, 'intervalId')}) "
        "WHERE event IN ('IntervalSettled', 'ChunkSettled')"
    )
    op.execute(
        f"CREATE INDEX {HOUSEHOLD_SETTLED_BY_TX} ON chain_events (tx_hash, {_argument(dialect, 'household')}) "
        "WHERE event = 'HouseholdSettled'"
    )


def downgrade() -> None:
    for index in (SETTLED_BY_INTERVAL, HOUSEHOLD_SETTLED_BY_TX):
        op.execute(f"DROP INDEX IF EXISTS {index}")
