"""/v1/webhooks: subscriptions, their delivery log, redelivery and audit trail [admin].

No ``from __future__ import annotations``: FastAPI reads the annotations of the
endpoints defined inside :func:`webhook_router`, which must be real objects.
"""

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from analytics.webhooks import audit, repository
from analytics.webhooks import subscriptions as use_cases
from analytics.webhooks.errors import (
    DeliveryNotFoundError,
    DeliveryPendingError,
    SubscriptionNotFoundError,
    UnknownEventTypeError,
)
from analytics.webhooks.fanout import Clock, Wakeup, utc_now
from analytics.webhooks.repository import DeliveryStatus, Status
from analytics.webhooks.schemas import (
    AuditEntryOut,
    AuditPage,
    CreatedWebhookOut,
    CreateWebhook,
    DeliveryDetailOut,
    DeliveryOut,
    DeliveryPage,
    UpdateWebhook,
    WebhookOut,
    WebhookPage,
)
from analytics.webhooks.settings import WebhookSettings, webhook_settings
from analytics.webhooks.signing import new_secret
from analytics.webhooks.targets import TargetRefusedError, check_url
from mentorship_kit.auth import Principal, Role, require_roles
from mentorship_kit.context import ContextDep, request_metadata
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.pagination import PageParams, PageQuery
from mentorship_kit.problems import BAD_CURSOR, VALIDATION, ProblemError, problem_responses

Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
WebhookId = Annotated[uuid.UUID, Path(description="The id the subscription was created with.")]
DeliveryId = Annotated[
    int, Path(ge=1, le=2**63 - 1, description="A delivery's id, from the delivery log.")
]
_URN: Final = "urn:mentorship:problem:"
_HTTP_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
_READ = problem_responses(400, 401, 403, 404, 422)
# OpenAPI links: what a client (and Schemathesis' linked sequences) does next with the id
# a subscription was created with.
_CREATED_LINKS: Final = {
    name: {"operationId": operation_id, "parameters": {"webhook_id": "$response.body#/id"}}
    for name, operation_id in {
        "GetWebhook": "get_webhook_v1_webhooks__webhook_id__get",
        "UpdateWebhook": "update_webhook_v1_webhooks__webhook_id__patch",
        "DeleteWebhook": "delete_webhook_v1_webhooks__webhook_id__delete",
        "ListDeliveries": "list_deliveries_v1_webhooks__webhook_id__deliveries_get",
        "WebhookAudit": "webhook_audit_v1_webhooks__webhook_id__audit_get",
    }.items()
}
_WRITE = problem_responses(400, 401, 403, 404, 409, 422)


async def _settings(request: Request) -> WebhookSettings:
    """The app's webhook settings, worked out once per app."""
    state = request.app.state
    cached = getattr(state, "webhook_settings", None)
    if not isinstance(cached, WebhookSettings):
        cached = webhook_settings(state.settings)
        state.webhook_settings = cached
    return cached


Settings = Annotated[WebhookSettings, Depends(_settings)]


def _field_problem(
    status: int, detail: str, field: str, *, title: str, type_uri: str, kind: str
) -> ProblemError:
    return ProblemError(
        status,
        detail,
        title=title,
        type_uri=type_uri,
        extensions={
            "errors": [
                {
                    "field": field,
                    "in": "body",
                    "pointer": "/" + field.replace(".", "/"),
                    "message": detail,
                    "type": kind,
                }
            ]
        },
    )


def _problem(exc: Exception) -> ProblemError:
    """A webhook error as an RFC 9457 problem naming what is wrong."""
    if isinstance(exc, SubscriptionNotFoundError):
        return ProblemError(
            404, str(exc), title="Webhook not found", type_uri=f"{_URN}webhook-not-found"
        )
    if isinstance(exc, DeliveryNotFoundError):
        return ProblemError(
            404, str(exc), title="Delivery not found", type_uri=f"{_URN}delivery-not-found"
        )
    if isinstance(exc, DeliveryPendingError):
        return ProblemError(
            409, str(exc), title="Delivery pending", type_uri=f"{_URN}delivery-pending"
        )
    if isinstance(exc, UnknownEventTypeError):
        return _field_problem(
            422,
            str(exc),
            f"event_types.{exc.index}",
            title=VALIDATION.title,
            type_uri=VALIDATION.type,
            kind="unknown_event_type",
        )
    if isinstance(exc, TargetRefusedError):
        return _field_problem(
            422,
            f"url: {exc}",
            "url",
            title=VALIDATION.title,
            type_uri=VALIDATION.type,
            kind="url_refused",
        )
    raise exc


_ERRORS: Final = (
    SubscriptionNotFoundError,
    DeliveryNotFoundError,
    DeliveryPendingError,
    UnknownEventTypeError,
    TargetRefusedError,
)


@contextlib.contextmanager
def _problems() -> Iterator[None]:
    try:
        yield
    except _ERRORS as exc:
        raise _problem(exc) from exc


async def _reject_unknown_query(request: Request) -> None:
    """422 naming a query parameter the operation does not take: a misspelt filter
    (``?stauts=failed``) would otherwise be ignored and answer more than was asked."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return  # the 405 routes answer 405 whatever the query
    unknown = sorted(set(request.query_params) - _query_names(route.dependant))
    if unknown:
        raise ProblemError(
            422,
            f"unknown query parameter {unknown[0]!r}",
            title=VALIDATION.title,
            type_uri=VALIDATION.type,
            extensions={
                "errors": [
                    {"field": name, "in": "query", "message": "not a parameter of this operation"}
                    for name in unknown
                ]
            },
        )


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _target(url: str, settings: WebhookSettings) -> str:
    return check_url(url, allowed_hosts=settings.webhook_allowed_hosts, dev_mode=settings.dev_mode)


def _position(page: PageParams, key: str, kind: type[Any]) -> Any:
    """A value of the page's cursor position; 400 when the cursor is not ours."""
    if page.position is None:
        return None
    value = page.position.get(key)
    if kind is datetime and isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                return moment
    elif isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise ProblemError.of(
        BAD_CURSOR,
        "the cursor is not one this list issued",
        extensions={"errors": [{"field": "cursor", "in": "query", "message": "not ours"}]},
    )


def webhook_router(wakeup: Wakeup, clock: Clock = utc_now) -> APIRouter:  # noqa: C901, PLR0915 - one closure per endpoint
    router = APIRouter(
        prefix="/v1/webhooks", tags=["webhooks"], dependencies=[Depends(_reject_unknown_query)]
    )

    @router.post(
        "",
        status_code=201,
        response_model=CreatedWebhookOut,
        responses={
            201: {"description": "The subscription, with its secret", "links": _CREATED_LINKS},
            **problem_responses(400, 401, 403, 422),
        },
        summary="Subscribe a URL to event types; the answer shows the signing secret once",
    )
    async def create_webhook(
        body: CreateWebhook, _: Admin, settings: Settings, command: CommandDep
    ) -> Response:
        with _problems():
            new = use_cases.NewSubscription(
                url=_target(body.url, settings),
                event_types=use_cases.event_types(body.event_types),
                description=body.description,
                secret=new_secret(),
            )
            result: Response = await command.execute(
                use_cases.subscribe(new, now=clock()),
                present=CreatedWebhookOut.created,
                status_code=201,
            )
        return result

    @router.get("", responses=_READ, summary="The subscriptions, oldest first")
    async def list_webhooks(
        _: Admin,
        context: ContextDep,
        page: PageQuery,
        status: Annotated[Literal["active", "paused", "disabled"] | None, Query()] = None,
    ) -> WebhookPage:
        at = _position(page, "at", datetime)
        after = (at, str(_position(page, "id", str))) if at is not None else None
        async with context.engine.connect() as conn:
            rows = await repository.list_subscriptions(
                conn,
                after=after,
                limit=page.limit + 1,
                status=Status(status) if status else None,
            )
        result = page.page(
            [WebhookOut.of(row) for row in rows],
            lambda last: {"at": last.created_at.isoformat(), "id": last.webhook_id},
        )
        return WebhookPage(items=result.items, next_cursor=result.next_cursor)

    @router.get("/{webhook_id}", responses=_READ, summary="One subscription")
    async def get_webhook(webhook_id: WebhookId, _: Admin, context: ContextDep) -> WebhookOut:
        async with context.engine.connect() as conn:
            subscription = await repository.get_subscription(conn, str(webhook_id))
        if subscription is None:
            raise _problem(SubscriptionNotFoundError(str(webhook_id)))
        return WebhookOut.of(subscription)

    @router.patch(
        "/{webhook_id}",
        responses=_WRITE,
        summary="Pause or resume a subscription, or change its URL, types or description",
    )
    async def update_webhook(
        *,
        webhook_id: WebhookId,
        body: UpdateWebhook,
        principal: Admin,
        settings: Settings,
        request: Request,
        context: ContextDep,
    ) -> WebhookOut:
        with _problems():
            changes = use_cases.Changes(
                url=_target(body.url, settings) if body.url is not None else None,
                event_types=use_cases.event_types(body.event_types)
                if body.event_types is not None
                else None,
                description=body.description,
                description_set="description" in body.model_fields_set,
                status=Status(body.status) if body.status is not None else None,
            )
            subscription = await context.runner.run(
                use_cases.change(str(webhook_id), changes, now=clock()),
                metadata=request_metadata(request, principal),
            )
        wakeup.notify()
        return WebhookOut.of(subscription)

    @router.delete(
        "/{webhook_id}",
        status_code=204,
        response_class=Response,
        responses=problem_responses(401, 403, 404, 422),
        summary="Delete a subscription with its queue and delivery log (its audit stays)",
    )
    async def delete_webhook(
        webhook_id: WebhookId, principal: Admin, request: Request, context: ContextDep
    ) -> Response:
        with _problems():
            await context.runner.run(
                use_cases.delete(str(webhook_id)), metadata=request_metadata(request, principal)
            )
        return Response(status_code=204)

    @router.get(
        "/{webhook_id}/deliveries",
        responses=_READ,
        summary="The subscription's deliveries, newest first, each with its attempts",
    )
    async def list_deliveries(
        webhook_id: WebhookId,
        _: Admin,
        context: ContextDep,
        page: PageQuery,
        status: Annotated[Literal["pending", "succeeded", "failed"] | None, Query()] = None,
    ) -> DeliveryPage:
        before = _position(page, "before", int)
        async with context.engine.connect() as conn:
            if await repository.get_subscription(conn, str(webhook_id)) is None:
                raise _problem(SubscriptionNotFoundError(str(webhook_id)))
            rows = await repository.list_deliveries(
                conn,
                str(webhook_id),
                before=before,
                limit=page.limit + 1,
                status=DeliveryStatus(status) if status else None,
            )
            attempts = await repository.attempts_of(conn, [d.delivery_id for d in rows])
        result = page.page(
            [DeliveryOut.of(d, attempts[d.delivery_id]) for d in rows],
            lambda last: {"before": last.delivery_id},
        )
        return DeliveryPage(items=result.items, next_cursor=result.next_cursor)

    @router.get(
        "/{webhook_id}/deliveries/{delivery_id}",
        responses=_READ,
        summary="One delivery, with the body it sends and its attempts",
    )
    async def get_delivery(
        webhook_id: WebhookId, delivery_id: DeliveryId, _: Admin, context: ContextDep
    ) -> DeliveryDetailOut:
        async with context.engine.connect() as conn:
            delivery = await repository.get_delivery(conn, str(webhook_id), delivery_id)
            if delivery is None:
                raise _problem(DeliveryNotFoundError(str(webhook_id), delivery_id))
            attempts = await repository.attempts_of(conn, [delivery_id])
        return DeliveryDetailOut.detailed(delivery, attempts[delivery_id])

    @router.post(
        "/{webhook_id}/deliveries/{delivery_id}/redeliver",
        status_code=202,
        responses=_WRITE,
        summary="Queue a succeeded or failed delivery again (same webhook-id); it goes next",
    )
    async def redeliver(
        webhook_id: WebhookId,
        delivery_id: DeliveryId,
        principal: Admin,
        request: Request,
        context: ContextDep,
    ) -> DeliveryOut:
        with _problems():
            delivery = await context.runner.run(
                use_cases.redeliver(str(webhook_id), delivery_id, now=clock()),
                metadata=request_metadata(request, principal),
            )
        wakeup.notify()
        async with context.engine.connect() as conn:
            attempts = await repository.attempts_of(conn, [delivery_id])
        return DeliveryOut.of(delivery, attempts[delivery_id])

    @router.get(
        "/{webhook_id}/audit",
        responses=_READ,
        summary="Every change to the subscription, oldest first, with who made it "
        "(kept after deletion)",
    )
    async def webhook_audit(
        webhook_id: WebhookId, _: Admin, context: ContextDep, page: PageQuery
    ) -> AuditPage:
        after = _position(page, "after", int) or 0
        async with context.engine.connect() as conn:
            entries = await audit.history(
                context.store, conn, str(webhook_id), after_version=after, limit=page.limit + 1
            )
        if not entries and after == 0:
            raise _problem(SubscriptionNotFoundError(str(webhook_id)))
        result = page.page(
            [AuditEntryOut.of(entry) for entry in entries], lambda last: {"after": last.version}
        )
        return AuditPage(items=result.items, next_cursor=result.next_cursor)

    _answer_other_methods(router)
    return router


def _answer_other_methods(router: APIRouter) -> None:
    """405 naming every method of the path in ``Allow`` (RFC 9110, 15.5.6).

    Starlette answers a method a path does not serve from the first route of the path,
    whose ``Allow`` names that route's methods only (GET /v1/webhooks would hide POST);
    these undocumented routes take every other method and name all the path's methods.
    """
    served: dict[str, set[str]] = {}
    for route in router.routes:
        if isinstance(route, APIRoute):
            served.setdefault(route.path, set()).update(route.methods or ())
    for path, methods in served.items():
        router.add_api_route(
            path.removeprefix(router.prefix),
            _not_allowed(", ".join(sorted(methods))),
            methods=sorted(_HTTP_METHODS - methods),
            include_in_schema=False,
        )


def _not_allowed(allow: str) -> Callable[[], Awaitable[Response]]:
    async def method_not_allowed() -> Response:
        raise ProblemError(405, headers={"Allow": allow})

    return method_not_allowed
