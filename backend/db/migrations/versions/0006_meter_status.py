"""Each meter's latest bridge status (issue 14): source, last signed reading, queue, problems.

The oracle subscribes to the retained ``vatio/<community>/meters/+/status`` topics (docs/mqtt.md,
"Bridge status") and keeps one row per registered meter, replaced by a newer status
(backend/oracle/bridge_status.py); the household page shows it. No foreign key to ``meters``: a
bridge may report before its first reading makes the meter's row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import JsonDocument, unix_now

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meter_status",
        sa.Column("meter", sa.String(length=42), nullable=False),
        sa.Column("household", sa.String(length=42), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.Column("status_ts", sa.BigInteger(), nullable=False),
        sa.Column("last_reading_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_reading_ts", sa.BigInteger(), nullable=True),
        sa.Column("queue_depth", sa.BigInteger(), nullable=False),
        sa.Column("queue_bytes", sa.BigInteger(), nullable=False),
        sa.Column("counters", JsonDocument, nullable=False),
        sa.Column("halted", sa.String(length=500), nullable=True),
        sa.Column("broker_error", sa.String(length=500), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint(
            "length(meter) = 42 AND substr(meter, 1, 2) = '0x'", name=op.f("ck_meter_status_meter_address")
        ),
        sa.CheckConstraint(
            "length(household) = 42 AND substr(household, 1, 2) = '0x'", name=op.f("ck_meter_status_household_address")
        ),
        sa.CheckConstraint("status_ts >= 0", name=op.f("ck_meter_status_status_ts_non_negative")),
        sa.CheckConstraint("last_reading_seq >= 0", name=op.f("ck_meter_status_last_reading_seq_non_negative")),
        sa.CheckConstraint("last_reading_ts >= 0", name=op.f("ck_meter_status_last_reading_ts_non_negative")),
        sa.CheckConstraint("queue_depth >= 0", name=op.f("ck_meter_status_queue_depth_non_negative")),
        sa.CheckConstraint("queue_bytes >= 0", name=op.f("ck_meter_status_queue_bytes_non_negative")),
        sa.CheckConstraint("received_at >= 0", name=op.f("ck_meter_status_received_at_non_negative")),
        sa.CheckConstraint(
            "(last_reading_seq IS NULL) = (last_reading_ts IS NULL)", name=op.f("ck_meter_status_last_reading_complete")
        ),
        sa.PrimaryKeyConstraint("meter", name=op.f("pk_meter_status")),
    )
    op.create_index(op.f("ix_meter_status_household"), "meter_status", ["household"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_meter_status_household"), table_name="meter_status")
    op.drop_table("meter_status")
