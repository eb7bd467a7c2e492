"""The one place where refusals become RFC 9457 problems.

The service's ``ServiceSpec`` maps its errors to :func:`problem_for`
(``PROBLEM_TYPES``): a domain refusal or an engine input error raised anywhere below an
endpoint (in the use case, inside the command's transaction) is answered with its
status, a stable type URI and the facts a client acts on — above all the field at fault
(``errors[].field``), e.g. ``weights.charisma``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from matching.domain.engine import MatchingInputError, UnknownAttributeError
from matching.domain.errors import (
    ForbiddenError,
    FormatNotOfferedError,
    InvalidFieldError,
    MatchingError,
    NotFoundError,
    ProgramNotOpenError,
    RunAlreadyPublishedError,
    StaleRunError,
    TransitionError,
    UnavailableError,
)
from mentorship_kit.problems import VALIDATION, ProblemError, ProblemFor, problem_responses

_URN: Final = "urn:mentorship:problem:"


def _field_problem(field: str, message: str, detail: str, **facts: Any) -> ProblemError:
    path = field.replace("[", ".").replace("]", "")
    return ProblemError.of(
        VALIDATION,
        detail,
        extensions={
            **facts,
            "errors": [
                {
                    "field": field,
                    "in": "body",
                    "loc": ["body", *path.split(".")],
                    "pointer": "/" + path.replace(".", "/"),
                    "message": message,
                    "type": "value_error",
                }
            ],
        },
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    slug: str
    title: str
    facts: Callable[[Any], dict[str, Any]]


_ANSWERS: Final[dict[type[MatchingError], _Answer]] = {
    NotFoundError: _Answer(
        404, "not-found", "Not found", lambda e: {"resource": e.kind, "id": e.identifier}
    ),
    ForbiddenError: _Answer(
        403, "not-a-party", "Not a party to this resource", lambda e: {"id": e.identifier}
    ),
    ProgramNotOpenError: _Answer(
        409,
        "program-not-open",
        "The program is not open",
        lambda e: {"program_id": e.program_id, "program_status": e.status},
    ),
    FormatNotOfferedError: _Answer(
        409,
        "format-not-offered",
        "The program does not offer this format",
        lambda e: {"program_id": e.program_id, "format": e.format, "offered": list(e.offered)},
    ),
    RunAlreadyPublishedError: _Answer(
        409, "run-already-published", "Already published", lambda e: {"run_id": e.run_id}
    ),
    StaleRunError: _Answer(
        409, "run-stale", "The pool changed since the run", lambda e: {"run_id": e.run_id}
    ),
    TransitionError: _Answer(
        409,
        "invalid-transition",
        "Not possible in the current state",
        lambda e: {"resource": e.kind, "id": e.identifier, "current": e.status},
    ),
    UnavailableError: _Answer(
        409,
        "unavailable",
        "Not available for matching",
        lambda e: {"field": e.field, "employee_id": e.employee_id},
    ),
}


def problem_for(error: MatchingError | MatchingInputError) -> ProblemError:
    """The problem answering `error`."""
    detail = str(error)
    if isinstance(error, UnknownAttributeError):
        return _field_problem(error.field, detail, detail, attribute=error.attribute)
    if isinstance(error, MatchingInputError):
        return _field_problem(error.field, detail, detail)
    if isinstance(error, InvalidFieldError):
        return _field_problem(error.field, error.message, detail)
    answer = next(_ANSWERS[kind] for kind in type(error).__mro__ if kind in _ANSWERS)
    return ProblemError(
        answer.status,
        detail,
        title=answer.title,
        type_uri=f"{_URN}{answer.slug}",
        extensions=answer.facts(error),
    )


# The service's errors and how they are answered (ServiceSpec.problem_types).
PROBLEM_TYPES: Final[Mapping[type[Exception], ProblemFor]] = {
    MatchingError: problem_for,
    MatchingInputError: problem_for,
}

# What each kind of endpoint may answer besides success (documented in the OpenAPI).
READ_PROBLEMS: Final = problem_responses(401, 403, 404, 422)
LIST_PROBLEMS: Final = problem_responses(400, 401, 403, 404, 422)  # 400: a foreign cursor
WRITE_PROBLEMS: Final = problem_responses(400, 401, 403, 404, 409, 422)  # 400: not JSON
