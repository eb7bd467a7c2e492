"""The outermost HTTP middleware: request id, Prometheus latency metrics, access log.

The SERVER span itself comes from FastAPI's native OpenTelemetry support (see
``app.TELEMETRY``): it extracts the incoming ``traceparent``, names the span by the route
template and records the status code. It wraps this middleware, so the access log line
and every problem answer carry its trace id. Metric labels use the route template
(``/v1/pairs/{pair_id}``), never the raw path, so that they do not grow with the data.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Final

import structlog
from prometheus_client import Gauge, Histogram
from starlette.datastructures import MutableHeaders

from mentorship_kit.telemetry import reset_correlation_id, set_correlation_id

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

HTTP_REQUEST_DURATION: Final = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method, route template and status code.",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_REQUESTS_IN_FLIGHT: Final = Gauge(
    "http_requests_in_flight",
    "HTTP requests being served right now.",
    ["service"],
)

REQUEST_ID_HEADER: Final = "X-Request-ID"
CORRELATION_ID_HEADER: Final = "X-Correlation-ID"
UNMATCHED_ROUTE: Final = "unmatched"
# Probes and scrapes arrive every few seconds: no span, and logged at debug only.
QUIET_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
# A client-supplied id is echoed into headers and logs, so only tame ones are kept.
_ACCEPTABLE_ID: Final = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")


def _request_id(headers: dict[str, str]) -> str:
    for name in (REQUEST_ID_HEADER.lower(), CORRELATION_ID_HEADER.lower()):
        candidate = headers.get(name, "").strip()
        if _ACCEPTABLE_ID.fullmatch(candidate):
            return candidate
    return uuid.uuid4().hex


def is_quiet(scope: MutableMapping[str, Any]) -> bool:
    """Probes and scrapes: no span (FastAPI's ``exclude``), access log at debug."""
    return scope.get("path") in QUIET_PATHS


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched`` (404s)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED_ROUTE


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", ())
        }
        request_id = _request_id(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        method = str(scope["method"])
        path = str(scope["path"])
        quiet = is_quiet(scope)
        status = 500

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_headers = MutableHeaders(scope=message)
                response_headers[REQUEST_ID_HEADER] = request_id
                response_headers[CORRELATION_ID_HEADER] = request_id
            await send(message)

        in_flight = HTTP_REQUESTS_IN_FLIGHT.labels(self.service)
        in_flight.inc()
        token = set_correlation_id(request_id)
        started = time.perf_counter()
        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                await self.app(scope, receive, send_with_ids)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            HTTP_REQUEST_DURATION.labels(self.service, method, route, str(status)).observe(elapsed)
            in_flight.dec()
            # Still inside FastAPI's SERVER span, so the line carries its trace id.
            (log.debug if quiet else log.info)(
                "http.request",
                method=method,
                path=path,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                request_id=request_id,
            )
            reset_correlation_id(token)
