"""The application factory every service is built with.

``create_app(spec)`` gives a FastAPI app with the service's routers plus what every
service has: ``/healthz``, ``/readyz``, ``/metrics``, ``/docs``, the admin dead-letter
listing, problem+json for every error, bearer-token auth, CORS, a SERVER span and
latency metrics per request, and JSON logs. Its lifespan is the composition root: it
builds the :class:`ServiceContext` (engine, event store, NATS, tracer), starts the
outbox relay and the service's workers as supervised tasks, and tears it all down in
reverse order. See :mod:`mentorship_kit.runtime` for how start-up treats a missing
database or NATS server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from nats.aio.client import Client as NatsClient

from mentorship_contracts.catalog import load_all
from mentorship_kit import health
from mentorship_kit.auth import Role, TokenVerifier, require_roles
from mentorship_kit.commands import CommandRunner, InlineHandler
from mentorship_kit.context import ServiceContext
from mentorship_kit.db import create_engine
from mentorship_kit.deadletters import dead_letter_router
from mentorship_kit.eventstore import EventStore
from mentorship_kit.feed import event_feed_router
from mentorship_kit.middleware import (
    CORRELATION_ID_HEADER,
    REQUEST_ID_HEADER,
    TelemetryMiddleware,
    is_quiet,
)
from mentorship_kit.migrations import Migrations
from mentorship_kit.openapi import problem_openapi
from mentorship_kit.personal import PersonalDataVault
from mentorship_kit.problems import ProblemFor, UnhandledErrorMiddleware, install_problem_handlers
from mentorship_kit.query import reject_unknown_query
from mentorship_kit.relay import OutboxRelay
from mentorship_kit.runtime import ServiceRuntime
from mentorship_kit.settings import ServiceSettings
from mentorship_kit.supervisor import Worker
from mentorship_kit.telemetry import configure_logging, configure_tracing

__all__ = ["ServiceSpec", "Worker", "WorkerFactory", "create_app"]

log = structlog.get_logger(__name__)

WorkerFactory = Callable[[ServiceContext], Worker]

# FastAPI's native OpenTelemetry support makes the SERVER span of each request (incoming
# traceparent, route-template name, status code) once a TracerProvider is installed.
# Metrics are Prometheus (TelemetryMiddleware) and logs structlog, so those parts are
# off; per-dependency and serialization spans would triple the span volume for little.
TELEMETRY: TelemetryConfig = {
    "tracing": True,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "exclude": is_quiet,
}


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service different from another."""

    name: str
    title: str
    version: str
    metadata: sa.MetaData
    routers: Sequence[APIRouter] = ()
    workers: Sequence[WorkerFactory] = ()
    # Query tables kept in the command's own transaction (see CommandRunner).
    inline_projections: Sequence[InlineHandler] = ()
    problem_types: Mapping[type[Exception], ProblemFor] = field(default_factory=dict)
    description: str = ""
    # The key table (mentorship_kit.personal) of a service whose events carry personal
    # data: its commands seal those fields, and it needs PERSONAL_DATA_KEY.
    personal_data_keys: sa.Table | None = None
    # The folder of the service's Alembic revisions (see mentorship_kit.migrations).
    # None: the tables are made with create_all, for specs with no history to keep
    # (test services).
    migrations: Path | None = None

    def schema_migrations(self) -> Migrations | None:
        if self.migrations is None:
            return None
        return Migrations(self.name, self.metadata, self.migrations)


def create_app(spec: ServiceSpec, settings: ServiceSettings | None = None) -> FastAPI:
    """A service's ASGI app. Settings default to the environment; nothing connects yet."""
    settings = settings or ServiceSettings()
    if spec.personal_data_keys is not None and settings.personal_data_master_key is None:
        msg = (
            f"the {spec.name} service seals personal data: set PERSONAL_DATA_KEY "
            "(base64 of 32 random bytes), or DEV_MODE=true for local development"
        )
        raise ValueError(msg)
    # Every contract known, so that any event can be parsed and given its subject.
    load_all()
    configure_logging(service=spec.name, level=settings.log_level, json=settings.log_json)
    app = FastAPI(
        title=spec.title,
        version=spec.version,
        description=spec.description,
        lifespan=_lifespan(spec, settings),
        telemetry=TELEMETRY,
    )
    app.state.spec = spec
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    install_problem_handlers(app, spec.problem_types)
    # Starlette wraps the last-added middleware outermost, so this reads inside-out:
    # errors become problems, CORS headers go on every answer (problems included),
    # and telemetry sees the final status of everything.
    app.add_middleware(UnhandledErrorMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER, CORRELATION_ID_HEADER, "Location", "ETag"],
        )
    app.add_middleware(TelemetryMiddleware, service=spec.name)
    app.include_router(health.router, dependencies=[Depends(reject_unknown_query)])
    for router in spec.routers:
        app.include_router(router)
    app.include_router(
        dead_letter_router(
            dependencies=[Depends(require_roles(Role.ADMIN)), Depends(reject_unknown_query)]
        )
    )
    app.include_router(event_feed_router(), dependencies=[Depends(reject_unknown_query)])
    app.openapi = problem_openapi(app)  # type: ignore[method-assign]
    return app


def _lifespan(
    spec: ServiceSpec, settings: ServiceSettings
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Again here: a server that configured logging after create_app ran (uvicorn
        # given an app object) would otherwise keep its own handlers.
        configure_logging(service=spec.name, level=settings.log_level, json=settings.log_json)
        if settings.dev_mode:
            log.warning(
                "auth.DEV_MODE_ENABLED",
                warning="HS256 tokens signed with the dev secret are accepted; "
                "never run like this outside a developer machine",
            )
        tracer_provider = configure_tracing(spec.name, spec.version)
        engine = create_engine(
            settings.database_url_for(spec.name),
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout_seconds,
        )
        store = EventStore(engine, metadata=spec.metadata)
        vault = _vault(spec, settings)
        nc = NatsClient()
        context = ServiceContext(
            service=spec.name,
            settings=settings,
            engine=engine,
            store=store,
            nc=nc,
            js=nc.jetstream(),
            runner=CommandRunner(
                store, service=spec.name, inline=spec.inline_projections, vault=vault
            ),
            tracer_provider=tracer_provider,
            vault=vault,
        )
        tasks: list[tuple[str, Callable[[], Worker]]] = [
            (
                "relay",
                lambda: OutboxRelay(
                    store,
                    context.js,
                    service=spec.name,
                    stream_replicas=settings.nats_stream_replicas,
                ),
            )
        ]
        for factory in spec.workers:
            tasks.append(
                (_worker_name(factory, taken={name for name, _ in tasks}), _bind(factory, context))
            )
        runtime = ServiceRuntime(context, tasks, migrations=spec.schema_migrations())
        app.state.context = context
        app.state.runtime = runtime
        log.info("service.starting", version=spec.version, tasks=[name for name, _ in tasks])
        await runtime.start()
        try:
            yield
        finally:
            log.info("service.stopping")
            await runtime.stop()
            await app.state.token_verifier.aclose()
            tracer_provider.force_flush(timeout_millis=5000)
            del app.state.runtime
            del app.state.context

    return lifespan


def _vault(spec: ServiceSpec, settings: ServiceSettings) -> PersonalDataVault | None:
    master = settings.personal_data_master_key
    if spec.personal_data_keys is None or master is None:
        return None
    return PersonalDataVault(spec.personal_data_keys, master, service=spec.name)


def _bind(factory: WorkerFactory, context: ServiceContext) -> Callable[[], Worker]:
    return lambda: factory(context)


def _worker_name(factory: WorkerFactory, *, taken: set[str]) -> str:
    base = str(getattr(factory, "__qualname__", None) or type(factory).__name__)
    name, copy = base, 1
    while name in taken:
        copy += 1
        name = f"{base}#{copy}"
    return name
