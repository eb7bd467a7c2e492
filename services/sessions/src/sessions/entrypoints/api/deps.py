"""Dependencies of the sessions endpoints: who asks; and the clock they read.

``actor`` is ``async def`` although it does not await: FastAPI runs a plain ``def``
dependency in a worker thread, a hop that costs more than the function itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import Depends

from mentorship_kit.auth import CurrentPrincipal, Role, authenticate
from mentorship_kit.query import reject_unknown_query
from sessions.domain.pairs import Actor

# Every router's dependencies: the token first (a caller without one learns nothing but
# 401), then a query parameter the operation does not take is a 422 — a misspelt filter
# (``?stauts=held``) would otherwise answer more than was asked.
ROUTER_DEPENDENCIES: Final = [Depends(authenticate), Depends(reject_unknown_query)]


async def actor(principal: CurrentPrincipal) -> Actor:
    """Participants act as the employee their token names; admins act as admins.

    Only a participant token makes its subject a possible pair member: an integration or
    a program manager whose subject happens to equal an employee id is not that employee.
    """
    employee_id = principal.subject if principal.has(Role.PARTICIPANT) else None
    return Actor(employee_id=employee_id, is_admin=principal.has(Role.ADMIN))


def utc_now() -> datetime:
    """Now, in UTC (called directly: a dependency per request costs CPU on the hot path)."""
    return datetime.now(UTC)


ActorDep = Annotated[Actor, Depends(actor)]
