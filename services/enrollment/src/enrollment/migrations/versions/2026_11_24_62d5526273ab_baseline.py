"""Baseline: the schema as it was before migrations.

Every table as `create_all` made it from the service's MetaData until then: the kit's
tables (events, relay checkpoints, consumer versions, dead letters, idempotency keys)
and the service's own. A database created that way is stamped at this revision instead
of running it (see mentorship_kit.migrations).

Revision ID: 62d5526273ab
Revises:
Created: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mentorship_kit.migrations.kit_tables import create_kit_tables_v1, drop_kit_tables_v1

revision: str = "62d5526273ab"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables_v1()

    # The enrollment service's own tables (enrollment.adapters.tables).
    op.create_table(
        "personal_data_keys",
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_personal_data_keys")),
    )
    op.create_table(
        "programs",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "settings", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("opened_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_programs")),
        sa.UniqueConstraint("program_id", name=op.f("uq_programs_program_id")),
    )
    op.create_index("ix_programs_status_seq", "programs", ["status", "seq"], unique=False)
    op.create_table(
        "employees",
        sa.Column("employee_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "record", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("user_name_key", sa.String(length=255), nullable=True),
        sa.Column("login_key", sa.String(length=255), nullable=False),
        sa.Column("deprovisioned", sa.Boolean(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("departure_reason", sa.String(length=16), nullable=True),
        sa.Column("erased_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_employees")),
    )
    op.create_index("ix_employees_login_key", "employees", ["login_key"], unique=False)
    op.create_index(
        "uq_employees_user_name_key",
        "employees",
        ["user_name_key"],
        unique=True,
        postgresql_where=sa.text("user_name_key IS NOT NULL AND NOT deprovisioned"),
        sqlite_where=sa.text("user_name_key IS NOT NULL AND NOT deprovisioned"),
    )
    op.create_table(
        "enrollments",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("enrollment_id", sa.String(length=64), nullable=False),
        sa.Column("program_id", sa.String(length=64), nullable=False),
        sa.Column("employee_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "profile", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "reasons", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("withdrawal_reason", sa.String(length=20), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_enrollments")),
        sa.UniqueConstraint("enrollment_id", name=op.f("uq_enrollments_enrollment_id")),
    )
    op.create_index("ix_enrollments_employee", "enrollments", ["employee_id"], unique=False)
    op.create_index(
        "ix_enrollments_program_role_status",
        "enrollments",
        ["program_id", "role", "status"],
        unique=False,
    )
    op.create_index(
        "ix_enrollments_program_seq", "enrollments", ["program_id", "seq"], unique=False
    )
    op.create_index(
        "uq_enrollments_live_application",
        "enrollments",
        ["program_id", "employee_id", "role"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending_approval', 'enrolled', 'waitlisted')"),
        sqlite_where=sa.text("status IN ('pending_approval', 'enrolled', 'waitlisted')"),
    )


def downgrade() -> None:
    op.drop_table("enrollments")
    op.drop_table("employees")
    op.drop_table("programs")
    op.drop_table("personal_data_keys")
    drop_kit_tables_v1()
