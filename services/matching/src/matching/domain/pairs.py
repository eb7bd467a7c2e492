"""The pair aggregate: proposed -> active -> ended, or proposed -> declined.

A pair becomes active when both members accepted (or an admin accepted for them, or the
run was published with auto-accept). Repeating what already happened (a second accept
by the same side, ending an ended pair) changes nothing; contradicting it (accepting a
declined pair, declining an active one) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from matching.domain.actors import Actor
from matching.domain.errors import ForbiddenError, NotFoundError, TransitionError
from mentorship_contracts import EventContract
from mentorship_contracts.common import Format
from mentorship_contracts.matching import (
    EndReason,
    ExplanationFactor,
    PairAccepted,
    PairDeclined,
    PairEnded,
    PairFormed,
    PairProposed,
    SystemDeclineReason,
)

PairStatus = Literal["proposed", "active", "declined", "ended"]
Side = Literal["mentor", "mentee", "admin"]
LIVE_STATUSES: tuple[PairStatus, ...] = ("proposed", "active")


def stream_id(pair_id: str) -> str:
    return f"pair-{pair_id}"


@dataclass(frozen=True, slots=True)
class Pair:
    pair_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    format: Format
    group_id: str | None
    status: PairStatus = "proposed"
    mentor_accepted: bool = False
    mentee_accepted: bool = False
    end_reason: str | None = None

    def side_of(self, employee_id: str | None) -> Literal["mentor", "mentee"] | None:
        if employee_id is None:
            return None
        if employee_id == self.mentor_id:
            return "mentor"
        if employee_id == self.mentee_id:
            return "mentee"
        return None

    def members(self) -> dict[str, str]:
        return {
            "pair_id": self.pair_id,
            "program_id": self.program_id,
            "mentor_id": self.mentor_id,
            "mentee_id": self.mentee_id,
        }

    def formed(self, today: date) -> PairFormed:
        return PairFormed(
            **self.members(), format=self.format, group_id=self.group_id, formed_on=today
        )


def evolve(state: Pair | None, event: EventContract) -> Pair:
    if isinstance(event, PairProposed):
        return Pair(
            pair_id=event.pair_id,
            program_id=event.program_id,
            mentor_id=event.mentor_id,
            mentee_id=event.mentee_id,
            format=event.format,
            group_id=event.group_id,
        )
    if state is None:
        msg = f"{type(event).__name__} before PairProposed"
        raise ValueError(msg)
    if isinstance(event, PairAccepted):
        return replace(
            state,
            mentor_accepted=state.mentor_accepted or event.side in {"mentor", "admin"},
            mentee_accepted=state.mentee_accepted or event.side in {"mentee", "admin"},
        )
    if isinstance(event, PairEnded):
        return replace(state, status="ended", end_reason=event.reason)
    status = _STATUS_AFTER.get(type(event))
    return replace(state, status=status) if status is not None else state


_STATUS_AFTER: dict[type[EventContract], PairStatus] = {
    PairFormed: "active",
    PairDeclined: "declined",
}


@dataclass(frozen=True, slots=True)
class Proposal:
    """A pair to propose: from a published run, or from an accepted mentor request."""

    pair_id: str
    program_id: str
    mentor_id: str
    mentee_id: str
    format: Format
    score: float
    explanation: tuple[ExplanationFactor, ...]
    algorithm_version: str
    group_id: str | None = None
    run_id: str | None = None
    request_id: str | None = None


def propose(proposal: Proposal, today: date, *, auto_accept: bool) -> list[EventContract]:
    """PairProposed, and PairFormed right away when the pair needs no acceptance."""
    proposed = PairProposed(
        pair_id=proposal.pair_id,
        program_id=proposal.program_id,
        mentor_id=proposal.mentor_id,
        mentee_id=proposal.mentee_id,
        run_id=proposal.run_id,
        format=proposal.format,
        group_id=proposal.group_id,
        score=proposal.score,
        explanation=list(proposal.explanation),
        algorithm_version=proposal.algorithm_version,
        proposed_on=today,
        request_id=proposal.request_id,
    )
    if not auto_accept:
        return [proposed]
    return [proposed, evolve(None, proposed).formed(today)]


def _existing(state: Pair | None, pair_id: str) -> Pair:
    if state is None:
        raise NotFoundError("pair", pair_id)
    return state


def _acting_side(pair: Pair, actor: Actor, *, staff: tuple[str, ...]) -> Side:
    """The member's side, or "admin" for staff acting from outside the pair."""
    side = pair.side_of(actor.employee_id)
    if side is not None:
        return side
    if ("admin" in staff and actor.is_admin) or (
        "program_manager" in staff and actor.is_program_manager
    ):
        return "admin"
    raise ForbiddenError("pair", pair.pair_id, "only the pair's members may do this")


def accept(state: Pair | None, pair_id: str, actor: Actor, today: date) -> list[EventContract]:
    """A member accepts their side; an admin accepts for both. Both sides -> PairFormed."""
    pair = _existing(state, pair_id)
    side = _acting_side(pair, actor, staff=("admin",))
    if pair.status == "active":
        return []
    if pair.status != "proposed":
        raise TransitionError("pair", pair.pair_id, pair.status, "accept")
    already = (side == "mentor" and pair.mentor_accepted) or (
        side == "mentee" and pair.mentee_accepted
    )
    if already:
        return []
    accepted = PairAccepted(**pair.members(), side=side, accepted_by=actor.subject)
    after = evolve(pair, accepted)
    if after.mentor_accepted and after.mentee_accepted:
        return [accepted, pair.formed(today)]
    return [accepted]


def decline(state: Pair | None, pair_id: str, actor: Actor, today: date) -> list[EventContract]:
    """A member (or an admin) declines a proposal; both members return to the pool."""
    pair = _existing(state, pair_id)
    side = _acting_side(pair, actor, staff=("admin",))
    if pair.status == "declined":
        return []
    if pair.status != "proposed":
        raise TransitionError("pair", pair.pair_id, pair.status, "decline")
    return [
        PairDeclined(
            **pair.members(),
            side=side,
            declined_by=actor.subject,
            declined_on=today,
        )
    ]


def end(
    state: Pair | None, pair_id: str, actor: Actor, reason: EndReason, today: date
) -> list[EventContract]:
    """A member, an admin or a program manager ends an active pair."""
    pair = _existing(state, pair_id)
    _acting_side(pair, actor, staff=("admin", "program_manager"))
    if pair.status == "ended":
        return []
    if pair.status != "active":
        raise TransitionError("pair", pair.pair_id, pair.status, "end")
    return [
        PairEnded(
            **pair.members(),
            reason=reason,
            ended_by=actor.subject,
            ended_on=today,
        )
    ]


def member_left(
    state: Pair | None, member_id: str, reason: SystemDeclineReason, today: date
) -> list[EventContract]:
    """A member withdrew from the program or left the organisation.

    An active pair ends (reason withdrawal or departure). A proposal is declined on the
    leaver's behalf with that reason: it never formed, so it is not counted as an ended
    relationship. Anything else (already over, or not the member's pair) changes nothing.
    """
    if state is None:
        return []
    side = state.side_of(member_id)
    if side is None:
        return []
    if state.status == "active":
        return [
            PairEnded(
                **state.members(),
                reason=reason,
                ended_by=None,
                ended_on=today,
            )
        ]
    if state.status == "proposed":
        return [
            PairDeclined(
                **state.members(),
                side=side,
                declined_by=member_id,
                declined_on=today,
                reason=reason,
            )
        ]
    return []


def failed_fit(state: Pair | None, reported_by: str, today: date) -> list[EventContract]:
    """A member reported that the pair does not fit: the active pair ends (failed_fit).

    Ending it returns the mentee to the pool for a rematch, and the pair, now an earlier
    pair, is never proposed again.
    """
    if state is None or state.status != "active":
        return []
    return [
        PairEnded(
            **state.members(),
            reason="failed_fit",
            ended_by=reported_by,
            ended_on=today,
        )
    ]
