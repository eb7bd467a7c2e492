"""The matching database: the kit's tables (events, relay checkpoints, consumer inbox, ...)
plus the service's own tables, all in one MetaData with the kit's naming rules.

Three groups, by who writes them:

- the candidate pool (`pool_*`), a projection of enrollment's events kept by the
  "matching-pool" consumer;
- the views of matching's own events (`match_runs`, `match_run_*`, `pairs`,
  `mentor_requests`, `blocked_pairs`), kept inline in each command's transaction;
- `system_commands`, the durable to-do list consumers leave for the closure worker
  (pairs and requests to close because a member left or a fit check failed).

Projection tables carry no foreign keys and no database enums (they must be
rebuildable into shadow tables).
"""

import sqlalchemy as sa

from mentorship_kit.eventstore import kit_metadata

metadata = kit_metadata()

ID = sa.String(200)
EVENT_ID = sa.String(36)
Stamp = sa.DateTime(timezone=True)

# -- the candidate pool (consumer "matching-pool") ---------------------------------------

pool_programs = sa.Table(
    "pool_programs",
    metadata,
    sa.Column("program_id", ID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("formats", sa.JSON, nullable=False),
    sa.Column("mentor_capacity", sa.Integer, nullable=False),
    sa.CheckConstraint("status IN ('draft', 'open', 'closed', 'archived')", name="status"),
)

pool_employees = sa.Table(
    "pool_employees",
    metadata,
    sa.Column("employee_id", ID, primary_key=True),
    sa.Column("department", sa.Text),
    sa.Column("job_level", sa.Integer),
    sa.Column("manager_id", ID),
    sa.Column("languages", sa.JSON, nullable=False),
    sa.Column("timezone", sa.Text),
    sa.Column("location", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False),
)

pool_participants = sa.Table(
    "pool_participants",
    metadata,
    sa.Column("program_id", ID, primary_key=True),
    sa.Column("employee_id", ID, primary_key=True),
    sa.Column("role", sa.String(10), primary_key=True),
    sa.Column("enrollment_id", ID, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("enrolled_on", sa.Date, nullable=False),
    sa.CheckConstraint("role IN ('mentor', 'mentee')", name="role"),
    sa.CheckConstraint("status IN ('enrolled', 'withdrawn')", name="status"),
    sa.Index("ix_pool_participants_employee", "employee_id"),
)

# -- views of matching's own events (inline) ---------------------------------------------

match_runs = sa.Table(
    "match_runs",
    metadata,
    sa.Column("run_id", ID, primary_key=True),
    sa.Column("program_id", ID, nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("objective", sa.String(20), nullable=False),
    sa.Column("format", sa.String(20), nullable=False),
    sa.Column("algorithm_version", sa.String(100), nullable=False),
    # MatchRunCompleted's data as recorded: request, metrics, breakdown, solver.
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("published_at", Stamp),
    sa.Column("auto_accept", sa.Boolean),
    sa.CheckConstraint("status IN ('completed', 'published')", name="status"),
    sa.Index("ix_match_runs_program", "program_id", "created_at", "run_id"),
)

match_run_proposals = sa.Table(
    "match_run_proposals",
    metadata,
    sa.Column("run_id", ID, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("mentor_id", ID, nullable=False),
    sa.Column("mentee_id", ID, nullable=False),
    sa.Column("group_id", ID),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("explanation", sa.JSON, nullable=False),
)

match_run_unmatched = sa.Table(
    "match_run_unmatched",
    metadata,
    sa.Column("run_id", ID, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("employee_id", ID, nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("excluded_by", sa.JSON, nullable=False),
)

LIVE_PAIR = sa.text("status IN ('proposed', 'active')")

pairs = sa.Table(
    "pairs",
    metadata,
    sa.Column("pair_id", ID, primary_key=True),
    sa.Column("program_id", ID, nullable=False),
    sa.Column("run_id", ID),
    sa.Column("request_id", ID),
    sa.Column("mentor_id", ID, nullable=False),
    sa.Column("mentee_id", ID, nullable=False),
    sa.Column("format", sa.String(20), nullable=False),
    sa.Column("group_id", ID),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("explanation", sa.JSON, nullable=False),
    sa.Column("algorithm_version", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("mentor_accepted", sa.Boolean, nullable=False),
    sa.Column("mentee_accepted", sa.Boolean, nullable=False),
    sa.Column("proposed_on", sa.Date, nullable=False),
    sa.Column("proposed_at", Stamp, nullable=False),
    sa.Column("formed_on", sa.Date),
    sa.Column("formed_at", Stamp),
    sa.Column("declined_on", sa.Date),
    sa.Column("decline_reason", sa.String(20)),
    sa.Column("ended_on", sa.Date),
    sa.Column("ended_at", Stamp),
    sa.Column("end_reason", sa.String(20)),
    sa.CheckConstraint("status IN ('proposed', 'active', 'declined', 'ended')", name="status"),
    sa.Index("ix_pairs_program_status", "program_id", "status", "proposed_at", "pair_id"),
    sa.Index("ix_pairs_mentor", "mentor_id"),
    sa.Index("ix_pairs_mentee", "mentee_id"),
    # The invariant every run and request relies on: a mentee has at most one proposed
    # or active pair per program (a violation is answered 409, never stored).
    sa.Index(
        "ux_pairs_live_mentee",
        "program_id",
        "mentee_id",
        unique=True,
        sqlite_where=LIVE_PAIR,
        postgresql_where=LIVE_PAIR,
    ),
)

mentor_requests = sa.Table(
    "mentor_requests",
    metadata,
    sa.Column("request_id", ID, primary_key=True),
    sa.Column("program_id", ID, nullable=False),
    sa.Column("mentee_id", ID, nullable=False),
    sa.Column("mentor_id", ID, nullable=False),
    sa.Column("choices", sa.JSON, nullable=False),
    sa.Column("choice_rank", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("expires_at", Stamp, nullable=False),
    sa.Column("pair_id", ID),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Column("updated_at", Stamp, nullable=False),
    sa.CheckConstraint(
        "status IN ('pending', 'accepted', 'exhausted', 'cancelled')", name="status"
    ),
    sa.Index("ix_mentor_requests_due", "status", "expires_at"),
    sa.Index("ix_mentor_requests_program", "program_id", "created_at", "request_id"),
    sa.Index("ix_mentor_requests_mentee", "mentee_id"),
    sa.Index("ix_mentor_requests_mentor", "mentor_id"),
)

blocked_pairs = sa.Table(
    "blocked_pairs",
    metadata,
    sa.Column("block_id", ID, primary_key=True),
    sa.Column("program_id", ID, nullable=False),
    sa.Column("employee_a", ID, nullable=False),
    sa.Column("employee_b", ID, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", Stamp, nullable=False),
    sa.Index("ix_blocked_pairs_program", "program_id", "created_at", "block_id"),
)

# -- the consumers' to-do list for the closure worker ------------------------------------

system_commands = sa.Table(
    "system_commands",
    metadata,
    # uuid5 of (the source event id, the target): a redelivered source event finds its
    # commands already listed (or done) and adds nothing.
    sa.Column("command_id", EVENT_ID, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("target_id", ID, nullable=False),
    sa.Column("employee_id", ID, nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("occurred_on", sa.Date, nullable=False),
    sa.Column("source_event_id", EVENT_ID, nullable=False),
    sa.Column("actor", ID),
    sa.Column("correlation_id", sa.String(200)),
    sa.Column("created_at", Stamp, nullable=False),
    sa.CheckConstraint("kind IN ('pair', 'mentor_request')", name="kind"),
    sa.Index("ix_system_commands_created", "created_at", "command_id"),
)
