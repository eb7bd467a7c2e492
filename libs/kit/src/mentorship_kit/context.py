"""The per-process context: everything with a lifetime, built and torn down in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from mentorship_kit.auth import Principal, Role
from mentorship_kit.commands import CommandRunner
from mentorship_kit.eventstore import EventMetadata, EventStore
from mentorship_kit.personal import PersonalDataVault
from mentorship_kit.problems import UNAVAILABLE, ProblemError
from mentorship_kit.settings import ServiceSettings
from mentorship_kit.telemetry import current_correlation_id, current_traceparent


@dataclass(frozen=True)
class ServiceContext:
    """One per process. ``nc`` may still be connecting: NATS being down at start-up
    makes the service un-ready, not unable to accept writes (the outbox keeps them)."""

    service: str
    settings: ServiceSettings
    engine: AsyncEngine
    store: EventStore
    nc: NatsClient
    js: JetStreamContext
    runner: CommandRunner
    tracer_provider: TracerProvider
    # Present when the service's events carry personal data (ServiceSpec.personal_data_keys).
    vault: PersonalDataVault | None = None


def get_context(request: Request) -> ServiceContext:
    context = getattr(request.app.state, "context", None)
    if not isinstance(context, ServiceContext):
        raise ProblemError.of(UNAVAILABLE, "the service is starting or stopping")
    return context


async def _context(request: Request) -> ServiceContext:
    # async: FastAPI runs a plain-def dependency in its thread pool, a hop per request.
    return get_context(request)


ContextDep = Annotated[ServiceContext, Depends(_context)]

# When a principal holds several roles, events record the most privileged one unless
# the endpoint says in which capacity it acted.
_ROLE_PRECEDENCE: Final = (Role.ADMIN, Role.PROGRAM_MANAGER, Role.HRIS, Role.PARTICIPANT)


def request_metadata(
    request: Request, principal: Principal, *, role: str | None = None
) -> EventMetadata:
    """Event metadata for a command served by ``request`` on behalf of ``principal``."""
    actor_role = role or next((r.value for r in _ROLE_PRECEDENCE if principal.has(r)), None)
    correlation_id = getattr(request.state, "request_id", None) or current_correlation_id()
    return EventMetadata(
        correlation_id=correlation_id,
        actor=principal.subject,
        actor_role=actor_role,
        traceparent=current_traceparent(),
    )
