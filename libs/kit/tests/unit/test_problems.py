"""Every error a service answers is RFC 9457 problem+json, whatever raised it."""

import logging
from http import HTTPStatus

import httpx
import pytest
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc

from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.eventstore import ConcurrencyConflictError, kit_metadata
from mentorship_kit.problems import ProblemError, ProblemType, is_unavailable
from mentorship_kit.settings import ServiceSettings
from mentorship_kit.telemetry import configure_tracing

PROBLEM = "application/problem+json"


class PairNotActiveError(Exception):
    pass


class PairEndedError(PairNotActiveError):
    pass


class GoalDueError(Exception):
    def __init__(self, goal_id: str, due_on: str) -> None:
        super().__init__(f"goal {goal_id} is due on {due_on}")
        self.goal_id, self.due_on = goal_id, due_on


class GoalOverdueError(GoalDueError):
    pass


def goal_problem(error: GoalDueError) -> ProblemError:
    return ProblemError(
        409,
        str(error),
        title="Goal due",
        type_uri="urn:test:goal-due",
        extensions={"goal_id": error.goal_id, "due_on": error.due_on},
    )


class Employee(BaseModel):
    email: str
    job_level: int = Field(ge=1)


class Batch(BaseModel):
    employees: list[Employee]


def routes() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/employees/batch")
    async def batch(body: Batch) -> dict[str, int]:
        return {"count": len(body.employees)}

    @router.put("/v1/search")
    async def replace_search() -> dict[str, str]:
        return {}

    @router.get("/v1/search")
    async def search(limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @router.get("/problem")
    async def problem() -> None:
        raise ProblemError(422, "the program is closed", extensions={"program_id": "p1"})

    @router.get("/conflict")
    async def conflict() -> None:
        raise ConcurrencyConflictError("pair-1", 3, 4)

    @router.get("/domain")
    async def domain() -> None:
        raise PairEndedError("pair p1 has ended")

    @router.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout")

    @router.get("/database-down")
    async def database_down() -> None:
        raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))

    return router


def goal_routes() -> APIRouter:
    router = APIRouter()

    @router.get("/goal")
    async def goal() -> None:
        raise GoalOverdueError("g1", "2026-12-01")

    return router


def body_routes() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/notes")
    async def take_note(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    return router


@pytest.fixture
def app(tmp_path):
    spec = ServiceSpec(
        name="testsvc",
        title="Test service",
        version="0.0.1",
        metadata=kit_metadata(),
        routers=[routes(), body_routes(), goal_routes()],
        problem_types={
            PairNotActiveError: ProblemType(409, "Pair not active", "urn:test:pair-not-active"),
            GoalDueError: goal_problem,
        },
    )
    settings = ServiceSettings(dev_mode=True, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    # The lifespan (not run here: no database or NATS needed) installs the tracer.
    configure_tracing(spec.name, spec.version)
    return create_app(spec, settings)


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def assert_problem(response, status):
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    return body


async def test_body_validation_names_each_field(client):
    response = await client.post(
        "/v1/employees/batch",
        json={"employees": [{"email": "a@x", "job_level": 2}, {"job_level": 0}]},
    )

    body = assert_problem(response, 422)
    assert body["type"] == "urn:mentorship:problem:validation"
    assert body["detail"].startswith("employees.1.email: Field required")
    fields = {error["field"]: error for error in body["errors"]}
    assert set(fields) == {"employees.1.email", "employees.1.job_level"}
    assert fields["employees.1.email"]["pointer"] == "/employees/1/email"
    assert fields["employees.1.job_level"]["in"] == "body"
    assert body["instance"] == "/v1/employees/batch"


async def test_malformed_json_body_is_a_validation_problem(client):
    response = await client.post(
        "/v1/employees/batch", content=b"{not json", headers={"content-type": "application/json"}
    )

    body = assert_problem(response, 422)
    assert body["errors"][0]["in"] == "body"


async def test_query_validation_names_the_parameter(client):
    response = await client.get("/v1/search", params={"limit": "many"})

    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "limit"
    assert body["errors"][0]["in"] == "query"
    assert "pointer" not in body["errors"][0]
    assert body["detail"].startswith("limit: ")


async def test_unknown_path_is_404_problem(client):
    body = assert_problem(await client.get("/v1/nothing-here"), 404)

    assert body["title"] == "Not Found"
    assert body["instance"] == "/v1/nothing-here"


async def test_wrong_method_is_405_problem_with_allow(client):
    response = await client.delete("/v1/search")

    assert_problem(response, 405)
    # Two routes serve the path; the answer names the methods of both.
    assert response.headers["allow"] == "GET, PUT"


async def test_unexpected_error_is_500_without_internals(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = await client.get("/boom")

    body = assert_problem(response, 500)
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert len(body["trace_id"]) == 32
    assert "http.unhandled_error" in caplog.text
    assert "hunter2" in caplog.text  # the log keeps what the answer hides
    assert body["trace_id"] in caplog.text


async def test_problem_error_keeps_status_detail_and_extensions(client):
    body = assert_problem(await client.get("/problem"), 422)

    assert body["detail"] == "the program is closed"
    assert body["program_id"] == "p1"
    assert body["title"] == HTTPStatus(422).phrase


async def test_concurrency_conflict_is_409(client):
    body = assert_problem(await client.get("/conflict"), 409)

    assert "pair-1" in body["detail"]


async def test_mapped_domain_errors_and_their_subclasses(client):
    body = assert_problem(await client.get("/domain"), 409)

    assert body == body | {
        "type": "urn:test:pair-not-active",
        "title": "Pair not active",
        "detail": "pair p1 has ended",
    }


async def test_errors_mapped_to_a_function_answer_the_problem_it_makes_of_them(client):
    body = assert_problem(await client.get("/goal"), 409)

    assert body == body | {
        "type": "urn:test:goal-due",
        "title": "Goal due",
        "detail": "goal g1 is due on 2026-12-01",
        "goal_id": "g1",
        "due_on": "2026-12-01",
        "instance": "/goal",
    }


async def test_http_exception_is_a_problem(client):
    body = assert_problem(await client.get("/teapot"), 418)

    assert body["detail"] == "short and stout"


async def test_a_client_gone_before_its_body_was_read_is_no_server_error(app, caplog):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/notes", "raw_path": b"/v1/notes", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"test"), (b"content-length", b"10")],
        "client": ("127.0.0.1", 1234), "server": ("test", 80), "state": {},
    }  # fmt: skip
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)

    assert sent == []  # nobody is listening: no answer, and above all no 500
    assert "http.client_disconnected" in caplog.text
    assert "http.unhandled_error" not in caplog.text


async def test_database_unavailable_is_503_with_retry_after(client):
    response = await client.get("/database-down")

    assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"


async def test_problems_carry_the_request_id(client):
    response = await client.get("/v1/nothing-here", headers={"X-Request-ID": "req-123"})

    assert response.json()["request_id"] == "req-123"
    assert response.headers["x-request-id"] == "req-123"


def test_unavailability_is_recognised_through_explicit_causes():
    def raised_from(cause: Exception) -> Exception:
        wrapped = RuntimeError("wrapped")
        wrapped.__cause__ = cause  # what `raise ... from cause` records
        return wrapped

    assert is_unavailable(raised_from(ConnectionRefusedError()))
    assert is_unavailable(sa_exc.InterfaceError("x", {}, Exception("closed")))
    assert not is_unavailable(RuntimeError("a bug"))
    assert not is_unavailable(sa_exc.IntegrityError("INSERT", {}, Exception("duplicate")))
