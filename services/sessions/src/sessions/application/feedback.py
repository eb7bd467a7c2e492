"""Use cases of feedback: session ratings, check-ins, exit surveys and fit checks.

Only the pair's members answer (they answer as mentor or mentee). Every answer of a pair
goes to the pair's feedback stream, so the once-only rules hold under concurrency.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from mentorship_contracts import EventContract
from mentorship_kit.commands import CommandTransaction, UseCase
from sessions.adapters import queries, texts
from sessions.adapters.queries import FeedbackView
from sessions.application.access import require_member, require_pair
from sessions.application.sessions import stream_id as session_stream
from sessions.domain import feedback as domain
from sessions.domain import sessions as session_domain
from sessions.domain.errors import InvalidFieldError, NotFoundError
from sessions.domain.pairs import Actor, PairContext

FeedbackKind = Literal["session", "checkin", "exit"]


@dataclass(frozen=True, slots=True)
class FeedbackAnswer:
    """What ``POST /v1/pairs/{id}/feedback`` carries."""

    kind: FeedbackKind
    rating: int
    nps: int | None = None
    session_id: str | None = None
    comment: str | None = None


Decide = Callable[
    [domain.PairFeedback | None, PairContext, domain.Respondent, session_domain.Session | None],
    Sequence[EventContract],
]


def submit_feedback(
    pair_id: str, answer: FeedbackAnswer, *, actor: Actor, now: datetime
) -> UseCase[FeedbackView]:
    """A session rating, a check-in or an exit survey, by ``answer.kind``.

    The rules on which fields go with which kind are checked after the pair and the
    caller are (an unknown pair is a 404 whatever the body says).
    """
    feedback_id = str(uuid.uuid4())
    today = _today(now)

    def decide(
        state: domain.PairFeedback | None,
        context: PairContext,
        respondent: domain.Respondent,
        session: session_domain.Session | None,
    ) -> Sequence[EventContract]:
        if answer.kind == "session":
            rating = domain.SessionRating(
                feedback_id, _rated_session(answer), answer.rating, answer.nps
            )
            return domain.rate_session(
                state, context, respondent, rating, session=session, today=today
            )
        if answer.session_id is not None:
            raise InvalidFieldError("session_id", "only a session rating (kind session) names one")
        if answer.kind == "checkin":
            if answer.nps is None:
                raise InvalidFieldError("nps", "a check-in asks for the NPS (0-10)")
            check = domain.CheckIn(feedback_id, answer.rating, answer.nps)
            return domain.check_in(state, context, respondent, check, today)
        survey = domain.Rating(feedback_id, answer.rating, answer.nps)
        return domain.exit_survey(state, context, respondent, survey, today)

    return _answer(
        pair_id,
        feedback_id,
        answer.comment,
        actor,
        decide,
        session_id=answer.session_id if answer.kind == "session" else None,
        ended_pairs=answer.kind == "exit",
    )


def _rated_session(answer: FeedbackAnswer) -> str:
    if answer.session_id is None:
        raise InvalidFieldError("session_id", "a session rating names the session rated")
    return answer.session_id


def check_in(
    pair_id: str,
    *,
    relationship_quality: int,
    nps: int,
    comment: str | None,
    actor: Actor,
    now: datetime,
) -> UseCase[FeedbackView]:
    key = str(uuid.uuid4())
    answer = domain.CheckIn(key, relationship_quality, nps)
    today = _today(now)
    return _answer(
        pair_id,
        key,
        comment,
        actor,
        lambda state, ctx, who, _: domain.check_in(state, ctx, who, answer, today),
    )


def fit_check(
    pair_id: str,
    *,
    fits: bool,
    session_id: str | None,
    comment: str | None,
    actor: Actor,
    now: datetime,
) -> UseCase[FeedbackView]:
    feedback_id = str(uuid.uuid4())
    answer = domain.FitCheck(feedback_id, fits=fits, session_id=session_id)
    today = _today(now)
    return _answer(
        pair_id,
        feedback_id,
        comment,
        actor,
        lambda state, ctx, who, session: domain.fit_check(
            state, ctx, who, answer, session=session, today=today
        ),
        session_id=session_id,
        first_held_session=session_id is None,
    )


def _answer(
    pair_id: str,
    feedback_id: str,
    comment: str | None,
    actor: Actor,
    decide: Decide,
    *,
    session_id: str | None = None,
    first_held_session: bool = False,
    ended_pairs: bool = False,
) -> UseCase[FeedbackView]:
    async def use_case(tx: CommandTransaction) -> FeedbackView:
        # Exit surveys are for ended pairs: no write of this command can race a PairEnded.
        context, role = await require_pair(
            tx.conn, pair_id, actor, admin_allowed=False, for_write=not ended_pairs
        )
        respondent = domain.Respondent(actor.employee_id or "", require_member(role, pair_id))
        stream = domain.stream_id(pair_id)
        loaded = await tx.load(stream, domain.evolve)
        session = await _session(tx, pair_id, session_id, first_held=first_held_session)
        events = decide(loaded.state, context, respondent, session)
        await tx.append(stream, events, expected_version=loaded.version)
        await texts.save_comment(tx.conn, feedback_id, comment)
        view = await queries.get_feedback(tx.conn, feedback_id, private=True)
        if view is None:
            raise NotFoundError("feedback", feedback_id)
        return view

    return use_case


async def _session(
    tx: CommandTransaction, pair_id: str, session_id: str | None, *, first_held: bool
) -> session_domain.Session | None:
    if first_held:
        session_id = await queries.first_held_session_id(tx.conn, pair_id)
    if session_id is None:
        return None
    return (await tx.load(session_stream(session_id), session_domain.evolve)).state


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()
