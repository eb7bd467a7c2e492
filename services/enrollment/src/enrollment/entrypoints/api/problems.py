"""Domain errors as RFC 9457 problems: one table, fields and facts named."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from enrollment.domain.errors import (
    AlreadyAppliedError,
    AlreadyDepartedError,
    ConflictError,
    DomainError,
    EmployeeErasedError,
    EmployeeExistsError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    NotYoursError,
    ProgramFullError,
    ProgramNotOpenError,
    UserNameTakenError,
)
from mentorship_kit.problems import ProblemError, ProblemFor, ProblemType

_URN: Final = "urn:mentorship:problem:"

PROBLEMS: Final[dict[type[DomainError], ProblemType]] = {
    NotFoundError: ProblemType(404, "Not found", f"{_URN}not-found"),
    NotYoursError: ProblemType(403, "Forbidden", f"{_URN}not-yours"),
    InvalidInputError: ProblemType(422, "Request validation failed", f"{_URN}validation"),
    AlreadyAppliedError: ProblemType(409, "Already applied", f"{_URN}already-applied"),
    ProgramNotOpenError: ProblemType(409, "Program not open", f"{_URN}program-not-open"),
    ProgramFullError: ProblemType(409, "Program full", f"{_URN}program-full"),
    InvalidTransitionError: ProblemType(409, "Invalid transition", f"{_URN}invalid-transition"),
    AlreadyDepartedError: ProblemType(409, "Already departed", f"{_URN}already-departed"),
    EmployeeExistsError: ProblemType(409, "Employee exists", f"{_URN}employee-exists"),
    UserNameTakenError: ProblemType(409, "userName taken", f"{_URN}user-name-taken"),
    EmployeeErasedError: ProblemType(409, "Employee erased", f"{_URN}employee-erased"),
    ConflictError: ProblemType(409, "Conflict", f"{_URN}conflict"),
    DomainError: ProblemType(400, "Bad request", f"{_URN}bad-request"),
}


def problem_type(error: DomainError) -> ProblemType:
    """The entry of the error's most specific class."""
    for cls in type(error).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return PROBLEMS[DomainError]


def problem_for(error: DomainError) -> ProblemError:
    """The problem answering ``error``: its class's entry, its facts, its field."""
    problem = problem_type(error)
    message = getattr(error, "message", None) or str(error)
    extensions: dict[str, object] = dict(error.extensions())
    if error.field is not None:
        extensions["errors"] = [{"field": error.field, "message": message}]
    return ProblemError.of(problem, str(error), extensions=extensions)


# The service's errors and how they are answered (ServiceSpec.problem_types).
PROBLEM_TYPES: Final[Mapping[type[Exception], ProblemFor]] = {DomainError: problem_for}
