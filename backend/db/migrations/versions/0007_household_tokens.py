"""Households' read-only API tokens (issue 14): only each token's SHA-256 is stored.

A household signed in with its wallet creates and revokes them (backend/web/tokens.py); a request with
``Authorization: Bearer <token>`` reads that household's private data, never writes (docs/api.md).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import BigIntId, unix_now

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "household_tokens",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("household", sa.String(length=42), nullable=False),
        sa.Column("token_hash", sa.String(length=66), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "length(household) = 42 AND substr(household, 1, 2) = '0x'",
            name=op.f("ck_household_tokens_household_address"),
        ),
        sa.CheckConstraint(
            "length(token_hash) = 66 AND substr(token_hash, 1, 2) = '0x' AND token_hash = lower(token_hash)",
            name=op.f("ck_household_tokens_token_hash_hash"),
        ),
        sa.CheckConstraint("created_at >= 0", name=op.f("ck_household_tokens_created_at_non_negative")),
        sa.CheckConstraint("last_used_at >= 0", name=op.f("ck_household_tokens_last_used_at_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_household_tokens_token_hash")),
    )
    op.create_index(op.f("ix_household_tokens_household"), "household_tokens", ["household"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_household_tokens_household"), table_name="household_tokens")
    op.drop_table("household_tokens")
