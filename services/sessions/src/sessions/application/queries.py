"""Reads: who may see what, then the query tables.

The pair's members read everything of their pair, texts included. Admins read sessions
and feedback without texts (what the events carry: dates, numbers, ratings) and no
goals (goals belong to the pair). Everyone else gets 403, an unknown pair 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mentorship_kit.eventstore import EventStore
from mentorship_kit.feed import HistoryEntry, history_entry
from mentorship_kit.pagination import Keyset
from sessions.adapters import queries, tables
from sessions.adapters.queries import FeedbackView, GoalView, SessionView
from sessions.application.access import require_pair
from sessions.application.sessions import stream_id as session_stream
from sessions.domain.errors import NotFoundError
from sessions.domain.feedback import PairFeedback, next_check_in_on
from sessions.domain.pairs import Actor, Pair, ProgramCalendar

_PairOf = Callable[[AsyncConnection, str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class PairOverview:
    pair: Pair
    calendar: ProgramCalendar | None
    next_check_in_on: dict[str, date | None]


async def pair_overview(engine: AsyncEngine, pair_id: str, actor: Actor) -> PairOverview:
    async with engine.connect() as conn:
        context, _ = await require_pair(conn, pair_id, actor, admin_allowed=True)
        last = await queries.last_check_ins(conn, pair_id)
    state = PairFeedback(pair_id, last_check_in=last)
    members = (context.pair.mentor_id, context.pair.mentee_id)
    return PairOverview(
        pair=context.pair,
        calendar=context.calendar,
        next_check_in_on={member: next_check_in_on(state, context, member) for member in members},
    )


async def session_history_of_pair(
    store: EventStore, pair_id: str, actor: Actor
) -> list[HistoryEntry]:
    """Every change of every session of the pair, oldest first, with who made it.

    Events carry no free text (privacy rule of the contracts), so the history shows
    dates, durations and outcomes to the pair's members and admins alike.
    """
    async with store.engine.connect() as conn:
        await require_pair(conn, pair_id, actor, admin_allowed=True)
        rows = await conn.execute(
            sa.select(tables.sessions.c.session_id).where(tables.sessions.c.pair_id == pair_id)
        )
        streams = [session_stream(session_id) for (session_id,) in rows]
        recorded = await store.read_streams(conn, streams)
    events = sorted(
        (event for stream in recorded.values() for event in stream), key=lambda e: e.position
    )
    return [history_entry(event) for event in events]


async def sessions_of_pair(
    engine: AsyncEngine,
    pair_id: str,
    actor: Actor,
    *,
    after: Keyset | None,
    limit: int,
    status: str | None,
) -> list[SessionView]:
    async with engine.connect() as conn:
        _, role = await require_pair(conn, pair_id, actor, admin_allowed=True)
        return await queries.list_sessions(
            conn, pair_id, private=role is not None, after=after, limit=limit, status=status
        )


async def session(engine: AsyncEngine, session_id: str, actor: Actor) -> SessionView:
    async with engine.connect() as conn:
        pair_id = await _owner(conn, "session", session_id, queries.session_pair_id)
        _, role = await require_pair(conn, pair_id, actor, admin_allowed=True)
        view = await queries.get_session(conn, session_id, private=role is not None)
    if view is None:
        raise NotFoundError("session", session_id)
    return view


async def goals_of_pair(
    engine: AsyncEngine, pair_id: str, actor: Actor, *, after: Keyset | None, limit: int
) -> list[GoalView]:
    async with engine.connect() as conn:
        await require_pair(conn, pair_id, actor, admin_allowed=False)
        return await queries.list_goals(conn, pair_id, private=True, after=after, limit=limit)


async def goal(engine: AsyncEngine, goal_id: str, actor: Actor) -> GoalView:
    async with engine.connect() as conn:
        pair_id = await _owner(conn, "goal", goal_id, queries.goal_pair_id)
        await require_pair(conn, pair_id, actor, admin_allowed=False)
        view = await queries.get_goal(conn, goal_id, private=True)
    if view is None:
        raise NotFoundError("goal", goal_id)
    return view


async def feedback_of_pair(
    engine: AsyncEngine,
    pair_id: str,
    actor: Actor,
    *,
    after: Keyset | None,
    limit: int,
    kind: str | None,
) -> list[FeedbackView]:
    async with engine.connect() as conn:
        _, role = await require_pair(conn, pair_id, actor, admin_allowed=True)
        return await queries.list_feedback(
            conn, pair_id, private=role is not None, after=after, limit=limit, kind=kind
        )


async def _owner(conn: AsyncConnection, kind: str, key: str, find: _PairOf) -> str:
    pair_id = await find(conn, key)
    if pair_id is None:
        raise NotFoundError(kind, key)
    return pair_id
