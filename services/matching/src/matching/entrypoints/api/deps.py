"""Dependencies of the endpoints: who asks, in which capacity, and what time it is.

All async: FastAPI runs a plain ``def`` dependency in its thread pool, a hop per request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import Depends, Request

from matching.application.clock import Clock, utc_now
from matching.config import request_ttl
from matching.domain.actors import Actor
from mentorship_kit.auth import CurrentPrincipal, Role, require_roles
from mentorship_kit.context import ContextDep
from mentorship_kit.query import reject_unknown_query

CLOCK_STATE: Final = "matching_clock"


async def actor(principal: CurrentPrincipal) -> Actor:
    """Participants act as the employee their token names; staff act as staff."""
    return Actor(
        subject=principal.subject,
        employee_id=principal.subject if principal.has(Role.PARTICIPANT) else None,
        is_admin=principal.has(Role.ADMIN),
        is_program_manager=principal.has(Role.PROGRAM_MANAGER),
    )


async def now(request: Request) -> datetime:
    """The app's clock (``matching.main.create_app(clock=...)``), UTC by default."""
    clock: Clock = getattr(request.app.state, CLOCK_STATE, utc_now)
    return clock()


async def ttl(context: ContextDep) -> timedelta:
    return request_ttl(context.settings)


ActorDep = Annotated[Actor, Depends(actor)]
NowDep = Annotated[datetime, Depends(now)]
TtlDep = Annotated[timedelta, Depends(ttl)]
# Route dependencies, checked before anything else of the request (a cursor, a body), so
# an unauthenticated call is always a 401 and a wrong role a 403; then a query parameter
# the operation does not take is a 422 rather than silently ignored.
STAFF: Final = [
    Depends(require_roles(Role.ADMIN, Role.PROGRAM_MANAGER)),
    Depends(reject_unknown_query),
]
ANY_ROLE: Final = [
    Depends(require_roles(Role.ADMIN, Role.PROGRAM_MANAGER, Role.PARTICIPANT)),
    Depends(reject_unknown_query),
]
MEMBERS: Final = [
    Depends(require_roles(Role.ADMIN, Role.PARTICIPANT)),
    Depends(reject_unknown_query),
]
