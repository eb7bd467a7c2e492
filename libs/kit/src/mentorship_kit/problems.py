"""RFC 9457 problem details: the one shape of every error a service answers.

Domain errors know nothing about HTTP (house style); a service maps their types, in its
``ServiceSpec``, to a :class:`ProblemType` or to a function that makes a
:class:`ProblemError` from the error, and this module turns them into
``application/problem+json``. Endpoints that need a specific answer raise
:class:`ProblemError`. Everything else becomes a 503 when a dependency is unreachable,
or a 500 that names only the trace id, never the internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from mentorship_kit.eventstore import ConcurrencyConflictError
from mentorship_kit.telemetry import current_correlation_id, current_trace_id

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
_URN: Final = "urn:mentorship:problem:"

_Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


@dataclass(frozen=True)
class ProblemType:
    """How one kind of error is answered: status, short title, and type URI."""

    status: int
    title: str
    type: str = "about:blank"


VALIDATION: Final = ProblemType(422, "Request validation failed", f"{_URN}validation")
CONFLICT: Final = ProblemType(409, "Concurrent modification", f"{_URN}conflict")
UNAVAILABLE: Final = ProblemType(503, "Service unavailable", f"{_URN}unavailable")
INTERNAL: Final = ProblemType(500, "Internal server error", f"{_URN}internal")
BAD_CURSOR: Final = ProblemType(400, "Malformed cursor", f"{_URN}bad-cursor")


class ProblemError(Exception):
    """Raised by endpoints and dependencies to answer with a specific problem."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        type_uri: str = "about:blank",
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.title = title or _phrase(status)
        self.detail = detail
        self.type_uri = type_uri
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})
        super().__init__(detail or self.title)

    @classmethod
    def of(
        cls,
        problem: ProblemType,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> ProblemError:
        return cls(
            problem.status,
            detail,
            title=problem.title,
            type_uri=problem.type,
            headers=headers,
            extensions=extensions,
        )


class Problem(BaseModel):
    """The problem+json body, for OpenAPI documentation of error responses."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route decorator documenting its problem answers."""
    return {
        status: {
            "model": Problem,
            "description": _phrase(status),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_uri: str = "about:blank",
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": type_uri,
        "title": title or _phrase(status),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(_request_extensions())
    body.update(extensions or {})
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


# How a service's own errors are answered: the same problem for every error of a type,
# or a problem made from the error itself (its fields as extensions).
ProblemFor = ProblemType | Callable[[Any], ProblemError]


def install_problem_handlers(
    app: FastAPI, problem_types: Mapping[type[Exception], ProblemFor] | None = None
) -> None:
    """Answer the errors handlers can claim with problem+json.

    ``problem_types`` maps a service's error types (their subclasses included) to their
    problems. Errors no handler claims need :class:`UnhandledErrorMiddleware` as well;
    ``create_app`` adds it where it belongs in the middleware order.
    """
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(ConcurrencyConflictError, _conflict)
    for error_type, problem in (problem_types or {}).items():
        app.add_exception_handler(error_type, _domain_handler(problem))


async def _http_exception(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail == _phrase(exc.status_code):
        detail = None
    headers = dict(exc.headers or {})
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        # Starlette names only the methods of the first route whose path matched; a
        # path served by several routes (GET and POST in two functions) allows them all.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(
        exc.status_code, detail=detail, instance=request.url.path, headers=headers or None
    )


_METHODS: Final = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (asked of the routes themselves:
    included routers keep their routes' methods to themselves)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    errors = [_field_error(error) for error in exc.errors()]
    detail = "the request is invalid"
    if errors:
        first = errors[0]
        detail = f"{first['field']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
    return problem_response(
        VALIDATION.status,
        title=VALIDATION.title,
        type_uri=VALIDATION.type,
        detail=detail,
        instance=request.url.path,
        extensions={"errors": errors},
    )


def _field_error(error: Mapping[str, Any]) -> dict[str, Any]:
    loc: Sequence[str | int] = tuple(error.get("loc", ()))
    where = str(loc[0]) if loc else "body"
    path = list(loc[1:])
    field = ".".join(str(part) for part in path) or where
    entry: dict[str, Any] = {
        "field": field,
        "in": where,
        "loc": list(loc),
        "message": str(error.get("msg", "invalid")),
        "type": str(error.get("type", "value_error")),
    }
    if where == "body":
        entry["pointer"] = "/" + "/".join(_pointer_token(part) for part in path) if path else ""
    return entry


def _pointer_token(part: str | int) -> str:
    # RFC 6901 escaping: "~" first, then "/".
    return str(part).replace("~", "~0").replace("/", "~1")


async def _problem_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ProblemError)  # noqa: S101 - registered for this type only
    return _answer(request, exc)


def _answer(request: Request, exc: ProblemError) -> ProblemResponse:
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        type_uri=exc.type_uri,
        instance=request.url.path,
        headers=exc.headers,
        extensions=exc.extensions,
    )


async def _conflict(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ConcurrencyConflictError)  # noqa: S101 - registered for this type only
    return problem_response(
        CONFLICT.status,
        title=CONFLICT.title,
        type_uri=CONFLICT.type,
        detail=f"{exc}; re-read and retry",
        instance=request.url.path,
    )


def _domain_handler(problem: ProblemFor) -> _Handler:
    if not isinstance(problem, ProblemType):
        made = problem

        async def answer_made(request: Request, exc: Exception) -> ProblemResponse:
            return _answer(request, made(exc))

        return answer_made

    async def handle(request: Request, exc: Exception) -> ProblemResponse:
        return problem_response(
            problem.status,
            title=problem.title,
            type_uri=problem.type,
            detail=str(exc) or None,
            instance=request.url.path,
        )

    return handle


def _request_extensions() -> dict[str, str]:
    extensions = {}
    if (trace_id := current_trace_id()) is not None:
        extensions["trace_id"] = trace_id
    if (request_id := current_correlation_id()) is not None:
        extensions["request_id"] = request_id
    return extensions


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_UNAVAILABLE_ERRORS: Final = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # the connection pool stayed exhausted
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    ConnectionError,
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, says a dependency is unreachable.

    Only explicit causes are followed (``raise ... from`` and SQLAlchemy's ``orig``):
    an implicit ``__context__`` may be an unrelated error that was already handled.
    """
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE_ERRORS):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        pending.extend(
            cause
            for cause in (getattr(current, "orig", None), current.__cause__)
            if isinstance(cause, BaseException)
        )
    return False


class UnhandledErrorMiddleware:
    """Last line: an error no handler claimed becomes a 503 or a 500 problem.

    A plain ASGI middleware rather than a handler for ``Exception``: Starlette re-raises
    after such a handler answers, which would log every error twice and make test
    clients raise instead of seeing the 500 a real client sees.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # The client left before its request was read (it timed out, or gave up):
            # there is nobody to answer, and it is not the server's error.
            log.info("http.client_disconnected", path=scope.get("path"))
        except Exception as exc:
            if started:
                log.exception("http.error_after_response_started", path=scope.get("path"))
                raise
            response = self._answer(scope, exc)
            await response(scope, receive, send)

    @staticmethod
    def _answer(scope: Scope, exc: Exception) -> ProblemResponse:
        path = str(scope.get("path", ""))
        if is_unavailable(exc):
            log.warning("http.dependency_unavailable", path=path, error=repr(exc))
            return problem_response(
                UNAVAILABLE.status,
                title=UNAVAILABLE.title,
                type_uri=UNAVAILABLE.type,
                detail="a backing service is unreachable; retry shortly",
                instance=path,
                headers={"Retry-After": "1"},
            )
        log.error("http.unhandled_error", path=path, exc_info=exc)
        return problem_response(
            INTERNAL.status,
            title=INTERNAL.title,
            type_uri=INTERNAL.type,
            detail="an unexpected error occurred; quote the trace_id when reporting it",
            instance=path,
        )
