"""The sessions database: the kit's tables (events, relay checkpoints, consumer inbox, ...)
plus the service's own tables, all in one MetaData with the kit's naming rules.

Three kinds of tables, kept apart on purpose:

- the **pair registry** (``pairs``, ``programs``): a projection of other services'
  events, written by the consumers;
- **query tables** (``sessions``, ``goals``, ``milestones``, ``feedback``): projections
  of this service's own events, written inline in the command's transaction and
  rebuildable from the event store;
- **private texts** (``*_texts``): notes, topics, titles and comments. They are the one
  thing not in the events, because events leave the service and these must not (they
  are visible to the pair only). They are written by the use cases in the same
  transaction as the events, never projected, never published.
"""

import sqlalchemy as sa

from mentorship_kit.eventstore import kit_metadata
from mentorship_kit.eventstore.tables import JsonType

metadata = kit_metadata()

ID = 200  # ids of other services (employee ids are client-supplied) fit in 200 characters
TITLE_LENGTH = 200
TEXT_LENGTH = 10_000
TOPIC_LENGTH = 100


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=f"{column}_known")


pairs = sa.Table(
    "pairs",
    metadata,
    sa.Column("pair_id", sa.String(ID), primary_key=True),
    sa.Column("program_id", sa.String(ID), nullable=False, index=True),
    sa.Column("mentor_id", sa.String(ID), nullable=False),
    sa.Column("mentee_id", sa.String(ID), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("formed_on", sa.Date, nullable=True),
    sa.Column("ended_on", sa.Date, nullable=True),
    sa.Column("end_reason", sa.String(32), nullable=True),
    _one_of("status", ("proposed", "active", "declined", "ended")),
)

programs = sa.Table(
    "programs",
    metadata,
    sa.Column("program_id", sa.String(ID), primary_key=True),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date, nullable=True),
    sa.Column("cadence_days", sa.Integer, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session_id", sa.String(ID), primary_key=True),
    sa.Column("pair_id", sa.String(ID), nullable=False),
    sa.Column("program_id", sa.String(ID), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
    sa.Column("expected_minutes", sa.Integer, nullable=True),
    sa.Column("held_on", sa.Date, nullable=True),
    sa.Column("duration_minutes", sa.Integer, nullable=True),
    sa.Column("topic_count", sa.Integer, nullable=False),
    sa.Column("closed_on", sa.Date, nullable=True),
    # When the session's first event was recorded: with the id, the order of a listing.
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    _one_of("status", ("scheduled", "held", "cancelled", "no_show")),
    sa.Index("ix_sessions_pair_created", "pair_id", "created_at", "session_id"),
)

session_texts = sa.Table(
    "session_texts",
    metadata,
    sa.Column("session_id", sa.String(ID), primary_key=True),
    sa.Column("topics", JsonType, nullable=False),
    sa.Column("notes", sa.Text, nullable=True),
)

goals = sa.Table(
    "goals",
    metadata,
    sa.Column("goal_id", sa.String(ID), primary_key=True),
    sa.Column("pair_id", sa.String(ID), nullable=False),
    sa.Column("program_id", sa.String(ID), nullable=False),
    sa.Column("mentee_id", sa.String(ID), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.SmallInteger, nullable=False),
    sa.Column("target_date", sa.Date, nullable=True),
    sa.Column("set_on", sa.Date, nullable=False),
    sa.Column("closed_on", sa.Date, nullable=True),
    sa.Column("milestone_count", sa.Integer, nullable=False),
    sa.Column("milestones_done", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    _one_of("status", ("open", "achieved", "dropped")),
    sa.CheckConstraint("progress BETWEEN 0 AND 100", name="progress_percent"),
    sa.Index("ix_goals_pair_created", "pair_id", "created_at", "goal_id"),
)

goal_texts = sa.Table(
    "goal_texts",
    metadata,
    sa.Column("goal_id", sa.String(ID), primary_key=True),
    sa.Column("title", sa.String(TITLE_LENGTH), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
)

milestones = sa.Table(
    "milestones",
    metadata,
    sa.Column("milestone_id", sa.String(ID), primary_key=True),
    sa.Column("goal_id", sa.String(ID), nullable=False),
    sa.Column("due_on", sa.Date, nullable=True),
    sa.Column("done", sa.Boolean, nullable=False),
    # 1, 2, ... in the order the milestones were added to the goal.
    sa.Column("position", sa.Integer, nullable=False),
    sa.UniqueConstraint("goal_id", "position", name="uq_milestones_goal_position"),
)

milestone_texts = sa.Table(
    "milestone_texts",
    metadata,
    sa.Column("milestone_id", sa.String(ID), primary_key=True),
    sa.Column("title", sa.String(TITLE_LENGTH), nullable=False),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("feedback_id", sa.String(ID), primary_key=True),
    sa.Column("pair_id", sa.String(ID), nullable=False),
    sa.Column("program_id", sa.String(ID), nullable=False),
    sa.Column("respondent_id", sa.String(ID), nullable=False),
    sa.Column("respondent_role", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("rating", sa.SmallInteger, nullable=True),
    sa.Column("nps", sa.SmallInteger, nullable=True),
    sa.Column("fits", sa.Boolean, nullable=True),
    sa.Column("session_id", sa.String(ID), nullable=True),
    sa.Column("submitted_on", sa.Date, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    _one_of("kind", ("session", "checkin", "exit", "fit_check")),
    sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
    sa.CheckConstraint("nps IS NULL OR nps BETWEEN 0 AND 10", name="nps_range"),
    sa.Index("ix_feedback_pair_created", "pair_id", "created_at", "feedback_id"),
)

feedback_texts = sa.Table(
    "feedback_texts",
    metadata,
    sa.Column("feedback_id", sa.String(ID), primary_key=True),
    sa.Column("comment", sa.Text, nullable=False),
)

QUERY_TABLES = (sessions, goals, milestones, feedback)
PRIVATE_TEXT_TABLES = (session_texts, goal_texts, milestone_texts, feedback_texts)
