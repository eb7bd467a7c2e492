"""Baseline: the schema as it was before migrations.

Every table as `create_all` made it from the service's MetaData until then: the kit's
tables (events, relay checkpoints, consumer versions, dead letters, idempotency keys)
and the service's own. A database created that way is stamped at this revision instead
of running it (see mentorship_kit.migrations).

Revision ID: 9c73ba6c18bd
Revises:
Created: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mentorship_kit.migrations.kit_tables import create_kit_tables_v1, drop_kit_tables_v1

revision: str = "9c73ba6c18bd"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v1()

    # The sessions service's own tables (sessions.adapters.tables).
    op.create_table(
        "pairs",
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("mentor_id", sa.String(length=200), nullable=False),
        sa.Column("mentee_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("formed_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'active', 'declined', 'ended')",
            name=op.f("ck_pairs_status_known"),
        ),
        sa.PrimaryKeyConstraint("pair_id", name=op.f("pk_pairs")),
    )
    op.create_index(op.f("ix_pairs_program_id"), "pairs", ["program_id"], unique=False)
    op.create_table(
        "programs",
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("cadence_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_programs")),
    )
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(length=200), nullable=False),
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_minutes", sa.Integer(), nullable=True),
        sa.Column("held_on", sa.Date(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("topic_count", sa.Integer(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'held', 'cancelled', 'no_show')",
            name=op.f("ck_sessions_status_known"),
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_sessions")),
    )
    op.create_index(
        "ix_sessions_pair_created",
        "sessions",
        ["pair_id", "created_at", "session_id"],
        unique=False,
    )
    op.create_table(
        "session_texts",
        sa.Column("session_id", sa.String(length=200), nullable=False),
        sa.Column(
            "topics", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_texts")),
    )
    op.create_table(
        "goals",
        sa.Column("goal_id", sa.String(length=200), nullable=False),
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("mentee_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.SmallInteger(), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("set_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("milestone_count", sa.Integer(), nullable=False),
        sa.Column("milestones_done", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'achieved', 'dropped')", name=op.f("ck_goals_status_known")
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_goals_progress_percent")),
        sa.PrimaryKeyConstraint("goal_id", name=op.f("pk_goals")),
    )
    op.create_index(
        "ix_goals_pair_created", "goals", ["pair_id", "created_at", "goal_id"], unique=False
    )
    op.create_table(
        "goal_texts",
        sa.Column("goal_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("goal_id", name=op.f("pk_goal_texts")),
    )
    op.create_table(
        "milestones",
        sa.Column("milestone_id", sa.String(length=200), nullable=False),
        sa.Column("goal_id", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("milestone_id", name=op.f("pk_milestones")),
        sa.UniqueConstraint("goal_id", "position", name="uq_milestones_goal_position"),
    )
    op.create_table(
        "milestone_texts",
        sa.Column("milestone_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("milestone_id", name=op.f("pk_milestone_texts")),
    )
    op.create_table(
        "feedback",
        sa.Column("feedback_id", sa.String(length=200), nullable=False),
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("respondent_id", sa.String(length=200), nullable=False),
        sa.Column("respondent_role", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column("fits", sa.Boolean(), nullable=True),
        sa.Column("session_id", sa.String(length=200), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('session', 'checkin', 'exit', 'fit_check')",
            name=op.f("ck_feedback_kind_known"),
        ),
        sa.CheckConstraint(
            "nps IS NULL OR nps BETWEEN 0 AND 10", name=op.f("ck_feedback_nps_range")
        ),
        sa.CheckConstraint(
            "rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_feedback_rating_range")
        ),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_feedback")),
    )
    op.create_index(
        "ix_feedback_pair_created",
        "feedback",
        ["pair_id", "created_at", "feedback_id"],
        unique=False,
    )
    op.create_table(
        "feedback_texts",
        sa.Column("feedback_id", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_feedback_texts")),
    )


def downgrade() -> None:
    op.drop_table("feedback_texts")
    op.drop_table("feedback")
    op.drop_table("milestone_texts")
    op.drop_table("milestones")
    op.drop_table("goal_texts")
    op.drop_table("goals")
    op.drop_table("session_texts")
    op.drop_table("sessions")
    op.drop_table("programs")
    op.drop_table("pairs")
    drop_kit_tables_v1()
