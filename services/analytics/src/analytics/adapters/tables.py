"""The analytics database: the kit's tables plus the fact tables the read models keep.

Analytics keeps *facts with their business dates* (hired on, enrolled on, formed on,
held on, submitted on...), one row per entity, and computes every figure when it is
asked, filtered on those dates. That is what makes an answer ``as_of`` a past date
exact: nothing is pre-aggregated, so nothing has to be un-counted.

Every fact table has a single text primary key (the entity id from the event), no
foreign keys and no database enums, so the kit can rebuild it into shadow tables and
swap it in. Secondary indexes are only those the queries use (all by program): each
one costs every write, and a rebuild writes every row. The tables are grouped by the
source stream that feeds them; each group is one read model (see
:mod:`analytics.adapters.projections`).
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

from mentorship_kit.eventstore import kit_metadata

metadata = kit_metadata()

_ID: Final = 200


def _id(name: str, *, primary_key: bool = False, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(_ID), primary_key=primary_key, nullable=nullable)


# -- from the enrollment stream: the directory, programs and enrollments ---------------

employees = sa.Table(
    "fact_employees",
    metadata,
    _id("employee_id", primary_key=True),
    sa.Column("department", sa.String(200)),
    sa.Column("job_level", sa.Integer),
    # The record's hired_on; when the HRIS sends none, the day the record arrived.
    sa.Column("hired_on", sa.Date),
    sa.Column("listed_on", sa.Date, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # Later employment spells as JSON [[began_on, ended_on|null], ...]; the first spell
    # begins on hired_on (or listed_on) and its start is not repeated here.
    sa.Column("spells", sa.Text, nullable=False),
)

programs = sa.Table(
    "fact_programs",
    metadata,
    _id("program_id", primary_key=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # Nullable: a program's status may be known before its settings (its first event
    # dead-lettered), and every row written must satisfy the columns' constraints.
    sa.Column("starts_on", sa.Date),
    sa.Column("ends_on", sa.Date),
    sa.Column("cadence_days", sa.Integer),
    sa.Column("opened_on", sa.Date),
    sa.Column("closed_on", sa.Date),
    # JSON [{"metric": ..., "target": ...}, ...] as the program's settings state them.
    sa.Column("kpi_targets", sa.Text, nullable=False),
)

enrollments = sa.Table(
    "fact_enrollments",
    metadata,
    _id("enrollment_id", primary_key=True),
    _id("program_id", nullable=False),
    _id("employee_id", nullable=False),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("submitted_on", sa.Date),
    # The first approval; an enrollment that was ever enrolled keeps it.
    sa.Column("enrolled_on", sa.Date),
    sa.Column("waitlisted_on", sa.Date),
    sa.Column("rejected_on", sa.Date),
    sa.Column("withdrew_on", sa.Date),
    sa.Column("withdraw_reason", sa.String(20)),
    sa.Index("ix_fact_enrollments_program_role", "program_id", "role"),
)

# -- from the matching stream: pairs ------------------------------------------------

pairs = sa.Table(
    "fact_pairs",
    metadata,
    _id("pair_id", primary_key=True),
    _id("program_id", nullable=False),
    _id("mentor_id", nullable=False),
    _id("mentee_id", nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("format", sa.String(20)),
    sa.Column("proposed_on", sa.Date),
    sa.Column("declined_on", sa.Date),
    sa.Column("formed_on", sa.Date),
    sa.Column("ended_on", sa.Date),
    sa.Column("end_reason", sa.String(30)),
    sa.Index("ix_fact_pairs_program", "program_id"),
)

# -- from the sessions stream: sessions, goals, feedback, check-ins, fit checks --------

sessions = sa.Table(
    "fact_sessions",
    metadata,
    _id("session_id", primary_key=True),
    _id("pair_id", nullable=False),
    _id("program_id", nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("scheduled_on", sa.Date),
    sa.Column("held_on", sa.Date),
    sa.Column("duration_minutes", sa.Integer),
    sa.Column("closed_on", sa.Date),
    sa.Index("ix_fact_sessions_program_held", "program_id", "held_on"),
)

goals = sa.Table(
    "fact_goals",
    metadata,
    _id("goal_id", primary_key=True),
    _id("pair_id", nullable=False),
    _id("program_id", nullable=False),
    _id("mentee_id"),
    sa.Column("set_on", sa.Date),
    sa.Column("achieved_on", sa.Date),
    sa.Column("dropped_on", sa.Date),
    sa.Column("progress", sa.Integer, nullable=False),
    sa.Index("ix_fact_goals_program", "program_id"),
)

feedback = sa.Table(
    "fact_feedback",
    metadata,
    _id("feedback_id", primary_key=True),
    _id("pair_id", nullable=False),
    _id("program_id", nullable=False),
    _id("respondent_id", nullable=False),
    sa.Column("respondent_role", sa.String(10), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("rating", sa.Integer, nullable=False),
    sa.Column("nps", sa.Integer),
    _id("session_id"),
    sa.Column("submitted_on", sa.Date, nullable=False),
    # When the answer was recorded: orders two answers of the same day.
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_fact_feedback_program_submitted", "program_id", "submitted_on"),
)

checkins = sa.Table(
    "fact_checkins",
    metadata,
    _id("feedback_id", primary_key=True),
    _id("pair_id", nullable=False),
    _id("program_id", nullable=False),
    _id("respondent_id", nullable=False),
    sa.Column("relationship_quality", sa.Integer, nullable=False),
    sa.Column("nps", sa.Integer, nullable=False),
    sa.Column("completed_on", sa.Date, nullable=False),
    sa.Index("ix_fact_checkins_program", "program_id"),
)

fit_checks = sa.Table(
    "fact_fit_checks",
    metadata,
    _id("feedback_id", primary_key=True),
    _id("pair_id", nullable=False),
    _id("program_id", nullable=False),
    _id("respondent_id", nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("reported_on", sa.Date, nullable=False),
    sa.Index("ix_fact_fit_checks_program", "program_id"),
)

# -- not a read model: the rebuilds this service ran, for progress and pausing --------

rebuilds = sa.Table(
    "analytics_rebuilds",
    metadata,
    sa.Column("rebuild_id", sa.String(36), primary_key=True),
    sa.Column("read_model", sa.String(50), nullable=False),
    # pending (consumers pausing) -> running -> swapped | failed
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("source", sa.String(20)),
    # Events applied so far, and how many the source held when the replay began.
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("expected_events", sa.BigInteger),
    sa.Column("duplicates", sa.BigInteger),
    # The source stream's last sequence when the replay began: everything up to it is
    # in the rebuilt model (decides whether a trimmed stream needs a catch-up).
    sa.Column("covers_sequence", sa.BigInteger),
    sa.Column("error", sa.Text),
    sa.Column("requested_by", sa.String(200)),
    # The request's Idempotency-Key: the same key (for the same read model) asks for the
    # same rebuild again.
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    # Refreshed while the rebuild runs; a stale one means its process died.
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Index("ix_analytics_rebuilds_model_status", "read_model", "status"),
    sa.UniqueConstraint("read_model", "idempotency_key"),
)
