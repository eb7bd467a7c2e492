"""The self-directed mentor request: a mentee's ranked mentors, asked one at a time.

The first available choice is asked (MentorRequested, with an expiry). A decline, an
expiry or the asked mentor leaving moves the request to the next available choice;
when none is left it is exhausted and the mentee is back in the pool. An acceptance
forms the pair at once (the mentee asked for it). If the mentee leaves, the request is
cancelled. A choice is available when the mentor is an enrolled, active mentor of the
program with a free slot and the pair breaks no hard constraint — the application
decides that and passes the set in, so these functions stay pure.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final, Literal

from matching.domain.actors import Actor
from matching.domain.errors import (
    ForbiddenError,
    InvalidFieldError,
    NotFoundError,
    TransitionError,
    UnavailableError,
)
from mentorship_contracts import EventContract
from mentorship_contracts.matching import (
    MentorRequestAccepted,
    MentorRequestCancelled,
    MentorRequestDeclined,
    MentorRequested,
    MentorRequestExhausted,
    MentorRequestExpired,
    SystemDeclineReason,
)

RequestStatus = Literal["pending", "accepted", "exhausted", "cancelled"]
MAX_CHOICES: Final = 5
_IDS: Final = uuid.UUID("0d4b8f8e-8c55-4f3e-9a52-3f1c9d6e2a41")


def stream_id(request_id: str) -> str:
    return f"mentor-request-{request_id}"


def pair_id_for(request_id: str) -> str:
    """An accepted request forms exactly one pair, always under the same id."""
    return str(uuid.uuid5(_IDS, request_id))


@dataclass(frozen=True, slots=True)
class MentorRequest:
    request_id: str
    program_id: str
    mentee_id: str
    choices: tuple[str, ...]
    mentor_id: str
    choice_rank: int
    expires_at: datetime
    status: RequestStatus = "pending"
    pair_id: str | None = None

    def ids(self) -> dict[str, str]:
        return {
            "request_id": self.request_id,
            "program_id": self.program_id,
            "mentee_id": self.mentee_id,
            "mentor_id": self.mentor_id,
        }

    def expired(self, now: datetime) -> bool:
        return self.status == "pending" and now >= self.expires_at


def evolve(state: MentorRequest | None, event: EventContract) -> MentorRequest:
    if isinstance(event, MentorRequested):
        choices = tuple(event.choices) if event.choices else (state.choices if state else ())
        return MentorRequest(
            request_id=event.request_id,
            program_id=event.program_id,
            mentee_id=event.mentee_id,
            choices=choices or (event.mentor_id,),
            mentor_id=event.mentor_id,
            choice_rank=event.choice_rank,
            expires_at=event.expires_at,
        )
    if state is None:
        msg = f"{type(event).__name__} before MentorRequested"
        raise ValueError(msg)
    if isinstance(event, MentorRequestAccepted):
        return replace(state, status="accepted", pair_id=event.pair_id)
    status = _STATUS_AFTER.get(type(event))
    return replace(state, status=status) if status is not None else state


_STATUS_AFTER: dict[type[EventContract], RequestStatus] = {
    MentorRequestExhausted: "exhausted",
    MentorRequestCancelled: "cancelled",
}


def check_choices(mentee_id: str, mentor_ids: Sequence[str]) -> None:
    """1 to 5 distinct mentors, none of them the mentee."""
    if not 1 <= len(mentor_ids) <= MAX_CHOICES:
        raise InvalidFieldError("mentor_ids", f"rank 1 to {MAX_CHOICES} mentors")
    for index, mentor_id in enumerate(mentor_ids):
        if mentor_id == mentee_id:
            raise InvalidFieldError(f"mentor_ids[{index}]", "a mentee cannot mentor themself")
        if mentor_id in mentor_ids[:index]:
            raise InvalidFieldError(f"mentor_ids[{index}]", f"{mentor_id!r} is listed twice")


def submit(
    *,
    request_id: str,
    program_id: str,
    mentee_id: str,
    mentor_ids: Sequence[str],
    available: frozenset[str],
    now: datetime,
    ttl: timedelta,
) -> list[EventContract]:
    """Ask the first available choice; refused when none of them is available now."""
    check_choices(mentee_id, mentor_ids)
    rank = _next_rank(tuple(mentor_ids), 0, available)
    if rank is None:
        raise UnavailableError(
            "mentor_ids", mentor_ids[0], "and every other choice has no free slot right now"
        )
    return [
        MentorRequested(
            request_id=request_id,
            program_id=program_id,
            mentee_id=mentee_id,
            mentor_id=mentor_ids[rank - 1],
            choice_rank=rank,
            expires_at=now + ttl,
            choices=list(mentor_ids),
        )
    ]


def _next_rank(choices: tuple[str, ...], after: int, available: frozenset[str]) -> int | None:
    """The 1-based rank of the first available choice after rank `after`."""
    for rank in range(after + 1, len(choices) + 1):
        if choices[rank - 1] in available:
            return rank
    return None


def _answerable(
    state: MentorRequest | None, request_id: str, actor: Actor, action: str
) -> MentorRequest:
    """The pending request, when `actor` is the mentor asked (or an admin)."""
    if state is None:
        raise NotFoundError("mentor request", request_id)
    if actor.employee_id != state.mentor_id and not actor.is_admin:
        raise ForbiddenError(
            "mentor request", request_id, "only the mentor asked (or an admin) may answer"
        )
    if state.status != "pending":
        raise TransitionError("mentor request", request_id, state.status, action)
    return state


def _move_on(
    state: MentorRequest, available: frozenset[str], now: datetime, ttl: timedelta
) -> EventContract:
    rank = _next_rank(state.choices, state.choice_rank, available)
    if rank is None:
        return MentorRequestExhausted(**state.ids())
    return MentorRequested(
        request_id=state.request_id,
        program_id=state.program_id,
        mentee_id=state.mentee_id,
        mentor_id=state.choices[rank - 1],
        choice_rank=rank,
        expires_at=now + ttl,
        choices=list(state.choices),
    )


def accept(
    state: MentorRequest | None,
    request_id: str,
    actor: Actor,
    *,
    now: datetime,
    refusal: str | None,
) -> list[EventContract]:
    """The mentor asked accepts: the request is done and pair `pair_id_for` forms.

    `refusal` says why the pair cannot be formed now (None: it can).
    """
    request = _answerable(state, request_id, actor, "accept")
    if request.expired(now):
        raise TransitionError("mentor request", request_id, "expired", "accept")
    if refusal is not None:
        raise UnavailableError("mentor_id", request.mentor_id, refusal)
    return [
        MentorRequestAccepted(
            **request.ids(), pair_id=pair_id_for(request_id), accepted_by=actor.subject
        )
    ]


def decline(
    state: MentorRequest | None,
    request_id: str,
    actor: Actor,
    *,
    available: frozenset[str],
    now: datetime,
    ttl: timedelta,
) -> list[EventContract]:
    """The mentor asked declines; the next available choice is asked."""
    request = _answerable(state, request_id, actor, "decline")
    return [MentorRequestDeclined(**request.ids()), _move_on(request, available, now, ttl)]


def expire(
    state: MentorRequest | None, *, available: frozenset[str], now: datetime, ttl: timedelta
) -> list[EventContract]:
    """Nobody answered in time; the next available choice is asked. Not due: nothing."""
    if state is None or not state.expired(now):
        return []
    return [MentorRequestExpired(**state.ids()), _move_on(state, available, now, ttl)]


def member_left(
    state: MentorRequest | None,
    employee_id: str,
    reason: SystemDeclineReason,
    *,
    available: frozenset[str],
    now: datetime,
    ttl: timedelta,
) -> list[EventContract]:
    """The mentee left: cancelled. The mentor asked left: the next choice is asked."""
    if state is None or state.status != "pending":
        return []
    if employee_id == state.mentee_id:
        return [MentorRequestCancelled(**state.ids(), reason=reason)]
    if employee_id == state.mentor_id:
        return [
            MentorRequestDeclined(**state.ids(), reason=reason),
            _move_on(state, available - {employee_id}, now, ttl),
        ]
    return []
