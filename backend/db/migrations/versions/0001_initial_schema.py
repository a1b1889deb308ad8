"""Initial schema.

Meters, readings, rejections, intervals and their entries, the settlement
outbox, chain events and indexer cursors; docs/storage.md says why each
constraint is there. Hand-checked against backend/db/models.py; the tests
hold the two equal on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import BigIntId, JsonDocument, unix_now

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("household", sa.String(length=42), nullable=False),
        sa.Column("capacity_w", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_produced_wh", sa.BigInteger(), nullable=True),
        sa.Column("last_consumed_wh", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint(
            "length(address) = 42 AND substr(address, 1, 2) = '0x'", name=op.f("ck_meters_address_address")
        ),
        sa.CheckConstraint(
            "length(household) = 42 AND substr(household, 1, 2) = '0x'", name=op.f("ck_meters_household_address")
        ),
        sa.CheckConstraint(
            "(last_seq IS NULL AND last_ts IS NULL AND last_produced_wh IS NULL AND last_consumed_wh IS NULL) OR (last_seq IS NOT NULL AND last_ts IS NOT NULL AND last_produced_wh IS NOT NULL AND last_consumed_wh IS NOT NULL)",
            name=op.f("ck_meters_last_reading_complete"),
        ),
        sa.CheckConstraint("capacity_w > 0", name=op.f("ck_meters_capacity_w_positive")),
        sa.CheckConstraint("last_consumed_wh >= 0", name=op.f("ck_meters_last_consumed_wh_non_negative")),
        sa.CheckConstraint("last_produced_wh >= 0", name=op.f("ck_meters_last_produced_wh_non_negative")),
        sa.CheckConstraint("last_seq >= 0", name=op.f("ck_meters_last_seq_non_negative")),
        sa.CheckConstraint("last_ts >= 0", name=op.f("ck_meters_last_ts_non_negative")),
        sa.CheckConstraint("registered_block >= 0", name=op.f("ck_meters_registered_block_non_negative")),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_meters")),
        sa.UniqueConstraint("address", "household", name=op.f("uq_meters_address_household")),
    )
    op.create_index("ix_meters_household", "meters", ["household"], unique=False)
    op.create_index(
        "uq_meters_household_active",
        "meters",
        ["household"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )

    op.create_table(
        "readings",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("meter", sa.String(length=42), nullable=False),
        sa.Column("household", sa.String(length=42), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("produced_wh", sa.BigInteger(), nullable=False),
        sa.Column("consumed_wh", sa.BigInteger(), nullable=False),
        sa.Column("power_w", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=65), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint("consumed_wh >= 0", name=op.f("ck_readings_consumed_wh_non_negative")),
        sa.CheckConstraint("length(digest) = 32", name=op.f("ck_readings_digest_32_bytes")),
        sa.CheckConstraint("length(signature) = 65", name=op.f("ck_readings_signature_65_bytes")),
        sa.CheckConstraint("power_w BETWEEN 0 AND 4294967295", name=op.f("ck_readings_power_w_uint32")),
        sa.CheckConstraint("produced_wh >= 0", name=op.f("ck_readings_produced_wh_non_negative")),
        sa.CheckConstraint("received_at >= 0", name=op.f("ck_readings_received_at_non_negative")),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_readings_seq_non_negative")),
        sa.CheckConstraint("ts >= 0", name=op.f("ck_readings_ts_non_negative")),
        sa.ForeignKeyConstraint(
            ["meter", "household"],
            ["meters.address", "meters.household"],
            name=op.f("fk_readings_meter_household_meters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readings")),
        sa.UniqueConstraint("meter", "seq", name=op.f("uq_readings_meter_seq")),
    )
    op.create_index("ix_readings_household_ts", "readings", ["household", "ts"], unique=False)

    op.create_table(
        "rejections",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(length=512), nullable=False),
        sa.Column("meter", sa.String(length=42), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("payload", sa.LargeBinary(length=2048), nullable=False),
        sa.Column("payload_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint(
            "length(meter) = 42 AND substr(meter, 1, 2) = '0x'", name=op.f("ck_rejections_meter_address")
        ),
        sa.CheckConstraint("length(payload) <= 2048", name=op.f("ck_rejections_payload_truncated")),
        sa.CheckConstraint("length(reason) BETWEEN 1 AND 32", name=op.f("ck_rejections_reason_length")),
        sa.CheckConstraint("length(topic) <= 512", name=op.f("ck_rejections_topic_length")),
        sa.CheckConstraint("payload_size >= length(payload)", name=op.f("ck_rejections_payload_size_covers_payload")),
        sa.CheckConstraint("received_at >= 0", name=op.f("ck_rejections_received_at_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejections")),
    )
    op.create_index("ix_rejections_reason", "rejections", ["reason"], unique=False)
    op.create_index("ix_rejections_received_at", "rejections", ["received_at"], unique=False)

    op.create_table(
        "intervals",
        sa.Column("interval_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("readings_root", sa.LargeBinary(length=32), nullable=True),
        sa.Column("clearing_price", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("settled_tx", sa.String(length=66), nullable=True),
        sa.Column("settled_block", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint("(status = 'open') = (closed_at IS NULL)", name=op.f("ck_intervals_closed_at_iff_not_open")),
        sa.CheckConstraint(
            "length(settled_tx) = 66 AND substr(settled_tx, 1, 2) = '0x' AND settled_tx = lower(settled_tx)",
            name=op.f("ck_intervals_settled_tx_hash"),
        ),
        sa.CheckConstraint(
            "status <> 'settled' OR (settled_tx IS NOT NULL AND settled_block IS NOT NULL)",
            name=op.f("ck_intervals_settled_has_tx_and_block"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'closed', 'settling', 'settled')", name=op.f("ck_intervals_status_known")
        ),
        sa.CheckConstraint(
            "status NOT IN ('settling', 'settled') OR (readings_root IS NOT NULL AND clearing_price IS NOT NULL)",
            name=op.f("ck_intervals_settling_has_root_and_price"),
        ),
        sa.CheckConstraint("clearing_price >= 0", name=op.f("ck_intervals_clearing_price_non_negative")),
        sa.CheckConstraint("closed_at >= 0", name=op.f("ck_intervals_closed_at_non_negative")),
        sa.CheckConstraint("interval_id >= 0", name=op.f("ck_intervals_interval_id_non_negative")),
        sa.CheckConstraint("length(readings_root) = 32", name=op.f("ck_intervals_readings_root_32_bytes")),
        sa.CheckConstraint("settled_block >= 0", name=op.f("ck_intervals_settled_block_non_negative")),
        sa.PrimaryKeyConstraint("interval_id", name=op.f("pk_intervals")),
    )

    op.create_table(
        "interval_entries",
        sa.Column("interval_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("household", sa.String(length=42), nullable=False),
        sa.Column("meter", sa.String(length=42), nullable=False),
        sa.Column("produced_wh", sa.BigInteger(), nullable=False),
        sa.Column("consumed_wh", sa.BigInteger(), nullable=False),
        sa.Column("readings_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf", sa.LargeBinary(length=32), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint(
            "(first_seq IS NULL AND last_seq IS NULL) OR (first_seq IS NOT NULL AND last_seq IS NOT NULL AND last_seq >= first_seq)",
            name=op.f("ck_interval_entries_seq_range"),
        ),
        sa.CheckConstraint("consumed_wh >= 0", name=op.f("ck_interval_entries_consumed_wh_non_negative")),
        sa.CheckConstraint("first_seq >= 0", name=op.f("ck_interval_entries_first_seq_non_negative")),
        sa.CheckConstraint("length(leaf) = 32", name=op.f("ck_interval_entries_leaf_32_bytes")),
        sa.CheckConstraint("length(readings_hash) = 32", name=op.f("ck_interval_entries_readings_hash_32_bytes")),
        sa.CheckConstraint("produced_wh >= 0", name=op.f("ck_interval_entries_produced_wh_non_negative")),
        sa.ForeignKeyConstraint(
            ["interval_id"], ["intervals.interval_id"], name=op.f("fk_interval_entries_interval_id_intervals")
        ),
        sa.ForeignKeyConstraint(
            ["meter", "household"],
            ["meters.address", "meters.household"],
            name=op.f("fk_interval_entries_meter_household_meters"),
        ),
        sa.PrimaryKeyConstraint("interval_id", "household", name=op.f("pk_interval_entries")),
    )

    op.create_table(
        "settlement_outbox",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("interval_id", sa.BigInteger(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("payload", JsonDocument, nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('settle_interval', 'settle_chunk', 'close_interval')",
            name=op.f("ck_settlement_outbox_kind_known"),
        ),
        sa.CheckConstraint(
            "length(tx_hash) = 66 AND substr(tx_hash, 1, 2) = '0x' AND tx_hash = lower(tx_hash)",
            name=op.f("ck_settlement_outbox_tx_hash_hash"),
        ),
        sa.CheckConstraint(
            "status <> 'failed' OR last_error IS NOT NULL", name=op.f("ck_settlement_outbox_failed_has_error")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'confirmed', 'failed')", name=op.f("ck_settlement_outbox_status_known")
        ),
        sa.CheckConstraint(
            "status NOT IN ('sent', 'confirmed') OR (nonce IS NOT NULL AND tx_hash IS NOT NULL)",
            name=op.f("ck_settlement_outbox_sent_has_nonce_and_tx"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_settlement_outbox_attempts_non_negative")),
        sa.CheckConstraint("chunk_index >= 0", name=op.f("ck_settlement_outbox_chunk_index_non_negative")),
        sa.CheckConstraint("nonce >= 0", name=op.f("ck_settlement_outbox_nonce_non_negative")),
        sa.ForeignKeyConstraint(
            ["interval_id"], ["intervals.interval_id"], name=op.f("fk_settlement_outbox_interval_id_intervals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_outbox")),
        sa.UniqueConstraint(
            "interval_id", "chunk_index", "kind", name=op.f("uq_settlement_outbox_interval_id_chunk_index_kind")
        ),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_settlement_outbox_tx_hash")),
    )
    op.create_index("ix_settlement_outbox_status", "settlement_outbox", ["status"], unique=False)

    op.create_table(
        "chain_events",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("args", JsonDocument, nullable=False),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint(
            "length(block_hash) = 66 AND substr(block_hash, 1, 2) = '0x' AND block_hash = lower(block_hash)",
            name=op.f("ck_chain_events_block_hash_hash"),
        ),
        sa.CheckConstraint(
            "length(contract) = 42 AND substr(contract, 1, 2) = '0x'", name=op.f("ck_chain_events_contract_address")
        ),
        sa.CheckConstraint(
            "length(tx_hash) = 66 AND substr(tx_hash, 1, 2) = '0x' AND tx_hash = lower(tx_hash)",
            name=op.f("ck_chain_events_tx_hash_hash"),
        ),
        sa.CheckConstraint("block_number >= 0", name=op.f("ck_chain_events_block_number_non_negative")),
        sa.CheckConstraint("length(event) >= 1", name=op.f("ck_chain_events_event_named")),
        sa.CheckConstraint("log_index >= 0", name=op.f("ck_chain_events_log_index_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_events")),
        sa.UniqueConstraint("tx_hash", "log_index", name=op.f("uq_chain_events_tx_hash_log_index")),
    )
    op.create_index("ix_chain_events_block_number", "chain_events", ["block_number"], unique=False)
    op.create_index("ix_chain_events_event_block_number", "chain_events", ["event", "block_number"], unique=False)

    op.create_table(
        "indexer_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", sa.String(length=66), nullable=False),
        sa.Column("created_at", sa.BigInteger(), server_default=unix_now(), nullable=False),
        sa.CheckConstraint(
            "length(last_block_hash) = 66 AND substr(last_block_hash, 1, 2) = '0x' AND last_block_hash = lower(last_block_hash)",
            name=op.f("ck_indexer_cursors_last_block_hash_hash"),
        ),
        sa.CheckConstraint("last_block >= 0", name=op.f("ck_indexer_cursors_last_block_non_negative")),
        sa.CheckConstraint("length(name) >= 1", name=op.f("ck_indexer_cursors_name_given")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_indexer_cursors")),
    )


def downgrade() -> None:
    # Dependents first.
    op.drop_table("indexer_cursors")
    op.drop_table("chain_events")
    op.drop_table("settlement_outbox")
    op.drop_table("interval_entries")
    op.drop_table("intervals")
    op.drop_table("rejections")
    op.drop_table("readings")
    op.drop_table("meters")
