"""Domain errors as RFC 9457 problems: one table, one handler, fields and facts named."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI, Request

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
from mentorship_kit.problems import ProblemResponse, ProblemType, problem_response

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


def domain_problem(request: Request, error: DomainError) -> ProblemResponse:
    problem = problem_type(error)
    message = getattr(error, "message", None) or str(error)
    extensions: dict[str, object] = dict(error.extensions())
    if error.field is not None:
        extensions["errors"] = [{"field": error.field, "message": message}]
    return problem_response(
        problem.status,
        title=problem.title,
        type_uri=problem.type,
        detail=str(error),
        instance=request.url.path,
        extensions=extensions,
    )


async def _handle(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, DomainError)  # noqa: S101 - registered for this type only
    return domain_problem(request, exc)


def install_domain_problems(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _handle)
