"""The oracle's tables: meters, readings, rejections, intervals and settlement, chain events.

Units never mix: energy is integer Wh, times are integer unix seconds (UTC),
prices are payment base units per kWh. Addresses are 42-character EIP-55
checksum strings and hashes are 66-character lowercase 0x hex strings, so
that one value has one spelling and the unique constraints hold. The CHECK
constraints make a corrupt row impossible to write; ``docs/storage.md`` says
why each one is there.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, validates

from backend.db.types import MAX_STORED_INT, BigIntId, JsonDocument, unix_now

__all__ = [
    "INTERVAL_STATUSES",
    "MAX_PAYLOAD_BYTES",
    "MAX_STORED_INT",
    "MAX_TOPIC_CHARS",
    "OUTBOX_KINDS",
    "OUTBOX_STATUSES",
    "OutboxStatus",
    "Base",
    "ChainEvent",
    "HouseholdToken",
    "IndexerCursor",
    "Interval",
    "IntervalEntry",
    "Meter",
    "MeterStatus",
    "Reading",
    "Rejection",
    "SettlementOutbox",
    "rejection_counts",
]

INTERVAL_STATUSES = ("open", "closed", "settling", "settled")
OUTBOX_KINDS = ("settle_interval", "settle_chunk", "close_interval")


class OutboxStatus(StrEnum):
    """A settlement transaction's state in the outbox (docs/outbox.md has the transitions).

    A StrEnum: the column stores the plain string, and a row read back compares equal to the member.
    """

    PENDING = "pending"  # planned, not yet signed
    SENT = "sent"  # signed and broadcast; its hash and nonce are committed first
    CONFIRMED = "confirmed"  # mined with the required confirmations
    FAILED = "failed"  # reverted or refused; a new plan may follow


OUTBOX_STATUSES = tuple(OutboxStatus)
MAX_PAYLOAD_BYTES = 2048  # a rejection keeps at most this much of the raw message
MAX_TOPIC_CHARS = 512
MAX_REASON_CHARS = 32

# Named constraints: Alembic's batch mode on SQLite, and any later migration,
# can only drop or alter a constraint it can name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def checksum_address(value: str | None) -> str | None:
    """Return the EIP-55 form of a 0x address in any case; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise ValueError(f"not a 0x-prefixed 20-byte hex address: {value!r}")
    return to_checksum_address(value)


def lower_hash(value: str | None) -> str | None:
    """Return a 0x + 32-byte hex hash in lowercase; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX_HASH.fullmatch(value):
        raise ValueError(f"not a 0x-prefixed 32-byte hex hash: {value!r}")
    return value.lower()


# --- CHECK constraint builders: one rule, one spelling, on every table ---


def _address_check(column: str, name: str | None = None) -> CheckConstraint:
    # EIP-55 needs keccak, which SQL lacks; the ORM validators checksum, the DB checks the shape.
    return CheckConstraint(f"length({column}) = 42 AND substr({column}, 1, 2) = '0x'", name=name or f"{column}_address")


def _hash_check(column: str) -> CheckConstraint:
    return CheckConstraint(
        f"length({column}) = 66 AND substr({column}, 1, 2) = '0x' AND {column} = lower({column})",
        name=f"{column}_hash",
    )


def _bytes_check(column: str, size: int) -> CheckConstraint:
    return CheckConstraint(f"length({column}) = {size}", name=f"{column}_{size}_bytes")


def _non_negative(*columns: str) -> list[CheckConstraint]:
    return [CheckConstraint(f"{c} >= 0", name=f"{c}_non_negative") for c in columns]


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_known")


def _created_at() -> Mapped[int]:
    return mapped_column(BigInteger, nullable=False, server_default=unix_now())


class Meter(Base):
    """A registered meter key, its household, and the verifier's running state."""

    __tablename__ = "meters"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    household: Mapped[str] = mapped_column(String(42), nullable=False, index=True)
    capacity_w: Mapped[int] = mapped_column(BigInteger, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=text("true"))
    registered_block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The last accepted reading; all four NULL until the first one.
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_ts: Mapped[int | None] = mapped_column(BigInteger)
    last_produced_wh: Mapped[int | None] = mapped_column(BigInteger)
    last_consumed_wh: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        _address_check("address"),
        _address_check("household"),
        CheckConstraint("capacity_w > 0", name="capacity_w_positive"),
        *_non_negative("registered_block", "last_seq", "last_ts", "last_produced_wh", "last_consumed_wh"),
        CheckConstraint(
            "(last_seq IS NULL AND last_ts IS NULL AND last_produced_wh IS NULL AND last_consumed_wh IS NULL)"
            " OR (last_seq IS NOT NULL AND last_ts IS NOT NULL"
            " AND last_produced_wh IS NOT NULL AND last_consumed_wh IS NOT NULL)",
            name="last_reading_complete",
        ),
        # The target of the (meter, household) foreign keys: a reading or an
        # interval entry cannot name a household other than its meter's.
        UniqueConstraint("address", "household"),
        # The registry gives a household one meter at a time (replaceMeter retires the old key).
        Index(
            "uq_meters_household_active",
            "household",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    @validates("address", "household")
    def _checksum(self, key: str, value: str) -> str | None:
        return checksum_address(value)


MAX_STATUS_TEXT_CHARS = 500  # a bridge status's `halted` and `brokerError` (backend.protocol.bridge_status)


class MeterStatus(Base):
    """The latest status a meter's bridge reported (docs/mqtt.md, "Bridge status"): one row per meter, replaced.

    Written by the oracle (backend.oracle.bridge_status) for registered meters only; no foreign key to
    ``meters``, whose row the first reading makes, since a bridge may report before it signed anything.
    ``status_ts`` is the bridge's clock, ``received_at`` the oracle's.
    """

    __tablename__ = "meter_status"

    meter: Mapped[str] = mapped_column(String(42), primary_key=True)
    household: Mapped[str] = mapped_column(String(42), nullable=False, index=True)
    source: Mapped[str | None] = mapped_column(String(40))
    status_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_reading_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_reading_ts: Mapped[int | None] = mapped_column(BigInteger)
    queue_depth: Mapped[int] = mapped_column(BigInteger, nullable=False)
    queue_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    counters: Mapped[Any] = mapped_column(JsonDocument, nullable=False)  # reason -> count
    halted: Mapped[str | None] = mapped_column(String(MAX_STATUS_TEXT_CHARS))
    broker_error: Mapped[str | None] = mapped_column(String(MAX_STATUS_TEXT_CHARS))
    received_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        _address_check("meter"),
        _address_check("household"),
        *_non_negative("status_ts", "last_reading_seq", "last_reading_ts", "queue_depth", "queue_bytes", "received_at"),
        CheckConstraint("(last_reading_seq IS NULL) = (last_reading_ts IS NULL)", name="last_reading_complete"),
    )

    @validates("meter", "household")
    def _checksum(self, key: str, value: str) -> str | None:
        return checksum_address(value)


class Reading(Base):
    """One verified, signed reading of a meter's cumulative registers."""

    __tablename__ = "readings"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    meter: Mapped[str] = mapped_column(String(42), nullable=False)
    household: Mapped[str] = mapped_column(String(42), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    produced_wh: Mapped[int] = mapped_column(BigInteger, nullable=False)
    consumed_wh: Mapped[int] = mapped_column(BigInteger, nullable=False)
    power_w: Mapped[int] = mapped_column(BigInteger, nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary(65), nullable=False)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    received_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        ForeignKeyConstraint(["meter", "household"], ["meters.address", "meters.household"]),
        # A QoS 1 redelivery of the same reading must not make a second row.
        UniqueConstraint("meter", "seq"),
        Index("ix_readings_household_ts", "household", "ts"),
        *_non_negative("seq", "ts", "produced_wh", "consumed_wh", "received_at"),
        CheckConstraint("power_w BETWEEN 0 AND 4294967295", name="power_w_uint32"),
        _bytes_check("signature", 65),
        _bytes_check("digest", 32),
    )

    @validates("meter", "household")
    def _checksum(self, key: str, value: str) -> str | None:
        return checksum_address(value)


class Rejection(Base):
    """A message the oracle refused, with its reason and the first bytes of what it said."""

    __tablename__ = "rejections"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    received_at: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    topic: Mapped[str] = mapped_column(String(MAX_TOPIC_CHARS), nullable=False)
    # Only a well-formed address; no foreign key, since "unknown meter" is a reason.
    meter: Mapped[str | None] = mapped_column(String(42))
    reason: Mapped[str] = mapped_column(String(MAX_REASON_CHARS), nullable=False, index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    # Raw bytes, since the message may not be UTF-8; payload_size is the size before truncation.
    payload: Mapped[bytes] = mapped_column(LargeBinary(MAX_PAYLOAD_BYTES), nullable=False)
    payload_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        _address_check("meter"),
        CheckConstraint(f"length(reason) BETWEEN 1 AND {MAX_REASON_CHARS}", name="reason_length"),
        CheckConstraint(f"length(topic) <= {MAX_TOPIC_CHARS}", name="topic_length"),
        CheckConstraint(f"length(payload) <= {MAX_PAYLOAD_BYTES}", name="payload_truncated"),
        CheckConstraint("payload_size >= length(payload)", name="payload_size_covers_payload"),
        *_non_negative("received_at"),
    )

    @validates("meter")
    def _checksum(self, key: str, value: str | None) -> str | None:
        return checksum_address(value)


class Interval(Base):
    """One market interval (interval_id = unix seconds // interval length) and its settlement."""

    __tablename__ = "intervals"

    interval_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open", server_default="open")
    readings_root: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    clearing_price: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[int | None] = mapped_column(BigInteger)
    settled_tx: Mapped[str | None] = mapped_column(String(66))
    settled_block: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        _one_of("status", INTERVAL_STATUSES),
        *_non_negative("interval_id", "clearing_price", "closed_at", "settled_block"),
        _bytes_check("readings_root", 32),
        _hash_check("settled_tx"),
        # Each status implies what has been decided by then.
        CheckConstraint("(status = 'open') = (closed_at IS NULL)", name="closed_at_iff_not_open"),
        CheckConstraint(
            "status NOT IN ('settling', 'settled') OR (readings_root IS NOT NULL AND clearing_price IS NOT NULL)",
            name="settling_has_root_and_price",
        ),
        CheckConstraint(
            "status <> 'settled' OR (settled_tx IS NOT NULL AND settled_block IS NOT NULL)",
            name="settled_has_tx_and_block",
        ),
    )

    @validates("settled_tx")
    def _lower(self, key: str, value: str | None) -> str | None:
        return lower_hash(value)


class IntervalEntry(Base):
    """One household's metered energy in one interval: a leaf of the readings root.

    Written by ``backend.oracle.closing`` (the rule is in ``docs/archive.md``).
    The start registers are ``end - energy``; the end registers are where the
    same meter's next entry starts, so attribution is one row lookup and no
    Wh is counted twice or lost.
    """

    __tablename__ = "interval_entries"

    interval_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("intervals.interval_id"), primary_key=True, autoincrement=False
    )
    household: Mapped[str] = mapped_column(String(42), primary_key=True)
    meter: Mapped[str] = mapped_column(String(42), nullable=False)
    produced_wh: Mapped[int] = mapped_column(BigInteger, nullable=False)
    consumed_wh: Mapped[int] = mapped_column(BigInteger, nullable=False)
    readings_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    leaf: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    # The seq range of the readings the entry lists (and hashes): contiguous
    # for the meter when it was closed. NULL only in rows older than the closing code.
    first_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = _created_at()
    # The registers attributed at the interval's end. Nullable only because
    # migration 0002 added them to a table that had no writer yet; closing always sets them.
    end_produced_wh: Mapped[int | None] = mapped_column(BigInteger)
    end_consumed_wh: Mapped[int | None] = mapped_column(BigInteger)
    # The interval of this meter's previous entry, where its start registers
    # come from; NULL for the meter's first entry (it starts at its first reading).
    previous_interval: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        ForeignKeyConstraint(["meter", "household"], ["meters.address", "meters.household"]),
        # A meter has one household, so one entry per interval; the index finds
        # a meter's latest entry, and is the target of previous_interval's key.
        UniqueConstraint("meter", "interval_id"),
        # The entry the start registers came from exists, and is the same meter's.
        ForeignKeyConstraint(
            ["meter", "previous_interval"], ["interval_entries.meter", "interval_entries.interval_id"]
        ),
        *_non_negative("produced_wh", "consumed_wh", "first_seq", "end_produced_wh", "end_consumed_wh"),
        _bytes_check("readings_hash", 32),
        _bytes_check("leaf", 32),
        CheckConstraint(
            "(first_seq IS NULL AND last_seq IS NULL)"
            " OR (first_seq IS NOT NULL AND last_seq IS NOT NULL AND last_seq >= first_seq)",
            name="seq_range",
        ),
        CheckConstraint("(end_produced_wh IS NULL) = (end_consumed_wh IS NULL)", name="end_registers_complete"),
        # start = end - energy is a register value, so never negative.
        CheckConstraint("end_produced_wh >= produced_wh AND end_consumed_wh >= consumed_wh", name="end_covers_energy"),
        CheckConstraint("previous_interval < interval_id", name="previous_interval_earlier"),
    )

    @validates("meter", "household")
    def _checksum(self, key: str, value: str) -> str | None:
        return checksum_address(value)


class SettlementOutbox(Base):
    """One transaction to send for an interval's settlement, tracked until confirmed."""

    __tablename__ = "settlement_outbox"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    interval_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("intervals.interval_id"), nullable=False)
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=OutboxStatus.PENDING, server_default=OutboxStatus.PENDING.value
    )
    # Transaction arguments; uint256 values belong in it as decimal strings.
    payload: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=unix_now(), onupdate=unix_now())
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        # One row per transaction of the plan: re-planning an interval cannot queue it twice.
        UniqueConstraint("interval_id", "chunk_index", "kind"),
        Index("ix_settlement_outbox_status", "status"),
        _one_of("kind", OUTBOX_KINDS),
        _one_of("status", OUTBOX_STATUSES),
        *_non_negative("chunk_index", "nonce", "attempts"),
        _hash_check("tx_hash"),
        CheckConstraint(
            "status NOT IN ('sent', 'confirmed') OR (nonce IS NOT NULL AND tx_hash IS NOT NULL)",
            name="sent_has_nonce_and_tx",
        ),
        CheckConstraint("status <> 'failed' OR last_error IS NOT NULL", name="failed_has_error"),
    )

    @validates("tx_hash")
    def _lower(self, key: str, value: str | None) -> str | None:
        return lower_hash(value)


class ChainEvent(Base):
    """One contract event log the indexer has seen."""

    __tablename__ = "chain_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    block_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    tx_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    log_index: Mapped[int] = mapped_column(Integer, nullable=False)
    contract: Mapped[str] = mapped_column(String(42), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    # Decoded arguments; uint256 values belong in it as decimal strings.
    args: Mapped[Any] = mapped_column(JsonDocument, nullable=False)
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        # Re-reading blocks after a restart cannot index a log twice.
        UniqueConstraint("tx_hash", "log_index"),
        Index("ix_chain_events_event_block_number", "event", "block_number"),
        *_non_negative("block_number", "log_index"),
        _hash_check("block_hash"),
        _hash_check("tx_hash"),
        _address_check("contract"),
        CheckConstraint("length(event) >= 1", name="event_named"),
    )

    @validates("block_hash", "tx_hash")
    def _lower(self, key: str, value: str) -> str | None:
        return lower_hash(value)

    @validates("contract")
    def _checksum(self, key: str, value: str) -> str | None:
        return checksum_address(value)


# Fills of a resting order and of a household (migration 0004): partial expression indexes over
# Filled events, on the expressions backend.web.events.arg_text renders.
for _name, _argument in (
    ("ix_chain_events_filled_order_id", "orderId"),
    ("ix_chain_events_filled_household", "household"),
):
    Index(
        _name,
        ChainEvent.__table__.c.args[_argument].as_string(),
        postgresql_where=text("event = 'Filled'"),
        sqlite_where=text("event = 'Filled'"),
    )

# Settlement events by interval, and a household's HouseholdSettled event in a settlement transaction
# (migration 0008), for a household's interval history.
_SETTLEMENT_ANCHORS = text("event IN ('IntervalSettled', 'ChunkSettled')")
Index(
    "ix_chain_events_settled_interval_id",
    ChainEvent.__table__.c.args["intervalId"].as_string(),
    postgresql_where=_SETTLEMENT_ANCHORS,
    sqlite_where=_SETTLEMENT_ANCHORS,
)
Index(
    "ix_chain_events_household_settled_tx",
    ChainEvent.__table__.c.tx_hash,
    ChainEvent.__table__.c.args["household"].as_string(),
    postgresql_where=text("event = 'HouseholdSettled'"),
    sqlite_where=text("event = 'HouseholdSettled'"),
)


class IndexerCursor(Base):
    """Where a chain follower stopped: the last block it fully processed."""

    __tablename__ = "indexer_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # Compared with the chain on resume, to notice a reorg below the cursor.
    last_block_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        *_non_negative("last_block"),
        _hash_check("last_block_hash"),
        CheckConstraint("length(name) >= 1", name="name_given"),
    )

    @validates("last_block_hash")
    def _lower(self, key: str, value: str) -> str | None:
        return lower_hash(value)


def rejection_counts(session: Session, since: int | None = None) -> dict[str, int]:
    """Count rejections per reason, optionally only those received at or after `since`."""
    query = select(Rejection.reason, func.count()).group_by(Rejection.reason).order_by(Rejection.reason)
    if since is not None:
        query = query.where(Rejection.received_at >= since)
    return {reason: count for reason, count in session.execute(query)}


FORECAST_KINDS = ("load", "pv")
FORECAST_HORIZONS_H = (24, 168)
HOUR_SECONDS = 3600


class Forecast(Base):
    """One forecast hour: a household's (or, with household NULL, the community's) P10/P50/P90 energy.

    Written by ``vatio forecast run --source db`` (``backend.forecast.store``).
    Energy is integer Wh in the hour ``[target_ts, target_ts + 3600)``, which
    is also the hour's mean power in W. One run is every row with the same
    ``issued_at`` (an hour start); storing a run again replaces its values.
    """

    __tablename__ = "forecasts"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    issued_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    household: Mapped[str | None] = mapped_column(String(42))
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    horizon_h: Mapped[int] = mapped_column(Integer, nullable=False)
    target_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    p10_wh: Mapped[int] = mapped_column(BigInteger, nullable=False)
    p50_wh: Mapped[int] = mapped_column(BigInteger, nullable=False)
    p90_wh: Mapped[int] = mapped_column(BigInteger, nullable=False)
    model_version: Mapped[str] = mapped_column(String(128), nullable=False)
    # The candidate whose values these are (LSTM, ridge, a blend, a simple model); migration 0005.
    served_model: Mapped[str] = mapped_column(String(64), nullable=False, server_default="LSTM")
    created_at: Mapped[int] = _created_at()

    __table_args__ = (
        UniqueConstraint("issued_at", "household", "kind", "horizon_h", "target_ts"),
        # NULLs are distinct in a unique constraint, so the community's rows need their own.
        Index(
            "uq_forecasts_community",
            "issued_at",
            "kind",
            "horizon_h",
            "target_ts",
            unique=True,
            sqlite_where=text("household IS NULL"),
            postgresql_where=text("household IS NULL"),
        ),
        # A household's latest run, and pruning by age.
        Index("ix_forecasts_household_issued_at", "household", "issued_at"),
        _address_check("household"),
        _one_of("kind", FORECAST_KINDS),
        CheckConstraint(f"horizon_h IN ({', '.join(str(h) for h in FORECAST_HORIZONS_H)})", name="horizon_h_known"),
        *_non_negative("issued_at", "p10_wh"),
        CheckConstraint(f"issued_at % {HOUR_SECONDS} = 0", name="issued_at_hour_start"),
        CheckConstraint(f"target_ts % {HOUR_SECONDS} = 0", name="target_ts_hour_start"),
        CheckConstraint(
            f"target_ts >= issued_at AND target_ts < issued_at + horizon_h * {HOUR_SECONDS}",
            name="target_within_horizon",
        ),
        CheckConstraint("p10_wh <= p50_wh AND p50_wh <= p90_wh", name="quantiles_ordered"),
        CheckConstraint("length(model_version) >= 1", name="model_version_given"),
    )

    @validates("household")
    def _checksum(self, key: str, value: str | None) -> str | None:
        return checksum_address(value)


MAX_TOKEN_LABEL_CHARS = 100


class HouseholdToken(Base):
    """A household's read-only API token (docs/api.md, "Household tokens"): only its SHA-256 is kept.

    Written by the web app (backend.web.tokens): created and revoked (deleted) by the household signed in
    with its wallet; ``last_used_at`` is when a request last read with it (to the minute).
    """

    __tablename__ = "household_tokens"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    household: Mapped[str] = mapped_column(String(42), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(66), nullable=False, unique=True)
    label: Mapped[str] = mapped_column(String(MAX_TOKEN_LABEL_CHARS), nullable=False)
    created_at: Mapped[int] = _created_at()
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        _address_check("household"),
        _hash_check("token_hash"),
        *_non_negative("created_at", "last_used_at"),
    )

    @validates("household")
    def _checksum(self, key: str, value: str) -> str | None:
        return checksum_address(value)
