"""Interval entries keep their end registers and their meter's previous entry.

Closing an interval (backend/oracle/closing.py, rule in docs/archive.md)
starts each meter where its previous entry ended. Storing the end registers
and the previous entry's interval makes that one indexed lookup, and the
self-referencing foreign key makes a chain that skips or invents an entry
impossible to write. The end columns are nullable because rows of 0001 could
not know them (nothing wrote entries before this revision); closing always
sets them, and the CHECKs tie them together.

Batch mode: SQLite rebuilds the table to add constraints; PostgreSQL alters it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interval_entries") as batch_op:
        batch_op.add_column(sa.Column("end_produced_wh", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("end_consumed_wh", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("previous_interval", sa.BigInteger(), nullable=True))
        # The unique key first: it is the target of the self-referencing foreign key.
        batch_op.create_unique_constraint(batch_op.f("uq_interval_entries_meter_interval_id"), ["meter", "interval_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_interval_entries_meter_previous_interval_interval_entries"),
            "interval_entries",
            ["meter", "previous_interval"],
            ["meter", "interval_id"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_interval_entries_end_produced_wh_non_negative"), "end_produced_wh >= 0"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_interval_entries_end_consumed_wh_non_negative"), "end_consumed_wh >= 0"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_interval_entries_end_registers_complete"),
            "(end_produced_wh IS NULL) = (end_consumed_wh IS NULL)",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_interval_entries_end_covers_energy"),
            "end_produced_wh >= produced_wh AND end_consumed_wh >= consumed_wh",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_interval_entries_previous_interval_earlier"), "previous_interval < interval_id"
        )


def downgrade() -> None:
    with op.batch_alter_table("interval_entries") as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_interval_entries_previous_interval_earlier"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_interval_entries_end_covers_energy"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_interval_entries_end_registers_complete"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_interval_entries_end_consumed_wh_non_negative"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_interval_entries_end_produced_wh_non_negative"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_interval_entries_meter_previous_interval_interval_entries"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_interval_entries_meter_interval_id"), type_="unique")
        batch_op.drop_column("previous_interval")
        batch_op.drop_column("end_consumed_wh")
        batch_op.drop_column("end_produced_wh")
