"""Stored forecasts: P10/P50/P90 Wh per target hour, per household and for the community.

``vatio forecast run --source db`` writes them (backend/forecast/store.py);
the web API and the advice functions read them. A row is one hour of one
run (issued_at) of one series (household or NULL = community, kind load|pv,
horizon 24|168 h). The unique constraint makes storing a run idempotent;
since NULLs are distinct in it, a partial unique index does the same for the
community's rows. Hand-checked against backend/db/models.py; the storage
tests hold the two equal on SQLite and PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import BigIntId, unix_now

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forecasts",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("household", sa.String(length=42), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("horizon_h", sa.Integer(), nullable=False),
        sa.Column("target_ts", sa.BigInteger(), nullable=False),
        sa.Column("p10_wh", sa.BigInteger(), nullable=False),
        sa.Column("p50_wh", sa.BigInteger(), nullable=False),
        sa.Column("p90_wh", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint(
            "length(household) = 42 AND substr(household, 1, 2) = '0x'", name=op.f("ck_forecasts_household_address")
        ),
        sa.CheckConstraint("kind IN ('load', 'pv')", name=op.f("ck_forecasts_kind_known")),
        sa.CheckConstraint("horizon_h IN (24, 168)", name=op.f("ck_forecasts_horizon_h_known")),
        sa.CheckConstraint("issued_at >= 0", name=op.f("ck_forecasts_issued_at_non_negative")),
        sa.CheckConstraint("p10_wh >= 0", name=op.f("ck_forecasts_p10_wh_non_negative")),
        sa.CheckConstraint("issued_at % 3600 = 0", name=op.f("ck_forecasts_issued_at_hour_start")),
        sa.CheckConstraint("target_ts % 3600 = 0", name=op.f("ck_forecasts_target_ts_hour_start")),
        sa.CheckConstraint(
            "target_ts >= issued_at AND target_ts < issued_at + horizon_h * 3600",
            name=op.f("ck_forecasts_target_within_horizon"),
        ),
        sa.CheckConstraint("p10_wh <= p50_wh AND p50_wh <= p90_wh", name=op.f("ck_forecasts_quantiles_ordered")),
        sa.CheckConstraint("length(model_version) >= 1", name=op.f("ck_forecasts_model_version_given")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecasts")),
        sa.UniqueConstraint(
            "issued_at",
            "household",
            "kind",
            "horizon_h",
            "target_ts",
            name=op.f("uq_forecasts_issued_at_household_kind_horizon_h_target_ts"),
        ),
    )
    op.create_index(
        "uq_forecasts_community",
        "forecasts",
        ["issued_at", "kind", "horizon_h", "target_ts"],
        unique=True,
        sqlite_where=sa.text("household IS NULL"),
        postgresql_where=sa.text("household IS NULL"),
    )
    op.create_index("ix_forecasts_household_issued_at", "forecasts", ["household", "issued_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_forecasts_household_issued_at", table_name="forecasts")
    op.drop_index("uq_forecasts_community", table_name="forecasts")
    op.drop_table("forecasts")
