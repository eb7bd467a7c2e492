"""The kit's tables as migration steps every service's revisions call.

Each function here is frozen once a revision calls it, like a revision itself: a later
change to a kit table is a new function (``create_kit_tables_v2`` or an ``alter_...``
step) called from a new revision of each service, never an edit of this one. So the
four services' baselines share one definition of the kit's tables instead of four
copies, and an old revision still builds exactly what it built.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def create_kit_tables_v1() -> None:
    """The kit's tables (mentorship_kit.eventstore.tables) as of every baseline."""
    op.create_table(
        "events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("tx_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("stream_type", sa.String(length=64), nullable=False),
        sa.Column("stream_id", sa.String(length=200), nullable=False),
        sa.Column("stream_version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("schema_version", sa.SmallInteger(), nullable=False),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("stream_version > 0", name=op.f("ck_events_stream_version_positive")),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
        sa.UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    )
    op.create_index("ix_events_tx_position", "events", ["tx_id", "position"], unique=False)
    op.create_index("ix_events_type", "events", ["event_type"], unique=False)
    op.create_table(
        "relay_checkpoints",
        sa.Column("relay", sa.String(length=100), nullable=False),
        sa.Column("tx_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("relay", name=op.f("pk_relay_checkpoints")),
    )
    op.create_table(
        "consumer_streams",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("stream_id", sa.String(length=200), nullable=False),
        sa.Column("stream_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "stream_id", name=op.f("pk_consumer_streams")),
    )
    op.create_table(
        "consumer_positions",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("stream_sequence", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "source", name=op.f("pk_consumer_positions")),
    )
    op.create_table(
        "dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("stream_sequence", sa.BigInteger(), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column(
            "headers", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("consumer", "event_id", name="uq_dead_letters_consumer_event"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "response_headers",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )


def drop_kit_tables_v1() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("dead_letters")
    op.drop_table("consumer_positions")
    op.drop_table("consumer_streams")
    op.drop_table("relay_checkpoints")
    op.drop_table("events")
