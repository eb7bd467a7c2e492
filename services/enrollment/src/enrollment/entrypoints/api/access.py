"""Who may do what (see the public API contract): role dependencies and self-service rules.

Participants act only for themselves: their token's subject is their employee id. A
caller who also holds a managing role (admin, program manager) is not restricted.
"""

from __future__ import annotations

from typing import Annotated, Final, TypeVar

from fastapi import Depends, Request

from mentorship_kit.auth import Principal, Role, require_roles
from mentorship_kit.commands import UseCase
from mentorship_kit.context import ServiceContext, request_metadata
from mentorship_kit.problems import ProblemError

T = TypeVar("T")

MANAGING: Final = (Role.ADMIN, Role.PROGRAM_MANAGER)

ProgramManager = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.PROGRAM_MANAGER))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
DirectoryWriter = Annotated[Principal, Depends(require_roles(Role.HRIS, Role.ADMIN))]
DirectoryReader = Annotated[
    Principal, Depends(require_roles(Role.HRIS, Role.ADMIN, Role.PARTICIPANT))
]
Applicant = Annotated[
    Principal, Depends(require_roles(Role.PARTICIPANT, Role.ADMIN, Role.PROGRAM_MANAGER))
]


def acting_for(principal: Principal) -> str | None:
    """The employee a caller is limited to (a participant's own id), or None: anyone."""
    if principal.has_any(*MANAGING):
        return None
    return principal.subject


def require_self(principal: Principal, employee_id: str, *, unrestricted: tuple[str, ...]) -> None:
    """403 unless the caller holds an ``unrestricted`` role or is ``employee_id``."""
    if principal.has_any(*unrestricted) or principal.subject == employee_id:
        return
    raise ProblemError(
        403,
        "participants act only for themselves: the token's subject must be this employee",
        extensions={"errors": [{"field": "employee_id", "message": "not the caller's own id"}]},
    )


async def run_unkeyed(
    request: Request, context: ServiceContext, principal: Principal, use_case: UseCase[T]
) -> T:
    """Run a command that takes no Idempotency-Key (PUT and PATCH are idempotent by nature)."""
    return await context.runner.run(use_case, metadata=request_metadata(request, principal))
