"""Use cases of sessions: log, schedule, log a planned one, move, cancel, no-show.

The pair's members and admins may do all of them; only the members read the notes
back. Each use case reads the pair (share-locked until commit), checks who asks,
lets the domain decide, and appends; private texts are written beside the events.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from mentorship_contracts import EventContract
from mentorship_contracts.sessions import Mode
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.eventstore import NO_STREAM
from sessions.adapters import queries, texts
from sessions.adapters.queries import SessionView
from sessions.application.access import require_pair
from sessions.domain import sessions as domain
from sessions.domain.errors import InvalidFieldError, NotFoundError
from sessions.domain.pairs import Actor, PairContext


def stream_id(session_id: str) -> str:
    return f"session-{session_id}"


@dataclass(frozen=True, slots=True)
class SessionTexts:
    """What only the pair reads: the topics discussed and the notes."""

    topics: tuple[str, ...] = ()
    notes: str | None = None


def create_session(
    pair_id: str,
    *,
    status: Literal["held", "scheduled"],
    held_on: date | None,
    scheduled_for: datetime | None,
    duration_minutes: int,
    mode: Mode | None,
    private: SessionTexts,
    actor: Actor,
    now: datetime,
) -> UseCase[SessionView]:
    """Log a held session (``held_on`` defaults to today, UTC) or schedule one.

    ``duration_minutes`` is the actual duration of a held session and the expected one
    of a planned session (video unless ``mode`` says otherwise). Which date field goes
    with which status is checked after the pair and the caller are.
    """
    session_id = str(uuid.uuid4())

    def decide(context: PairContext) -> Sequence[EventContract]:
        if status == "held":
            if scheduled_for is not None:
                raise InvalidFieldError("scheduled_for", "a held session is logged with held_on")
            held = domain.LogSession(
                session_id=session_id,
                held_on=held_on or now.astimezone(UTC).date(),
                duration_minutes=duration_minutes,
                topic_count=len(private.topics),
                mode=mode,
            )
            return domain.log_session(context, held, now)
        if scheduled_for is None:
            raise InvalidFieldError("scheduled_for", "required when status is scheduled")
        if held_on is not None:
            raise InvalidFieldError("held_on", "a scheduled session has not been held yet")
        planned = domain.ScheduleSession(
            session_id=session_id,
            scheduled_for=scheduled_for,
            expected_minutes=duration_minutes,
            mode=mode or "video",
        )
        return domain.schedule_session(context, planned, now)

    return _new_session(pair_id, session_id, actor, private, decide)


def _new_session(
    pair_id: str,
    session_id: str,
    actor: Actor,
    private: SessionTexts,
    decide: Callable[[PairContext], Sequence[EventContract]],
) -> UseCase[SessionView]:
    async def use_case(tx: CommandTransaction) -> SessionView:
        context, role = await require_pair(
            tx.conn, pair_id, actor, admin_allowed=True, for_write=True
        )
        events = decide(context)
        # A fresh random id names a stream nobody wrote: no need to read it first.
        recorded = await tx.append(stream_id(session_id), events, expected_version=NO_STREAM)
        await texts.save_session_texts(tx.conn, session_id, private.topics, private.notes)
        state = _fold(None, events)
        return _view(state, recorded[0].recorded_at, private if role is not None else None)

    return use_case


def log_scheduled_session(
    session_id: str,
    *,
    held_on: date | None,
    duration_minutes: int,
    private: SessionTexts,
    actor: Actor,
    now: datetime,
) -> UseCase[SessionView]:
    """Record that a planned session was held; topics and notes replace the agenda."""
    command = domain.LogScheduledSession(held_on, duration_minutes, len(private.topics))
    return _change_session(
        session_id,
        actor,
        lambda session, ctx: domain.log_scheduled_session(session, ctx, command, now),
        private=private,
    )


def reschedule_session(
    session_id: str, *, scheduled_for: datetime, actor: Actor, now: datetime
) -> UseCase[SessionView]:
    command = domain.RescheduleSession(scheduled_for)
    return _change_session(
        session_id,
        actor,
        lambda session, ctx: domain.reschedule_session(session, ctx, command, now),
    )


def cancel_session(session_id: str, *, actor: Actor, now: datetime) -> UseCase[SessionView]:
    return _change_session(
        session_id, actor, lambda session, ctx: domain.cancel_session(session, ctx, now)
    )


def mark_no_show(session_id: str, *, actor: Actor, now: datetime) -> UseCase[SessionView]:
    return _change_session(
        session_id, actor, lambda session, ctx: domain.mark_no_show(session, ctx, now)
    )


Decide = Callable[[domain.Session, PairContext], Sequence[EventContract]]


def _change_session(
    session_id: str,
    actor: Actor,
    decide: Decide,
    *,
    private: SessionTexts | None = None,
) -> UseCase[SessionView]:
    async def use_case(tx: CommandTransaction) -> SessionView:
        loaded = await tx.load(stream_id(session_id), domain.evolve)
        if loaded.state is None:
            raise NotFoundError("session", session_id)
        context, role = await require_pair(
            tx.conn, loaded.state.pair_id, actor, admin_allowed=True, for_write=True
        )
        events = decide(loaded.state, context)
        await tx.append(stream_id(session_id), events, expected_version=loaded.version)
        if private is not None:
            await texts.save_session_texts(
                tx.conn, session_id, private.topics, private.notes, replace=True
            )
        view = await queries.get_session(tx.conn, session_id, private=role is not None)
        if view is None:
            raise NotFoundError("session", session_id)
        return view

    return use_case


def _fold(state: domain.Session | None, events: Sequence[EventContract]) -> domain.Session:
    for event in events:
        state = domain.evolve(state, event)
    if state is None:
        raise ValueError("no events to fold")
    return state


def _view(
    session: domain.Session, created_at: datetime, private: SessionTexts | None
) -> SessionView:
    return SessionView(
        session_id=session.session_id,
        pair_id=session.pair_id,
        program_id=session.program_id,
        status=session.status,
        mode=session.mode,
        scheduled_for=session.scheduled_for,
        expected_minutes=session.expected_minutes,
        held_on=session.held_on,
        duration_minutes=session.duration_minutes,
        topic_count=session.topic_count,
        closed_on=session.closed_on,
        created_at=created_at,
        topics=list(private.topics) if private is not None else None,
        notes=private.notes if private is not None else None,
    )
