"""Baseline: the schema as it was before migrations.

Every table as `create_all` made it from the service's MetaData until then: the kit's
tables (events, relay checkpoints, consumer versions, dead letters, idempotency keys)
and the service's own. A database created that way is stamped at this revision instead
of running it (see mentorship_kit.migrations).

Revision ID: 321ae4536ac6
Revises:
Created: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mentorship_kit.migrations.kit_tables import create_kit_tables_v1, drop_kit_tables_v1

revision: str = "321ae4536ac6"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v1()

    # The matching service's own tables (matching.adapters.tables).
    op.create_table(
        "pool_programs",
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("mentor_capacity", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'closed', 'archived')",
            name=op.f("ck_pool_programs_status"),
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_pool_programs")),
    )
    op.create_table(
        "pool_employees",
        sa.Column("employee_id", sa.String(length=200), nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("job_level", sa.Integer(), nullable=True),
        sa.Column("manager_id", sa.String(length=200), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_pool_employees")),
    )
    op.create_table(
        "pool_participants",
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("employee_id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("enrollment_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.CheckConstraint("role IN ('mentor', 'mentee')", name=op.f("ck_pool_participants_role")),
        sa.CheckConstraint(
            "status IN ('enrolled', 'withdrawn')", name=op.f("ck_pool_participants_status")
        ),
        sa.PrimaryKeyConstraint(
            "program_id", "employee_id", "role", name=op.f("pk_pool_participants")
        ),
    )
    op.create_index(
        "ix_pool_participants_employee", "pool_participants", ["employee_id"], unique=False
    )
    op.create_table(
        "match_runs",
        sa.Column("run_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("objective", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("algorithm_version", sa.String(length=100), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_accept", sa.Boolean(), nullable=True),
        sa.CheckConstraint(
            "status IN ('completed', 'published')", name=op.f("ck_match_runs_status")
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_match_runs")),
    )
    op.create_index(
        "ix_match_runs_program", "match_runs", ["program_id", "created_at", "run_id"], unique=False
    )
    op.create_table(
        "match_run_proposals",
        sa.Column("run_id", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("mentor_id", sa.String(length=200), nullable=False),
        sa.Column("mentee_id", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_match_run_proposals")),
    )
    op.create_table(
        "match_run_unmatched",
        sa.Column("run_id", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("excluded_by", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_match_run_unmatched")),
    )
    op.create_table(
        "pairs",
        sa.Column("pair_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("mentor_id", sa.String(length=200), nullable=False),
        sa.Column("mentee_id", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("algorithm_version", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mentor_accepted", sa.Boolean(), nullable=False),
        sa.Column("mentee_accepted", sa.Boolean(), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("formed_on", sa.Date(), nullable=True),
        sa.Column("formed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_on", sa.Date(), nullable=True),
        sa.Column("decline_reason", sa.String(length=20), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=20), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'active', 'declined', 'ended')", name=op.f("ck_pairs_status")
        ),
        sa.PrimaryKeyConstraint("pair_id", name=op.f("pk_pairs")),
    )
    op.create_index("ix_pairs_mentee", "pairs", ["mentee_id"], unique=False)
    op.create_index("ix_pairs_mentor", "pairs", ["mentor_id"], unique=False)
    op.create_index(
        "ix_pairs_program_status",
        "pairs",
        ["program_id", "status", "proposed_at", "pair_id"],
        unique=False,
    )
    op.create_index(
        "ux_pairs_live_mentee",
        "pairs",
        ["program_id", "mentee_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('proposed', 'active')"),
        postgresql_where=sa.text("status IN ('proposed', 'active')"),
    )
    op.create_table(
        "mentor_requests",
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("mentee_id", sa.String(length=200), nullable=False),
        sa.Column("mentor_id", sa.String(length=200), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("choice_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pair_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'exhausted', 'cancelled')",
            name=op.f("ck_mentor_requests_status"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_mentor_requests")),
    )
    op.create_index(
        "ix_mentor_requests_due", "mentor_requests", ["status", "expires_at"], unique=False
    )
    op.create_index("ix_mentor_requests_mentee", "mentor_requests", ["mentee_id"], unique=False)
    op.create_index("ix_mentor_requests_mentor", "mentor_requests", ["mentor_id"], unique=False)
    op.create_index(
        "ix_mentor_requests_program",
        "mentor_requests",
        ["program_id", "created_at", "request_id"],
        unique=False,
    )
    op.create_table(
        "blocked_pairs",
        sa.Column("block_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("employee_a", sa.String(length=200), nullable=False),
        sa.Column("employee_b", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("block_id", name=op.f("pk_blocked_pairs")),
    )
    op.create_index(
        "ix_blocked_pairs_program",
        "blocked_pairs",
        ["program_id", "created_at", "block_id"],
        unique=False,
    )
    op.create_table(
        "system_commands",
        sa.Column("command_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("employee_id", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("source_event_id", sa.String(length=36), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('pair', 'mentor_request')", name=op.f("ck_system_commands_kind")
        ),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_system_commands")),
    )
    op.create_index(
        "ix_system_commands_created", "system_commands", ["created_at", "command_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("system_commands")
    op.drop_table("blocked_pairs")
    op.drop_table("mentor_requests")
    op.drop_table("pairs")
    op.drop_table("match_run_unmatched")
    op.drop_table("match_run_proposals")
    op.drop_table("match_runs")
    op.drop_table("pool_participants")
    op.drop_table("pool_employees")
    op.drop_table("pool_programs")
    drop_kit_tables_v1()
