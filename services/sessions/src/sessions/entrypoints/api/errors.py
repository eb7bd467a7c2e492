"""The one place where the domain's refusals become RFC 9457 problems.

The service's ``ServiceSpec`` maps its errors to :func:`problem_for`
(``PROBLEM_TYPES``): a refusal raised anywhere below an endpoint (in the use case,
inside the command's transaction) is answered with its status, a stable type URI and the
details a client acts on (the field at fault, the pair's status, when the next check-in
is due).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from mentorship_kit.problems import VALIDATION, ProblemError, ProblemFor, problem_responses
from sessions.domain.errors import (
    AlreadyAnsweredError,
    InvalidFieldError,
    NoHeldSessionError,
    NotAPairMemberError,
    NotDueError,
    NotFoundError,
    PairNotActiveError,
    PairNotEndedError,
    SessionsError,
    TransitionError,
)

_URN: Final = "urn:mentorship:problem:"


def problem_for(error: SessionsError) -> ProblemError:
    """The problem answering ``error``."""
    detail = str(error)
    if isinstance(error, InvalidFieldError):
        return ProblemError.of(
            VALIDATION,
            detail,
            extensions={
                "errors": [
                    {
                        "field": error.field,
                        "in": "body",
                        "loc": ["body", error.field],
                        "pointer": f"/{error.field}",
                        "message": error.message,
                        "type": "value_error",
                    }
                ]
            },
        )
    answer = next(_ANSWERS[kind] for kind in type(error).__mro__ if kind in _ANSWERS)
    return ProblemError(
        answer.status,
        detail,
        title=answer.title,
        type_uri=f"{_URN}{answer.slug}",
        extensions=answer.facts(error),
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    slug: str
    title: str
    facts: Callable[[Any], dict[str, Any]]


_ANSWERS: Final[dict[type[SessionsError], _Answer]] = {
    NotFoundError: _Answer(
        404, "not-found", "Not found", lambda e: {"resource": e.kind, "id": e.identifier}
    ),
    NotAPairMemberError: _Answer(
        403, "not-a-pair-member", "Not a member of the pair", lambda e: {"pair_id": e.pair_id}
    ),
    PairNotActiveError: _Answer(
        409,
        "pair-not-active",
        "The pair is not active",
        lambda e: {"pair_id": e.pair_id, "pair_status": e.status},
    ),
    PairNotEndedError: _Answer(
        409,
        "pair-not-ended",
        "The pair has not ended",
        lambda e: {"pair_id": e.pair_id, "pair_status": e.status},
    ),
    TransitionError: _Answer(
        409,
        "invalid-transition",
        "Not possible in the current state",
        lambda e: {"resource": e.kind, "id": e.identifier, "current": e.status},
    ),
    AlreadyAnsweredError: _Answer(409, "already-answered", "Already answered", lambda _: {}),
    NotDueError: _Answer(
        409, "check-in-not-due", "Check-in not due yet", lambda e: {"due_on": e.due_on}
    ),
    NoHeldSessionError: _Answer(
        409, "no-held-session", "No session held yet", lambda e: {"pair_id": e.pair_id}
    ),
}


# The service's errors and how they are answered (ServiceSpec.problem_types).
PROBLEM_TYPES: Final[Mapping[type[Exception], ProblemFor]] = {SessionsError: problem_for}


# What each kind of endpoint may answer besides success (documented in the OpenAPI).
READ_PROBLEMS: Final = problem_responses(401, 403, 404, 422)
LIST_PROBLEMS: Final = problem_responses(400, 401, 403, 404, 422)  # 400: a foreign cursor
WRITE_PROBLEMS: Final = problem_responses(400, 401, 403, 404, 409, 422)  # 400: not JSON
