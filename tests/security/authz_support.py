"""Support for the authorization matrix: the callers, the operations each service serves,
the intended table read from docs/security.md, and the four services run in this process.

The table is the source of truth for who may call what; the test compares every cell of
it with what the running services answer, and fails when the table and the services
disagree on the list of operations.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from analytics.config import AnalyticsSettings
from analytics.main import create_app as create_analytics
from enrollment.config import EnrollmentSettings
from enrollment.main import create_app as create_enrollment
from matching.config import MatchingSettings
from matching.main import create_app as create_matching
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.settings import DEFAULT_DEV_SECRET
from sessions.config import SessionsSettings
from sessions.main import create_app as create_sessions

SECURITY_DOC: Final = Path(__file__).resolve().parents[2] / "docs" / "security.md"
# In the order the matrix walks them: a service whose calls change state that another
# one's checks rely on comes after it (enrollment's withdrawals end matching's pairs,
# and matching's ended pairs close sessions' pairs).
SERVICES: Final = ("analytics", "sessions", "matching", "enrollment")
_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAM: Final = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


class Caller(StrEnum):
    """The table's columns, in the order the matrix calls them for one operation.

    Callers expected to be refused come first, so that no allowed call (an archive, a
    withdrawal) has changed the resource before a refusal is checked: a check made after
    a lookup would turn a refusal into a 404 or 409 on a changed resource.
    """

    NO_TOKEN = "no token"  # noqa: S105 - a column name, not a secret
    EXPIRED = "expired token"
    WRONG_KEY = "wrong key"
    OUTSIDER = "participant, outsider"
    HRIS = "hris"
    PARTICIPANT = "participant"
    PROGRAM_MANAGER = "program_manager"
    ADMIN = "admin"


class Outcome(StrEnum):
    ALLOWED = "✓"
    UNAUTHENTICATED = "401"
    FORBIDDEN = "403"

    @classmethod
    def of(cls, status: int) -> Outcome:
        if status == 401:
            return cls.UNAUTHENTICATED
        if status == 403:
            return cls.FORBIDDEN
        return cls.ALLOWED


@dataclass(frozen=True, order=True)
class Operation:
    service: str
    method: str
    path: str

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def __str__(self) -> str:
        return f"{self.service}: {self.key}"


# --- the operations the services serve ----------------------------------------------


def document_settings(service: str, **values: Any) -> Any:
    """Settings of ``service`` in dev mode; building an app with them connects to nothing."""
    kinds: dict[str, type[Any]] = {
        "enrollment": EnrollmentSettings,
        "matching": MatchingSettings,
        "sessions": SessionsSettings,
        "analytics": AnalyticsSettings,
    }
    return kinds[service](dev_mode=True, log_level="WARNING", **values)


def build_app(service: str, settings: Any) -> FastAPI:
    factories = {
        "enrollment": create_enrollment,
        "matching": create_matching,
        "sessions": create_sessions,
        "analytics": create_analytics,
    }
    app: FastAPI = factories[service](settings)
    return app


def served_operations(service: str, app: FastAPI) -> list[Operation]:
    """Every operation of the app's OpenAPI document, then those of the paths the
    document leaves out (SCIM, /metrics, the documentation pages), in a stable order.

    An undocumented route on a documented path is not an operation: such routes answer
    405 with the path's methods in ``Allow`` (the webhook API has them).
    """
    documented: dict[str, Any] = app.openapi()["paths"]
    found: list[Operation] = []
    for path, item in documented.items():
        found.extend(
            Operation(service, method.upper(), path)
            for method in item
            if method.upper() in _METHODS
        )
    for route in iter_route_contexts(app.routes):
        path = _PARAM.sub(r"{\1}", route.path_format)
        if path in documented:
            continue
        # HEAD is answered wherever GET is, by the same endpoint.
        methods = sorted(set(route.methods or ()) - {"HEAD"})
        found.extend(Operation(service, method, path) for method in methods)
    return list(dict.fromkeys(found))


# --- the intended table -------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    operation: Operation
    outcomes: Mapping[Caller, Outcome]
    line: int


_SERVICE_HEADING: Final = re.compile(r"^#{3,4} .*`(?P<service>[a-z]+)`")
_OPERATION_CELL: Final = re.compile(r"^`(?P<method>[A-Z]+) (?P<path>/\S*)`$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def read_table(text: str) -> dict[Operation, Row]:
    """The role table of docs/security.md: under a heading naming a service in back
    quotes, a markdown table whose first column is an operation (`METHOD /path`), then
    one column per caller (their names in the header), then free text."""
    rows: dict[Operation, Row] = {}
    service: str | None = None
    columns: list[Caller] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            # A service's table runs until the next heading, whatever it is.
            heading = _SERVICE_HEADING.match(line)
            service, columns = (heading["service"] if heading else None), None
            continue
        if service is None or not line.startswith("|"):
            continue
        cells = _cells(line)
        if cells[0] == "operation":
            columns = [Caller(cell) for cell in cells[1 : 1 + len(Caller)]]
            if sorted(columns) != sorted(Caller):
                raise ValueError(f"docs/security.md:{number}: the columns must be {list(Caller)}")
            continue
        if columns is None or set(cells[0]) <= {"-", ":"}:
            continue
        match = _OPERATION_CELL.match(cells[0])
        if match is None:
            raise ValueError(f"docs/security.md:{number}: {cells[0]!r} is not `METHOD /path`")
        operation = Operation(service, match["method"], match["path"])
        if operation in rows:
            raise ValueError(f"docs/security.md:{number}: {operation} is listed twice")
        try:
            outcomes = {
                caller: Outcome(cell)
                for caller, cell in zip(columns, cells[1 : 1 + len(columns)], strict=True)
            }
        except ValueError as exc:
            raise ValueError(f"docs/security.md:{number}: {exc} (one of ✓, 401, 403)") from exc
        rows[operation] = Row(operation, outcomes, number)
    return rows


# --- who calls ----------------------------------------------------------------------

# A secret no service trusts: PyJWT's HS256 check wants 32 bytes or more.
FOREIGN_SECRET: Final = "a-key-that-none-of-the-services-knows-of"  # noqa: S105 - a test key


@dataclass(frozen=True)
class People:
    """The employees of the matrix's world."""

    owner: str  # "participant": a mentor, in the pair and asked by the mentor request
    mentee: str  # the owner's mentee in the pair
    asker: str  # a mentee who asked the owner to mentor them
    outsider: str  # "participant, outsider": enrolled, but party to nothing
    leaver: str  # the directory writes (PUT, departure, SCIM) act on this one


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def participant(employee_id: str) -> dict[str, str]:
    return bearer(issue_dev_token(DEFAULT_DEV_SECRET, role="participant", sub=employee_id))


ADMIN: Final = bearer(issue_dev_token(DEFAULT_DEV_SECRET, role="admin", sub="admin-ada"))
MANAGER: Final = bearer(
    issue_dev_token(DEFAULT_DEV_SECRET, role="program_manager", sub="manager-max")
)
HRIS: Final = bearer(issue_dev_token(DEFAULT_DEV_SECRET, role="hris", sub="hris-sync"))


def callers(people: People) -> dict[Caller, dict[str, str]]:
    """The headers of each column. The expired and the foreign-signed tokens claim the
    admin role: only their expiry or their signature can be why they are refused."""
    expired = issue_dev_token(
        DEFAULT_DEV_SECRET,
        role="admin",
        sub="admin-ada",
        now=datetime.now(UTC) - timedelta(hours=2),
        ttl=timedelta(hours=1),
    )
    return {
        Caller.NO_TOKEN: {},
        Caller.EXPIRED: bearer(expired),
        Caller.WRONG_KEY: bearer(issue_dev_token(FOREIGN_SECRET, role="admin", sub="admin-ada")),
        Caller.OUTSIDER: participant(people.outsider),
        Caller.HRIS: HRIS,
        Caller.PARTICIPANT: participant(people.owner),
        Caller.PROGRAM_MANAGER: MANAGER,
        Caller.ADMIN: ADMIN,
    }


# --- the four services in this process ----------------------------------------------


@asynccontextmanager
async def running_services(
    folder: Path, nats_url: str
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """The four services, each through its lifespan (its own SQLite database, the one
    nats-server), with a client that calls it in process."""
    tuning: dict[str, dict[str, Any]] = {
        "matching": {"worker_poll_seconds": 0.2},
        "analytics": {"analytics_pause_poll_seconds": 0.2},
    }
    async with AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for service in SERVICES:
            settings = document_settings(
                service,
                database_url=f"sqlite+aiosqlite:///{folder / service}.db",
                nats_url=nats_url,
                # Longer than SQLite's 30 s busy timeout: a worker cancelled while it
                # waits for the write lock gets its "database is locked" and stops
                # before the engine is disposed (a disposed aiosqlite connection never
                # answers, and the test's event loop would wait on it for ever).
                shutdown_timeout_seconds=40,
                **tuning.get(service, {}),
            )
            app = build_app(service, settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[service] = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url=f"http://{service}.test",
                    timeout=30,
                )
            )
        yield clients
