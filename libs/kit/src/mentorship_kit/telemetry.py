"""Logs and traces of a service process, and the ids that tie them to a request.

- Logs: structlog renders one JSON object per line (timestamp, level, logger, event,
  service, trace_id/span_id when a span is active, request_id inside a request); the
  standard library's loggers (uvicorn, SQLAlchemy, nats) go through the same renderer.
- Traces: one SDK TracerProvider per process with ``service.name``; spans are exported
  over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific
  variable) is set, and the exporter reads those variables itself. Until a span
  processor is installed, spans are not recorded at all (they still get trace and span
  ids, so logs and event metadata carry them): recording what nothing exports cost a
  few per cent of every request's CPU.
- :func:`current_traceparent` and :func:`current_correlation_id` are what command
  handlers put into event metadata so one trace follows a request through the event
  store, NATS and the consumers.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from contextvars import ContextVar, Token
from typing import Any, Final

import orjson
import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from structlog.typing import EventDict, Processor, WrappedLogger

_OTLP_ENDPOINT_VARIABLES: Final = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)
# Uvicorn installs its own handlers; ours replace them so that every line is JSON.
_UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access")
_PROPAGATOR: Final = TraceContextTextMapPropagator()

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


class _ProcessState:
    """What the one-per-process configuration functions installed."""

    service: str | None = None
    handler: logging.Handler | None = None
    tracer_provider: TracerProvider | None = None


def _add_service(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    if _ProcessState.service is not None:
        event.setdefault("service", _ProcessState.service)
    return event


def _add_trace_ids(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event.setdefault("span_id", trace.format_span_id(context.span_id))
    return event


def _drop_color_message(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    # Uvicorn adds an ANSI-coloured copy of each message for its own console formatter.
    event.pop("color_message", None)
    return event


def _json_dumps(value: Any, **_kwargs: Any) -> str:
    return orjson.dumps(value, default=repr).decode()


def configure_logging(*, service: str, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and the standard library through one renderer. Idempotent."""
    _ProcessState.service = service
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _add_service,
        _add_trace_ids,
        _drop_color_message,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_json_dumps)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger made before this call must pick the new setup up.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    # Only our own previous handler is replaced: test runners attach theirs to root.
    if _ProcessState.handler is not None:
        root.removeHandler(_ProcessState.handler)
    root.addHandler(handler)
    root.setLevel(level)
    _ProcessState.handler = handler
    for name in _UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # The HTTP middleware logs each request with its trace id; uvicorn's access line
    # would only repeat it without one.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Alembic narrates every step at INFO; the kit logs each applied revision itself
    # (migrations.applied) with the service's name.
    logging.getLogger("alembic").setLevel(logging.WARNING)


class _ServiceTracerProvider(TracerProvider):
    """The SDK provider, recording spans only once a span processor is installed.

    The sampler it was given (``OTEL_TRACES_SAMPLER``, by default parent-based always-on)
    decides as usual from then on.
    """

    def __init__(self, *, resource: Resource) -> None:
        super().__init__(resource=resource)
        self.exporting = False
        self.sampler = _RecordWhenExported(self, self.sampler)

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self.exporting = True


class _RecordWhenExported(Sampler):
    def __init__(self, provider: _ServiceTracerProvider, delegate: Sampler) -> None:
        self._provider = provider
        self._delegate = delegate

    def should_sample(  # noqa: PLR0917 - the SDK's Sampler signature
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if self._provider.exporting:
            return self._delegate.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        parent = trace.get_current_span(parent_context).get_span_context()
        return SamplingResult(Decision.DROP, trace_state=parent.trace_state)

    def get_description(self) -> str:
        return f"RecordWhenExported{{{self._delegate.get_description()}}}"


def configure_tracing(service: str, version: str) -> TracerProvider:
    """The process's TracerProvider, installed globally on first call.

    OpenTelemetry allows one global provider per process; later calls (tests create
    many apps in one process) return the one already installed.
    """
    if _ProcessState.tracer_provider is not None:
        return _ProcessState.tracer_provider
    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        _ProcessState.tracer_provider = existing
        return existing
    provider = _ServiceTracerProvider(
        resource=Resource.create({SERVICE_NAME: service, SERVICE_VERSION: version})
    )
    if any(os.environ.get(name) for name in _OTLP_ENDPOINT_VARIABLES):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _ProcessState.tracer_provider = provider
    return provider


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the active span, for event metadata; None without one."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def current_correlation_id() -> str | None:
    """The X-Request-ID / X-Correlation-ID of the request being served, if any."""
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> Token[str | None]:
    """Set the correlation id for the current context; returns the token to reset it."""
    return _correlation_id.set(value)


def reset_correlation_id(token: Token[str | None]) -> None:
    _correlation_id.reset(token)
