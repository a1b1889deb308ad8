"""Which model produced each stored forecast hour (issue 18).

The forecaster now chooses per series among the LSTM, the ridge, a blend and
the simple models; ``served_model`` names the one whose values a row holds
(``model_version`` stays the artifact). Rows stored before this revision were
all made by the LSTM, hence the default.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("forecasts") as batch:
        batch.add_column(sa.Column("served_model", sa.String(length=64), server_default="LSTM", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("forecasts") as batch:
        batch.drop_column("served_model")
