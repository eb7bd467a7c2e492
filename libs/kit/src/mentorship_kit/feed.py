"""The pull event feed every service serves, and the audit history of one entity.

``GET /v1/events?after=<cursor>&types=A,B&limit=`` returns the service's events as
CloudEvents JSON in the store's commit-safe global order (see Checkpoint), so a reader
paging through while writes continue sees every event exactly once. The cursor is
opaque to clients; a malformed one is a 400 problem.
"""

# No `from __future__ import annotations`: the `types` parameter's schema is built in
# the router function, and FastAPI must evaluate that annotation where it is written.
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from mentorship_contracts import CloudEvent, registry
from mentorship_kit.auth import Role, require_roles
from mentorship_kit.context import ContextDep
from mentorship_kit.eventstore import START, Checkpoint, EventStore, RecordedEvent
from mentorship_kit.messaging import to_cloudevent
from mentorship_kit.pagination import decode_cursor, encode_cursor
from mentorship_kit.personal import PersonalDataVault
from mentorship_kit.problems import ProblemError, problem_responses

MAX_FEED_LIMIT: Final = 1000


class EventFeedPage(BaseModel):
    items: list[CloudEvent]
    next_cursor: str = Field(
        description="Pass as `after` to continue; the same cursor again when nothing is new."
    )


def _checkpoint(after: str | None) -> Checkpoint:
    if after is None:
        return START
    position = decode_cursor(after)
    try:
        return Checkpoint(int(position["tx"]), int(position["pos"]))
    except (KeyError, TypeError) as exc:
        msg = "cursor holds no checkpoint"
        raise ValueError(msg) from exc


def _cursor(checkpoint: Checkpoint) -> str:
    return encode_cursor({"tx": checkpoint.tx_id, "pos": checkpoint.position})


def _event_types(types: list[str] | None) -> list[str] | None:
    if not types:
        return None
    wanted = [t.strip() for item in types for t in item.split(",")]
    # An empty name (``types=`` or ``A,,B``) is no event type either: it is refused,
    # not read as "no filter", which would answer every type to a filter that asked for one.
    unknown = [t for t in wanted if not t or not registry().knows(t)]
    if unknown:
        raise ProblemError(
            422,
            f"unknown event type {unknown[0]!r} in 'types'",
            title="Request validation failed",
            type_uri="urn:mentorship:problem:validation",
            extensions={
                "errors": [
                    {"field": "query/types", "message": f"unknown event type {t!r}"}
                    for t in unknown
                ]
            },
        )
    return wanted


def event_feed_router() -> APIRouter:
    """The feed's router; build it after every contract is registered (its schema lists them)."""
    router = APIRouter(tags=["events"])
    known_types = sorted(cls.event_type() for cls in registry().all())

    @router.get(
        "/v1/events",
        dependencies=[Depends(require_roles(Role.ADMIN))],
        responses=problem_responses(400, 401, 403, 422),
        summary="Pull this service's events in global order",
    )
    async def events(
        context: ContextDep,
        after: Annotated[
            str | None, Query(max_length=200, description="The `next_cursor` of the last page.")
        ] = None,
        types: Annotated[
            list[str] | None,
            Query(
                description=(
                    "Only these event types; repeat the parameter (`types=A&types=B`) or "
                    "separate them with commas."
                ),
                json_schema_extra={"items": {"type": "string", "enum": known_types}},
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_FEED_LIMIT)] = 100,
    ) -> EventFeedPage:
        try:
            checkpoint = _checkpoint(after)
        except ValueError as exc:
            raise ProblemError(
                400,
                "the 'after' cursor is not one this API issued",
                title="Malformed cursor",
                type_uri="urn:mentorship:problem:bad-cursor",
                extensions={"errors": [{"field": "query/after", "message": "malformed cursor"}]},
            ) from exc
        page = await context.store.read_all(
            checkpoint, limit=limit, event_types=_event_types(types)
        )
        last = page[-1].checkpoint if page else checkpoint
        return EventFeedPage(
            items=[to_cloudevent(event, context.service) for event in page],
            next_cursor=_cursor(last),
        )

    return router


class HistoryEntry(BaseModel):
    """One change of an entity, as an auditor reads it."""

    event_type: str
    at: datetime
    version: int
    actor: str | None
    actor_role: str | None
    changes: dict[str, Any]


def history_entry(
    event: RecordedEvent,
    *,
    hide: frozenset[str] = frozenset(),
    data: Mapping[str, Any] | None = None,
) -> HistoryEntry:
    """An audit entry; ``hide`` names data fields the caller may not see; ``data``
    replaces the stored data (personal fields opened)."""
    shown = event.data if data is None else data
    return HistoryEntry(
        event_type=event.event_type,
        at=event.recorded_at,
        version=event.stream_version,
        actor=event.metadata.actor,
        actor_role=event.metadata.actor_role,
        changes={k: v for k, v in shown.items() if k not in hide},
    )


async def stream_history(
    store: EventStore,
    stream_id: str,
    *,
    hide: frozenset[str] = frozenset(),
    vault: PersonalDataVault | None = None,
) -> list[HistoryEntry]:
    """Every change of one entity (one stream), oldest first.

    With the service's ``vault`` personal fields read in clear (null once erased);
    without it they show as stored, sealed.
    """
    async with store.engine.connect() as conn:
        recorded = await store.read_stream(conn, stream_id)
        datas = (
            [e.data for e in recorded]
            if vault is None
            else await vault.open(conn, [(e.event_type, e.data) for e in recorded])
        )
    return [history_entry(e, hide=hide, data=d) for e, d in zip(recorded, datas, strict=True)]
