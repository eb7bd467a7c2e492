"""Baseline: the schema as it was before migrations.

Every table as `create_all` made it from the service's MetaData until then: the kit's
tables (events, relay checkpoints, consumer versions, dead letters, idempotency keys)
and the service's own. A database created that way is stamped at this revision instead
of running it (see mentorship_kit.migrations).

Revision ID: 2f6cbf048b19
Revises:
Created: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mentorship_kit.migrations.kit_tables import create_kit_tables_v1, drop_kit_tables_v1

revision: str = "2f6cbf048b19"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v1()

    # The analytics service's own tables (analytics.adapters.tables).
    op.create_table(
        "fact_employees",
        sa.Column("employee_id", sa.String(length=200), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("job_level", sa.Integer(), nullable=True),
        sa.Column("hired_on", sa.Date(), nullable=True),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("spells", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_fact_employees")),
    )
    op.create_table(
        "fact_programs",
        sa.Column("program_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("cadence_days", sa.Integer(), nullable=True),
        sa.Column("opened_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("kpi_targets", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_fact_programs")),
    )
    op.create_table(
        "fact_enrollments",
        sa.Column("enrollment_id", sa.String(length=200), nullable=True),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("employee_id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("enrolled_on", sa.Date(), nullable=True),
        sa.Column("waitlisted_on", sa.Date(), nullable=True),
        sa.Column("rejected_on", sa.Date(), nullable=True),
        sa.Column("withdrew_on", sa.Date(), nullable=True),
        sa.Column("withdraw_reason", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("enrollment_id", name=op.f("pk_fact_enrollments")),
    )
    op.create_index(
        "ix_fact_enrollments_program_role", "fact_enrollments", ["program_id", "role"], unique=False
    )
    op.create_table(
        "fact_pairs",
        sa.Column("pair_id", sa.String(length=200), nullable=True),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("mentor_id", sa.String(length=200), nullable=False),
        sa.Column("mentee_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=True),
        sa.Column("proposed_on", sa.Date(), nullable=True),
        sa.Column("declined_on", sa.Date(), nullable=True),
        sa.Column("formed_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(length=30), nullable=True),
        sa.PrimaryKeyConstraint("pair_id", name=op.f("pk_fact_pairs")),
    )
    op.create_index("ix_fact_pairs_program", "fact_pairs", ["program_id"], unique=False)
    op.create_table(
        "fact_sessions",
        sa.Column("session_id", sa.String(length=200), nullable=True),
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scheduled_on", sa.Date(), nullable=True),
        sa.Column("held_on", sa.Date(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_fact_sessions")),
    )
    op.create_index(
        "ix_fact_sessions_program_held", "fact_sessions", ["program_id", "held_on"], unique=False
    )
    op.create_table(
        "fact_goals",
        sa.Column("goal_id", sa.String(length=200), nullable=True),
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("mentee_id", sa.String(length=200), nullable=True),
        sa.Column("set_on", sa.Date(), nullable=True),
        sa.Column("achieved_on", sa.Date(), nullable=True),
        sa.Column("dropped_on", sa.Date(), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("goal_id", name=op.f("pk_fact_goals")),
    )
    op.create_index("ix_fact_goals_program", "fact_goals", ["program_id"], unique=False)
    op.create_table(
        "fact_feedback",
        sa.Column("feedback_id", sa.String(length=200), nullable=True),
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("respondent_id", sa.String(length=200), nullable=False),
        sa.Column("respondent_role", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=200), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_fact_feedback")),
    )
    op.create_index(
        "ix_fact_feedback_program_submitted",
        "fact_feedback",
        ["program_id", "submitted_on"],
        unique=False,
    )
    op.create_table(
        "fact_checkins",
        sa.Column("feedback_id", sa.String(length=200), nullable=True),
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("respondent_id", sa.String(length=200), nullable=False),
        sa.Column("relationship_quality", sa.Integer(), nullable=False),
        sa.Column("nps", sa.Integer(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_fact_checkins")),
    )
    op.create_index("ix_fact_checkins_program", "fact_checkins", ["program_id"], unique=False)
    op.create_table(
        "fact_fit_checks",
        sa.Column("feedback_id", sa.String(length=200), nullable=True),
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("respondent_id", sa.String(length=200), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_fact_fit_checks")),
    )
    op.create_index("ix_fact_fit_checks_program", "fact_fit_checks", ["program_id"], unique=False)
    op.create_table(
        "analytics_rebuilds",
        sa.Column("rebuild_id", sa.String(length=36), nullable=False),
        sa.Column("read_model", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("expected_events", sa.BigInteger(), nullable=True),
        sa.Column("duplicates", sa.BigInteger(), nullable=True),
        sa.Column("covers_sequence", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("rebuild_id", name=op.f("pk_analytics_rebuilds")),
        sa.UniqueConstraint(
            "read_model", "idempotency_key", name=op.f("uq_analytics_rebuilds_read_model")
        ),
    )
    op.create_index(
        "ix_analytics_rebuilds_model_status",
        "analytics_rebuilds",
        ["read_model", "status"],
        unique=False,
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column(
            "event_types", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_deliveries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'disabled')",
            name=op.f("ck_webhook_subscriptions_status"),
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_index(
        "ix_webhook_subscriptions_created",
        "webhook_subscriptions",
        ["created_at", "subscription_id"],
        unique=False,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column(
            "delivery_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_event"),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_deliveries_queue",
        "webhook_deliveries",
        ["subscription_id", "status", "delivery_id"],
        unique=False,
    )
    op.create_table(
        "webhook_attempts",
        sa.Column(
            "attempt_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        "ix_webhook_attempts_delivery",
        "webhook_attempts",
        ["delivery_id", "attempt_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_table("analytics_rebuilds")
    op.drop_table("fact_fit_checks")
    op.drop_table("fact_checkins")
    op.drop_table("fact_feedback")
    op.drop_table("fact_goals")
    op.drop_table("fact_sessions")
    op.drop_table("fact_pairs")
    op.drop_table("fact_enrollments")
    op.drop_table("fact_programs")
    op.drop_table("fact_employees")
    drop_kit_tables_v1()
