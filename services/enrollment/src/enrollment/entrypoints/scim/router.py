"""/scim/v2: Users over the employee directory, and the discovery endpoints.

The endpoints parse SCIM themselves (scim2-models, in the SCIM context of each
request) rather than through FastAPI's body and query validation, so that every error
is a SCIM error; they are left out of the OpenAPI document, which describes the /v1
API (SCIM is described by its own discovery endpoints).

Writes run the directory's use cases: the same events as the REST API, the same
departure cascade (``active: false`` or DELETE withdraws every enrollment).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import orjson
import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from scim2_models import (
    Context,
    ListResponse,
    PatchOp,
    ResourceType,
    ResponseParameters,
    Schema,
    SCIMException,
    SearchRequest,
)
from scim2_models.path import CompareOperator, Comparison
from sqlalchemy.exc import IntegrityError

from enrollment.adapters import repository
from enrollment.adapters.repository import EmployeeRow
from enrollment.application import directory as use_cases
from enrollment.domain.employees import Employee
from enrollment.domain.errors import DomainError
from enrollment.entrypoints import metrics
from enrollment.entrypoints.api.schemas import EMPLOYEE_ID_PATTERN, RESERVED_EMPLOYEE_IDS
from enrollment.entrypoints.scim.errors import ScimError, ScimResponse
from enrollment.entrypoints.scim.mapping import employee_id_for, to_record, to_user
from enrollment.entrypoints.scim.models import MAX_RESULTS, PROVIDER, DirectoryUser
from mentorship_kit.auth import (
    AuthenticationError,
    KeySetUnavailableError,
    Principal,
    Role,
    token_verifier,
)
from mentorship_kit.commands import UseCase
from mentorship_kit.context import ServiceContext, get_context, request_metadata

log = structlog.get_logger(__name__)

PREFIX: Final = "/scim/v2"
DEFAULT_COUNT: Final = 100
_EMPLOYEE_ID = re.compile(EMPLOYEE_ID_PATTERN)
_GET_ONLY: Final = ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas")
# Timestamps of a User built only to apply a PATCH to; never served.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


async def scim_principal(request: Request) -> Principal:
    """The caller, who must hold the hris (or admin) role; SCIM errors otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ScimError(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        principal = await token_verifier(request).verify(token.strip())
    except AuthenticationError as exc:
        raise ScimError(
            401,
            str(exc),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc
    except KeySetUnavailableError as exc:
        raise ScimError(503, "the identity provider's signing keys cannot be fetched") from exc
    if not principal.has_any(Role.HRIS, Role.ADMIN):
        raise ScimError(403, "SCIM provisioning requires the hris (or admin) role")
    request.state.principal = principal
    return principal


async def scim_context(request: Request) -> ServiceContext:
    # async: FastAPI runs a plain-def dependency in its thread pool, a hop per request.
    try:
        return get_context(request)
    except Exception as exc:  # the kit's 503 problem, answered as a SCIM error
        raise ScimError(503, "the service is starting or stopping") from exc


ScimCaller = Annotated[Principal, Depends(scim_principal)]
ScimContext = Annotated[ServiceContext, Depends(scim_context)]

router = APIRouter(
    prefix=PREFIX,
    include_in_schema=False,
    default_response_class=ScimResponse,
    dependencies=[Depends(scim_principal)],
)


def _users_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{PREFIX}/Users"


def _dump(resource: Any, context: Context, params: ResponseParameters[Any] | None = None) -> Any:
    return resource.model_dump(scim_ctx=context, response_parameters=params)


def _user(request: Request, row: EmployeeRow) -> Any:
    return to_user(
        row.employee,
        users_url=_users_url(request),
        created=row.created_at,
        last_modified=row.updated_at,
    )


async def _json(request: Request) -> Any:
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ScimError(400, f"the body is not JSON: {exc}", scim_type="invalidSyntax") from exc


def _parse(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except ValidationError as exc:
        raise ScimError.invalid(exc) from exc
    except SCIMException as exc:
        raise ScimError.of(exc) from exc


def _response_parameters(request: Request) -> ResponseParameters[Any]:
    query = {key: request.query_params[key] for key in ("attributes", "excludedAttributes")
             if key in request.query_params}  # fmt: skip
    params: ResponseParameters[Any] = _parse(
        lambda: ResponseParameters[DirectoryUser].model_validate(query)
    )
    return params


async def _run(
    request: Request, context: ServiceContext, principal: Principal, use_case: UseCase[Any]
) -> use_cases.EmployeeChange:
    try:
        change: use_cases.EmployeeChange = await context.runner.run(
            use_case, metadata=request_metadata(request, principal)
        )
    except DomainError as exc:
        raise ScimError.from_domain(exc) from exc
    except SCIMException as exc:
        raise ScimError.of(exc) from exc
    except ValidationError as exc:
        raise ScimError.invalid(exc) from exc
    except IntegrityError as exc:
        # Two requests claimed one userName at once; the unique index refused the second.
        raise ScimError(409, "userName is already taken", scim_type="uniqueness") from exc
    metrics.directory_rows("scim", change.outcome.value)
    metrics.departure_withdrawals(change.withdrawn)
    metrics.waitlist_promotions("departure", change.promotions)
    return change


async def _served(context: ServiceContext, employee_id: str) -> EmployeeRow:
    async with context.engine.connect() as conn:
        row = await repository.get_employee(conn, employee_id)
    if row is None or row.employee.deprovisioned or row.employee.is_erased:
        raise ScimError(404, f"User {employee_id!r} not found")
    return row


# Discovery


@router.get("/ServiceProviderConfig")
async def service_provider_config() -> Any:
    return _dump(PROVIDER.config, Context.RESOURCE_QUERY_RESPONSE)


def _listed(resources: list[Any], model: Any) -> Any:
    response = ListResponse[model](
        total_results=len(resources),
        start_index=1,
        items_per_page=len(resources),
        resources=resources,
    )
    return _dump(response, Context.RESOURCE_QUERY_RESPONSE)


@router.get("/ResourceTypes")
async def resource_types() -> Any:
    return _listed(list(PROVIDER.resource_types), ResourceType)


@router.get("/ResourceTypes/{resource_type_id}")
async def resource_type(resource_type_id: str) -> Any:
    for candidate in PROVIDER.resource_types:
        if candidate.id == resource_type_id:
            return _dump(candidate, Context.RESOURCE_QUERY_RESPONSE)
    raise ScimError(404, f"ResourceType {resource_type_id!r} not found")


@router.get("/Schemas")
async def schemas() -> Any:
    return _listed(list(PROVIDER.schemas), Schema)


@router.get("/Schemas/{schema_id:path}")
async def schema(schema_id: str) -> Any:
    for candidate in PROVIDER.schemas:
        if candidate.id == schema_id:
            return _dump(candidate, Context.RESOURCE_QUERY_RESPONSE)
    raise ScimError(404, f"Schema {schema_id!r} not found")


# Users


_INDEXED: Final = {"username": "login_key", "externalid": "external_id", "id": "employee_id"}


def _sql_lookup(search: SearchRequest[Any]) -> dict[str, str] | None:
    """Keyword arguments for the repository when the filter is one `eq` it can index."""
    node = search.filter.ast if search.filter is not None else None
    if node is None:
        return {}
    if not isinstance(node, Comparison) or node.op is not CompareOperator.eq:
        return None
    if node.attr_path.sub_attr is not None or not isinstance(node.value, str):
        return None
    column = _INDEXED.get(node.attr_path.attr.casefold())
    if column is None:
        return None
    # userName is case-insensitive (RFC 7643 section 4.1.1); the others are case-exact.
    return {column: node.value.casefold() if column == "login_key" else node.value}


async def _search(
    request: Request, context: ServiceContext, search: SearchRequest[Any], response_context: Context
) -> Any:
    offset = max((search.start_index or 1) - 1, 0)
    count = min(DEFAULT_COUNT if search.count is None else max(search.count, 0), MAX_RESULTS)
    lookup = _sql_lookup(search)
    async with context.engine.connect() as conn:
        if lookup is not None:
            total, rows = await repository.scim_users(conn, offset=offset, limit=count, **lookup)
            users = [_user(request, row) for row in rows]
        else:
            # A filter the indexes cannot answer: evaluated on every user (RFC 7644
            # section 3.4.2.2 semantics, by scim2-models).
            _, rows = await repository.scim_users(conn)
            assert search.filter is not None  # noqa: S101 - lookup is None only with a filter
            matching = [u for u in (_user(request, row) for row in rows) if search.filter.match(u)]
            total, users = len(matching), matching[offset : offset + count]
    response = ListResponse[DirectoryUser](
        total_results=total,
        start_index=offset + 1,
        items_per_page=len(users),
        resources=users,
    )
    return _dump(response, response_context, search)


@router.get("/Users")
async def list_users(request: Request, context: ScimContext) -> Any:
    query = dict(request.query_params)
    search = _parse(
        lambda: SearchRequest[DirectoryUser].model_validate(
            query, scim_ctx=Context.RESOURCE_QUERY_REQUEST
        )
    )
    return await _search(request, context, search, Context.RESOURCE_QUERY_RESPONSE)


@router.post("/Users/.search")
@router.post("/.search")
async def search_users(request: Request, context: ScimContext) -> Any:
    """POST search; at the root it covers every resource type, which here is User only."""
    payload = await _json(request)
    search = _parse(
        lambda: SearchRequest[DirectoryUser].model_validate(
            payload, scim_ctx=Context.SEARCH_REQUEST
        )
    )
    return await _search(request, context, search, Context.SEARCH_RESPONSE)


@router.post("/Users", status_code=201)
async def create_user(request: Request, principal: ScimCaller, context: ScimContext) -> Any:
    params = _response_parameters(request)
    payload = await _json(request)
    user = _parse(
        lambda: DirectoryUser.model_validate(payload, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    )
    employee_id = employee_id_for(user)
    if (
        employee_id is None
        or not _EMPLOYEE_ID.match(employee_id)
        or employee_id in RESERVED_EMPLOYEE_IDS
    ):
        raise ScimError(
            400,
            "externalId (or userName) names the employee and must be 1-128 characters "
            "of A-Z a-z 0-9 . _ @ + ~ : -",
            scim_type="invalidValue",
        )
    change = await _run(
        request,
        context,
        principal,
        use_cases.sync_identity(
            employee_id, lambda current: to_record(user, current), creating=True
        ),
    )
    row = await _served(context, change.employee.employee_id)
    created = _user(request, row)
    return ScimResponse(
        _dump(created, Context.RESOURCE_CREATION_RESPONSE, params),
        status_code=201,
        headers={"Location": f"{_users_url(request)}/{employee_id}"},
    )


@router.get("/Users/{employee_id}")
async def get_user(employee_id: str, request: Request, context: ScimContext) -> Any:
    params = _response_parameters(request)
    row = await _served(context, employee_id)
    return _dump(_user(request, row), Context.RESOURCE_QUERY_RESPONSE, params)


@router.put("/Users/{employee_id}")
async def replace_user(
    employee_id: str, request: Request, principal: ScimCaller, context: ScimContext
) -> Any:
    params = _response_parameters(request)
    payload = await _json(request)
    user = _parse(
        lambda: DirectoryUser.model_validate(payload, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    )
    await _run(
        request,
        context,
        principal,
        use_cases.sync_identity(
            employee_id, lambda current: to_record(user, current), creating=False
        ),
    )
    row = await _served(context, employee_id)
    return _dump(_user(request, row), Context.RESOURCE_REPLACEMENT_RESPONSE, params)


def _lenient_patch(payload: Any) -> Any:
    """Accept what common identity providers send beside RFC 7644.

    Microsoft Entra ID sets the enterprise manager as a bare id string.
    """
    operations = payload.get("Operations") if isinstance(payload, dict) else None
    for operation in operations if isinstance(operations, list) else []:
        if (
            isinstance(operation, dict)
            and isinstance(operation.get("path"), str)
            and operation["path"].casefold().endswith("manager")
            and isinstance(operation.get("value"), str)
        ):
            operation["value"] = {"value": operation["value"]}
    return payload


@router.patch("/Users/{employee_id}")
async def patch_user(
    employee_id: str, request: Request, principal: ScimCaller, context: ScimContext
) -> Any:
    params = _response_parameters(request)
    payload = _lenient_patch(await _json(request))
    patch = _parse(
        lambda: PatchOp[DirectoryUser].model_validate(
            payload, scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
    )
    users_url = _users_url(request)

    def revise(current: Employee | None) -> Any:
        assert current is not None  # noqa: S101 - sync_identity passes it when not creating
        user = to_user(current, users_url=users_url, created=_EPOCH, last_modified=_EPOCH)
        patch.patch(user)
        return to_record(user, current)

    await _run(
        request, context, principal, use_cases.sync_identity(employee_id, revise, creating=False)
    )
    row = await _served(context, employee_id)
    return _dump(_user(request, row), Context.RESOURCE_PATCH_RESPONSE, params)


@router.delete("/Users/{employee_id}", status_code=204)
async def delete_user(
    employee_id: str, request: Request, principal: ScimCaller, context: ScimContext
) -> Response:
    await _run(request, context, principal, use_cases.deprovision(employee_id))
    return Response(status_code=204)


@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
)
async def unknown(path: str, request: Request) -> Any:
    known = f"/{path}".rstrip("/")
    if known in _GET_ONLY or known.startswith(("/ResourceTypes/", "/Schemas/")):
        raise ScimError(405, f"{request.method} is not allowed on {PREFIX}{known}")
    if known == "/Users" or known.startswith("/Users/"):
        raise ScimError(405, f"{request.method} is not allowed on {PREFIX}{known}")
    raise ScimError(404, f"{PREFIX}/{path} is not a SCIM endpoint of this service")
