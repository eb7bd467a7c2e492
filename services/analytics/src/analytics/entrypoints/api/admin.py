"""Operating the read models: rebuilds with progress, and where each consumer stands.

No ``from __future__ import annotations`` here: FastAPI resolves the dependency alias
local to :func:`admin_router` from the annotations, which must be real objects.
"""

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from analytics.application.consumers import consumer_status
from analytics.application.control import ReadModelControl
from analytics.application.readmodels import READ_MODELS, read_model
from analytics.application.rebuilds import Rebuilder
from analytics.application.sources import Sources
from analytics.config import analytics_settings
from analytics.domain.errors import RebuildNotFoundError
from analytics.entrypoints.api.schemas import (
    ConsumerOut,
    ConsumersOut,
    ReadModelOut,
    ReadModelsOut,
    RebuildOut,
    RebuildsOut,
)
from mentorship_kit.auth import Principal, Role, authenticate, require_roles
from mentorship_kit.context import ContextDep
from mentorship_kit.problems import problem_responses
from mentorship_kit.query import reject_unknown_query

Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
ReadModelName = Annotated[
    str,
    Path(max_length=50, description=f"One of: {', '.join(READ_MODELS)}."),
]
RebuildId = Annotated[str, Path(max_length=36, description="The id the rebuild request returned.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="The same key again returns the rebuild it started.",
    ),
]
_PREFIX: Final = "/v1/admin/read-models"


def admin_router(control: ReadModelControl) -> APIRouter:
    # An unknown query parameter is a 422, after the token is checked (see metrics.py).
    router = APIRouter(
        tags=["read models"],
        dependencies=[Depends(authenticate), Depends(reject_unknown_query)],
    )

    def rebuilder(request: Request, context: ContextDep) -> Rebuilder:
        settings = analytics_settings(request.app.state.settings)
        return Rebuilder(
            context.engine,
            Sources(context.js, settings),
            control,
            settings.analytics_rebuild_batch_size,
        )

    Rebuilds = Annotated[Rebuilder, Depends(rebuilder)]  # noqa: N806 - a dependency alias, local to the router it serves

    @router.get(
        _PREFIX,
        responses=problem_responses(401, 403),
        summary="The read models, their source stream and their tables",
    )
    async def list_read_models(_: Admin) -> ReadModelsOut:
        return ReadModelsOut(
            items=[
                ReadModelOut(name=m.name, source=m.source, tables=list(m.tables))
                for m in READ_MODELS.values()
            ]
        )

    @router.post(
        f"{_PREFIX}/{{name}}/rebuild",
        status_code=202,
        response_model=RebuildOut,
        responses=problem_responses(401, 403, 404, 409, 422),
        summary="Rebuild a read model from history into new tables and swap them in",
    )
    async def rebuild_read_model(
        name: ReadModelName,
        principal: Admin,
        rebuilds: Rebuilds,
        request: Request,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        record = await rebuilds.request(name, principal.subject, idempotency_key)
        location = request.url_for("get_rebuild", name=name, rebuild_id=record.rebuild_id)
        return JSONResponse(
            RebuildOut.of(record).model_dump(mode="json"),
            status_code=202,
            headers={"Location": location.path},
        )

    @router.get(
        f"{_PREFIX}/{{name}}/rebuilds",
        responses=problem_responses(401, 403, 404, 422),
        summary="The read model's latest rebuilds (catch-ups included), newest first",
    )
    async def list_rebuilds(
        name: ReadModelName,
        _: Admin,
        rebuilds: Rebuilds,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> RebuildsOut:
        return RebuildsOut(items=[RebuildOut.of(r) for r in await rebuilds.latest(name, limit)])

    @router.get(
        f"{_PREFIX}/{{name}}/rebuilds/{{rebuild_id}}",
        responses=problem_responses(401, 403, 404, 422),
        summary="A rebuild's progress and outcome",
        name="get_rebuild",
    )
    async def get_rebuild(
        name: ReadModelName, rebuild_id: RebuildId, _: Admin, rebuilds: Rebuilds
    ) -> RebuildOut:
        model = read_model(name)
        record = await rebuilds.get(rebuild_id)
        if record.read_model != model.name:
            raise RebuildNotFoundError(rebuild_id)
        return RebuildOut.of(record)

    @router.get(
        "/v1/admin/consumers",
        responses=problem_responses(401, 403),
        summary="Each source's consumer: state, last processed position and lag",
    )
    async def list_consumers(_: Admin, request: Request, context: ContextDep) -> ConsumersOut:
        sources = Sources(context.js, analytics_settings(request.app.state.settings))
        return ConsumersOut(
            items=[
                ConsumerOut.of(await consumer_status(context.engine, sources, control, m))
                for m in READ_MODELS.values()
            ]
        )

    return router
