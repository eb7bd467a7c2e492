"""Reads for the API: the query tables, joined with the private texts only when the
reader may see them (``private=True`` is for the pair's members; nobody else's query
even selects the texts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_kit.pagination import Keyset
from sessions.adapters.tables import (
    feedback,
    feedback_texts,
    goal_texts,
    goals,
    milestone_texts,
    milestones,
    session_texts,
    sessions,
)


@dataclass(frozen=True, slots=True)
class SessionView:
    session_id: str
    pair_id: str
    program_id: str
    status: str
    mode: str | None
    scheduled_for: datetime | None
    expected_minutes: int | None
    held_on: date | None
    duration_minutes: int | None
    topic_count: int
    closed_on: date | None
    created_at: datetime
    topics: list[str] | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class MilestoneView:
    milestone_id: str
    position: int
    due_on: date | None
    done: bool
    title: str | None = None


@dataclass(frozen=True, slots=True)
class GoalView:
    goal_id: str
    pair_id: str
    program_id: str
    mentee_id: str
    status: str
    progress: int
    target_date: date | None
    set_on: date
    closed_on: date | None
    milestone_count: int
    milestones_done: int
    created_at: datetime
    milestones: tuple[MilestoneView, ...] = ()
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackView:
    feedback_id: str
    pair_id: str
    program_id: str
    respondent_id: str
    respondent_role: str
    kind: str
    rating: int | None
    nps: int | None
    fits: bool | None
    session_id: str | None
    submitted_on: date
    created_at: datetime
    comment: str | None = None


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _created(row: sa.RowMapping) -> datetime:
    created: datetime = row["created_at"]
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


def _page(
    query: sa.Select[Any],
    created: sa.ColumnElement[Any],
    key: sa.ColumnElement[Any],
    after: Keyset | None,
    limit: int,
) -> sa.Select[Any]:
    if after is not None:
        query = query.where(sa.tuple_(created, key) > sa.tuple_(after.at, after.key))
    return query.order_by(created, key).limit(limit)


def _session(row: sa.RowMapping, private: bool) -> SessionView:
    return SessionView(
        session_id=row["session_id"],
        pair_id=row["pair_id"],
        program_id=row["program_id"],
        status=row["status"],
        mode=row["mode"],
        scheduled_for=_utc(row["scheduled_for"]),
        expected_minutes=row["expected_minutes"],
        held_on=row["held_on"],
        duration_minutes=row["duration_minutes"],
        topic_count=row["topic_count"],
        closed_on=row["closed_on"],
        created_at=_created(row),
        topics=list(row["topics"] or []) if private else None,
        notes=row["notes"] if private else None,
    )


def _session_query(private: bool) -> sa.Select[Any]:
    if not private:
        return sa.select(sessions)
    return sa.select(sessions, session_texts.c.topics, session_texts.c.notes).select_from(
        sessions.outerjoin(session_texts, session_texts.c.session_id == sessions.c.session_id)
    )


async def list_sessions(
    conn: AsyncConnection,
    pair_id: str,
    *,
    private: bool,
    after: Keyset | None,
    limit: int,
    status: str | None = None,
) -> list[SessionView]:
    query = _session_query(private).where(sessions.c.pair_id == pair_id)
    if status is not None:
        query = query.where(sessions.c.status == status)
    query = _page(query, sessions.c.created_at, sessions.c.session_id, after, limit)
    return [_session(row, private) for row in (await conn.execute(query)).mappings()]


async def get_session(
    conn: AsyncConnection, session_id: str, *, private: bool
) -> SessionView | None:
    query = _session_query(private).where(sessions.c.session_id == session_id)
    row = (await conn.execute(query)).mappings().first()
    return _session(row, private) if row is not None else None


async def session_pair_id(conn: AsyncConnection, session_id: str) -> str | None:
    query = sa.select(sessions.c.pair_id).where(sessions.c.session_id == session_id)
    pair_id: str | None = await conn.scalar(query)
    return pair_id


async def first_held_session_id(conn: AsyncConnection, pair_id: str) -> str | None:
    """The pair's earliest held session (by date held), the one a fit check follows."""
    query = (
        sa.select(sessions.c.session_id)
        .where(sessions.c.pair_id == pair_id, sessions.c.status == "held")
        .order_by(sessions.c.held_on, sessions.c.created_at, sessions.c.session_id)
        .limit(1)
    )
    session_id: str | None = await conn.scalar(query)
    return session_id


def _goal(row: sa.RowMapping, milestone_views: Sequence[MilestoneView], private: bool) -> GoalView:
    return GoalView(
        goal_id=row["goal_id"],
        pair_id=row["pair_id"],
        program_id=row["program_id"],
        mentee_id=row["mentee_id"],
        status=row["status"],
        progress=row["progress"],
        target_date=row["target_date"],
        set_on=row["set_on"],
        closed_on=row["closed_on"],
        milestone_count=row["milestone_count"],
        milestones_done=row["milestones_done"],
        created_at=_created(row),
        milestones=tuple(milestone_views),
        title=row["title"] if private else None,
        description=row["description"] if private else None,
    )


def _goal_query(private: bool) -> sa.Select[Any]:
    if not private:
        return sa.select(goals)
    return sa.select(goals, goal_texts.c.title, goal_texts.c.description).select_from(
        goals.outerjoin(goal_texts, goal_texts.c.goal_id == goals.c.goal_id)
    )


async def _milestones(
    conn: AsyncConnection, goal_ids: Sequence[str], *, private: bool
) -> dict[str, list[MilestoneView]]:
    found: dict[str, list[MilestoneView]] = {goal_id: [] for goal_id in goal_ids}
    if not goal_ids:
        return found
    columns = [milestones, milestone_texts.c.title] if private else [milestones]
    query = (
        sa.select(*columns)
        .select_from(
            milestones.outerjoin(
                milestone_texts, milestone_texts.c.milestone_id == milestones.c.milestone_id
            )
        )
        .where(milestones.c.goal_id.in_(list(goal_ids)))
        .order_by(milestones.c.goal_id, milestones.c.position)
    )
    for row in (await conn.execute(query)).mappings():
        found[row["goal_id"]].append(
            MilestoneView(
                milestone_id=row["milestone_id"],
                position=row["position"],
                due_on=row["due_on"],
                done=row["done"],
                title=row["title"] if private else None,
            )
        )
    return found


async def list_goals(
    conn: AsyncConnection, pair_id: str, *, private: bool, after: Keyset | None, limit: int
) -> list[GoalView]:
    query = _page(
        _goal_query(private).where(goals.c.pair_id == pair_id),
        goals.c.created_at,
        goals.c.goal_id,
        after,
        limit,
    )
    rows = (await conn.execute(query)).mappings().all()
    by_goal = await _milestones(conn, [row["goal_id"] for row in rows], private=private)
    return [_goal(row, by_goal[row["goal_id"]], private) for row in rows]


async def get_goal(conn: AsyncConnection, goal_id: str, *, private: bool) -> GoalView | None:
    row = (
        (await conn.execute(_goal_query(private).where(goals.c.goal_id == goal_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    by_goal = await _milestones(conn, [goal_id], private=private)
    return _goal(row, by_goal[goal_id], private)


async def goal_pair_id(conn: AsyncConnection, goal_id: str) -> str | None:
    pair_id: str | None = await conn.scalar(
        sa.select(goals.c.pair_id).where(goals.c.goal_id == goal_id)
    )
    return pair_id


def _feedback(row: sa.RowMapping, private: bool) -> FeedbackView:
    return FeedbackView(
        feedback_id=row["feedback_id"],
        pair_id=row["pair_id"],
        program_id=row["program_id"],
        respondent_id=row["respondent_id"],
        respondent_role=row["respondent_role"],
        kind=row["kind"],
        rating=row["rating"],
        nps=row["nps"],
        fits=row["fits"],
        session_id=row["session_id"],
        submitted_on=row["submitted_on"],
        created_at=_created(row),
        comment=row["comment"] if private else None,
    )


def _feedback_query(private: bool) -> sa.Select[Any]:
    if not private:
        return sa.select(feedback)
    return sa.select(feedback, feedback_texts.c.comment).select_from(
        feedback.outerjoin(feedback_texts, feedback_texts.c.feedback_id == feedback.c.feedback_id)
    )


async def list_feedback(
    conn: AsyncConnection,
    pair_id: str,
    *,
    private: bool,
    after: Keyset | None,
    limit: int,
    kind: str | None = None,
) -> list[FeedbackView]:
    query = _feedback_query(private).where(feedback.c.pair_id == pair_id)
    if kind is not None:
        query = query.where(feedback.c.kind == kind)
    query = _page(query, feedback.c.created_at, feedback.c.feedback_id, after, limit)
    return [_feedback(row, private) for row in (await conn.execute(query)).mappings()]


async def get_feedback(
    conn: AsyncConnection, feedback_id: str, *, private: bool
) -> FeedbackView | None:
    query = _feedback_query(private).where(feedback.c.feedback_id == feedback_id)
    row = (await conn.execute(query)).mappings().first()
    return _feedback(row, private) if row is not None else None


async def last_check_ins(conn: AsyncConnection, pair_id: str) -> dict[str, date]:
    """Each member's latest check-in date."""
    query = (
        sa.select(feedback.c.respondent_id, sa.func.max(feedback.c.submitted_on))
        .where(feedback.c.pair_id == pair_id, feedback.c.kind == "checkin")
        .group_by(feedback.c.respondent_id)
    )
    rows = (await conn.execute(query)).all()
    return {row[0]: row[1] for row in rows}
