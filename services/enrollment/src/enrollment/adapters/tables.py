"""The enrollment database: the kit's tables (events, relay checkpoints, idempotency keys, ...)
plus the service's own query tables, all in one MetaData with the kit's naming rules.

The query tables are a projection of the events (see ``adapters.projection``), kept in
the command's own transaction. Their keys carry invariants the API relies on:

- ``enrollments``: one *live* (pending, waitlisted or enrolled) application per program,
  employee and role (a partial unique index); a rejected or withdrawn applicant may
  apply again;
- ``employees.user_name_key``: a SCIM userName (case-insensitive) names one employee.

``seq`` columns give lists a stable keyset order (cursor pagination); they are the
primary key because SQLite only numbers an INTEGER PRIMARY KEY by itself.
"""

import sqlalchemy as sa

from mentorship_kit.eventstore import kit_metadata
from mentorship_kit.eventstore.tables import BigIntId, JsonType
from mentorship_kit.personal import define_keys_table

metadata = kit_metadata()
# The data keys that seal employees' personal data in events (see mentorship_kit.personal).
personal_data_keys = define_keys_table(metadata)

LIVE_STATUSES = ("pending_approval", "enrolled", "waitlisted")
_LIVE = sa.text("status IN ('pending_approval', 'enrolled', 'waitlisted')")
# Only names an identity provider claimed: rows the HRIS created (most of a bulk import)
# have none and stay out of the index.
_CLAIMED = sa.text("user_name_key IS NOT NULL AND NOT deprovisioned")

programs = sa.Table(
    "programs",
    metadata,
    sa.Column("seq", BigIntId, sa.Identity(always=False), primary_key=True),
    sa.Column("program_id", sa.String(64), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("settings", JsonType, nullable=False),
    sa.Column("opened_on", sa.Date, nullable=True),
    sa.Column("closed_on", sa.Date, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_programs_status_seq", "status", "seq"),
)

employees = sa.Table(
    "employees",
    metadata,
    sa.Column("employee_id", sa.String(128), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("record", JsonType, nullable=False),
    # casefold(userName) when the identity provider set one; unique among the users it
    # has not deleted (a deleted user's name may be given to someone else).
    sa.Column("user_name_key", sa.String(255), nullable=True),
    # casefold(userName or employee id): what `filter=userName eq "x"` looks up.
    sa.Column("login_key", sa.String(255), nullable=False),
    sa.Column("deprovisioned", sa.Boolean, nullable=False),
    sa.Column("left_on", sa.Date, nullable=True),
    sa.Column("departure_reason", sa.String(16), nullable=True),
    # Set when the employee's personal data was erased: ``record`` then has none left.
    sa.Column("erased_on", sa.Date, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_employees_login_key", "login_key"),
    sa.Index(
        "uq_employees_user_name_key",
        "user_name_key",
        unique=True,
        postgresql_where=_CLAIMED,
        sqlite_where=_CLAIMED,
    ),
)

enrollments = sa.Table(
    "enrollments",
    metadata,
    sa.Column("seq", BigIntId, sa.Identity(always=False), primary_key=True),
    sa.Column("enrollment_id", sa.String(64), nullable=False, unique=True),
    sa.Column("program_id", sa.String(64), nullable=False),
    sa.Column("employee_id", sa.String(128), nullable=False),
    sa.Column("role", sa.String(8), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("profile", JsonType, nullable=False),
    sa.Column("reasons", JsonType, nullable=False),
    sa.Column("withdrawal_reason", sa.String(20), nullable=True),
    sa.Column("submitted_on", sa.Date, nullable=False),
    sa.Column("decided_on", sa.Date, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_enrollments_program_seq", "program_id", "seq"),
    sa.Index("ix_enrollments_program_role_status", "program_id", "role", "status"),
    sa.Index("ix_enrollments_employee", "employee_id"),
    sa.Index(
        "uq_enrollments_live_application",
        "program_id",
        "employee_id",
        "role",
        unique=True,
        postgresql_where=_LIVE,
        sqlite_where=_LIVE,
    ),
)

LIVE_APPLICATION_CONSTRAINT = "uq_enrollments_live_application"
USER_NAME_CONSTRAINT = "uq_employees_user_name_key"
