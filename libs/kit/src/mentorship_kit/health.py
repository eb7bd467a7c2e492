"""Probe and scrape endpoints every service serves.

``/healthz`` is liveness only: it answers while the event loop does, whatever the
dependencies, so an outage never makes an orchestrator restart healthy processes.
``/readyz`` checks the database and NATS and says which one is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from mentorship_kit.problems import ProblemType, problem_response, problem_responses

if TYPE_CHECKING:
    from mentorship_kit.runtime import ServiceRuntime

NOT_READY: Final = ProblemType(503, "Not ready", "urn:mentorship:problem:not-ready")

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process is serving")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and NATS is connected",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> Response:
    runtime: ServiceRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        checks = {"startup": {"status": "failing", "detail": "the lifespan has not run"}}
    else:
        checks = await runtime.readiness()
    failing = [name for name, check in checks.items() if check["status"] != "ok"]
    if not failing:
        return JSONResponse({"status": "ok", "checks": checks})
    return problem_response(
        NOT_READY.status,
        title=NOT_READY.title,
        type_uri=NOT_READY.type,
        detail=f"not ready: {', '.join(failing)}",
        instance=request.url.path,
        headers={"Retry-After": "1"},
        extensions={"checks": checks},
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
