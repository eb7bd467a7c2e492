"""Tables of the shared mechanism; every service database has all of them.

Correctness lives in keys:
- ``events.UNIQUE(stream_id, stream_version)`` is optimistic concurrency;
- ``events.UNIQUE(event_id)`` makes an append idempotent;
- ``consumer_streams`` (consumer, stream_id) -> last handled version makes a consumer's
  handling idempotent and keeps each aggregate's events in order (no inbox of event ids
  is needed: a redelivered event's version is never above the recorded one).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def kit_metadata() -> sa.MetaData:
    """A fresh MetaData holding the kit's tables; services add their own tables to it."""
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    define_kit_tables(metadata)
    return metadata


def define_kit_tables(metadata: sa.MetaData) -> None:
    sa.Table(
        "events",
        metadata,
        # SQLite only autoincrements an INTEGER PRIMARY KEY, hence the variant.
        sa.Column("position", BigIntId, sa.Identity(always=False), primary_key=True),
        # The writing transaction's id on PostgreSQL (0 on SQLite); see Checkpoint.
        sa.Column("tx_id", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("stream_type", sa.String(64), nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("schema_version", sa.SmallInteger, nullable=False),
        sa.Column("data", JsonType, nullable=False),
        sa.Column("metadata", JsonType, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
        sa.CheckConstraint("stream_version > 0", name="stream_version_positive"),
        sa.Index("ix_events_tx_position", "tx_id", "position"),
        sa.Index("ix_events_type", "event_type"),
    )
    sa.Table(
        "relay_checkpoints",
        metadata,
        sa.Column("relay", sa.String(100), primary_key=True),
        sa.Column("tx_id", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "consumer_streams",
        metadata,
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("stream_version", sa.Integer, nullable=False),
    )
    sa.Table(
        "consumer_positions",
        metadata,
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("stream_sequence", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        "dead_letters",
        metadata,
        sa.Column("id", BigIntId, sa.Identity(always=False), primary_key=True),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("stream_sequence", sa.BigInteger, nullable=True),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("headers", JsonType, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("consumer", "event_id", name="uq_dead_letters_consumer_event"),
    )
    sa.Table(
        "idempotency_keys",
        metadata,
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column("response_headers", JsonType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
