"""Self-directed matching: a mentee's ranked mentor request, answered or expiring.

Which choices are available is decided here, from the pool, and handed to the pure
domain: a choice is available when the mentor is an enrolled mentor with a free slot
and the pair breaks no hard constraint (see domain/choices.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from matching.adapters import queries
from matching.adapters.pool import load_program, load_snapshot, lock_programs
from matching.adapters.queries import RequestView
from matching.application.outcome import Outcome, outcome
from matching.application.runs import require_format, require_open
from matching.domain import choices, pairs, requests
from matching.domain.actors import Actor
from matching.domain.engine import ALGORITHM_VERSION, Assignment
from matching.domain.errors import InvalidFieldError, NotFoundError, UnavailableError
from matching.domain.pairs import Proposal
from matching.domain.pool import PoolSnapshot
from matching.domain.requests import MentorRequest
from mentorship_contracts import EventContract
from mentorship_contracts.matching import ExplanationFactor, SystemDeclineReason
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.eventstore import NO_STREAM

log = structlog.get_logger(__name__)

SELF_DIRECTED: Final = "self_directed"
Decide = Callable[[MentorRequest | None, frozenset[str]], Sequence[EventContract]]


def submit_request(
    program_id: str, mentee_id: str, mentor_ids: Sequence[str], *, now: datetime, ttl: timedelta
) -> UseCase[Outcome[RequestView]]:
    """Ask the mentee's first available choice."""

    async def use_case(tx: CommandTransaction) -> Outcome[RequestView]:
        program = require_open(await load_program(tx.conn, program_id), program_id)
        require_format(program, SELF_DIRECTED)
        snapshot = await load_snapshot(tx.conn, program)
        _require_free_mentee(snapshot, mentee_id)
        requests.check_choices(mentee_id, mentor_ids)
        available: set[str] = set()
        for index, mentor_id in enumerate(mentor_ids):
            verdict = choices.assess(snapshot, mentee_id, mentor_id)
            if isinstance(verdict, Assignment):
                available.add(mentor_id)
            elif verdict.lasting:
                raise InvalidFieldError(f"mentor_ids[{index}]", f"{mentor_id!r} {verdict.why}")
        request_id = str(uuid.uuid4())
        events = requests.submit(
            request_id=request_id,
            program_id=program_id,
            mentee_id=mentee_id,
            mentor_ids=mentor_ids,
            available=frozenset(available),
            now=now,
            ttl=ttl,
        )
        await tx.append(requests.stream_id(request_id), events, expected_version=NO_STREAM)
        return outcome(tx, await _view(tx.conn, request_id))

    return use_case


def _require_free_mentee(snapshot: PoolSnapshot, mentee_id: str) -> None:
    if mentee_id not in snapshot.enrolled("mentee"):
        raise UnavailableError("mentee_id", mentee_id, "is not an enrolled mentee of the program")
    if mentee_id in snapshot.requesting:
        raise UnavailableError("mentee_id", mentee_id, "already waits on a mentor request")
    if mentee_id in snapshot.usage().mentees:
        raise UnavailableError("mentee_id", mentee_id, "already has a proposed or active pair")


async def _view(conn: AsyncConnection, request_id: str) -> RequestView:
    view = await queries.get_request(conn, request_id)
    if view is None:
        raise NotFoundError("mentor request", request_id)
    return view


async def _load(tx: CommandTransaction, request_id: str) -> tuple[MentorRequest, int]:
    loaded = await tx.load(requests.stream_id(request_id), requests.evolve)
    if loaded.state is None:
        raise NotFoundError("mentor request", request_id)
    return loaded.state, loaded.version


async def available_choices(conn: AsyncConnection, state: MentorRequest | None) -> frozenset[str]:
    """The request's choices that could take the mentee now (none once closed)."""
    if state is None:
        return frozenset()
    program = await load_program(conn, state.program_id)
    if program is None or program.status != "open":
        return frozenset()
    snapshot = await load_snapshot(conn, program)
    return choices.available(snapshot, state.mentee_id, state.choices)


def accept_request(
    request_id: str, actor: Actor, *, now: datetime
) -> UseCase[Outcome[RequestView]]:
    """The mentor asked accepts: the pair is formed at once (the mentee asked for it)."""

    async def use_case(tx: CommandTransaction) -> Outcome[RequestView]:
        state, version = await _load(tx, request_id)
        await lock_programs(tx.conn, [state.program_id])
        program = require_open(await load_program(tx.conn, state.program_id), state.program_id)
        snapshot = await load_snapshot(tx.conn, program)
        verdict = choices.assess(snapshot, state.mentee_id, state.mentor_id)
        refusal = None if isinstance(verdict, Assignment) else verdict.why
        events = requests.accept(state, request_id, actor, now=now, refusal=refusal)
        assert isinstance(verdict, Assignment)  # noqa: S101 - accept refused otherwise
        proposal = Proposal(
            pair_id=requests.pair_id_for(request_id),
            program_id=state.program_id,
            mentor_id=state.mentor_id,
            mentee_id=state.mentee_id,
            format=SELF_DIRECTED,
            score=verdict.score,
            explanation=tuple(
                ExplanationFactor(
                    factor=f.factor, weight=f.weight, value=f.value, contribution=f.contribution
                )
                for f in verdict.explanation
            ),
            algorithm_version=ALGORITHM_VERSION,
            request_id=request_id,
        )
        await tx.append(requests.stream_id(request_id), events, expected_version=version)
        try:
            await tx.append(
                pairs.stream_id(proposal.pair_id),
                pairs.propose(proposal, now.date(), auto_accept=True),
                expected_version=NO_STREAM,
            )
        except IntegrityError as exc:
            raise UnavailableError(
                "mentee_id", state.mentee_id, "already has a proposed or active pair"
            ) from exc
        return outcome(tx, await _view(tx.conn, request_id))

    return use_case


def _move_on(request_id: str, decide: Decide) -> UseCase[Outcome[RequestView]]:
    async def use_case(tx: CommandTransaction) -> Outcome[RequestView]:
        state, version = await _load(tx, request_id)
        events = decide(state, await available_choices(tx.conn, state))
        await tx.append(requests.stream_id(request_id), events, expected_version=version)
        return outcome(tx, await _view(tx.conn, request_id))

    return use_case


def decline_request(
    request_id: str, actor: Actor, *, now: datetime, ttl: timedelta
) -> UseCase[Outcome[RequestView]]:
    """The mentor asked declines; the next available choice is asked."""
    return _move_on(
        request_id,
        lambda state, available: requests.decline(
            state, request_id, actor, available=available, now=now, ttl=ttl
        ),
    )


def expire_request(
    request_id: str, *, now: datetime, ttl: timedelta
) -> UseCase[Outcome[RequestView]]:
    """An unanswered request moves on to the next choice (nothing when not due)."""
    return _move_on(
        request_id,
        lambda state, available: requests.expire(state, available=available, now=now, ttl=ttl),
    )


def request_member_left(
    request_id: str,
    employee_id: str,
    reason: SystemDeclineReason,
    *,
    now: datetime,
    ttl: timedelta,
) -> UseCase[Outcome[RequestView]]:
    """The mentee left (cancelled) or the mentor asked left (next choice)."""
    return _move_on(
        request_id,
        lambda state, available: requests.member_left(
            state, employee_id, reason, available=available, now=now, ttl=ttl
        ),
    )
