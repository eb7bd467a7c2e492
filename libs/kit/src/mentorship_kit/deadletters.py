"""Dead letters: messages a consumer gave up on, kept visible instead of dropped.

A row is written by :class:`~mentorship_kit.consumer.ConsumerRuntime` in the same
transaction as the rest of its batch, and the message is terminated in JetStream only
after that commit, so a message is never both gone from the stream and missing here.
The functions below are the repository (they never commit: the caller owns the
transaction); :func:`dead_letter_router` exposes the listing to administrators.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mentorship_kit.eventstore.tables import kit_metadata

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 500

# The kit's table definitions are the same in every service database; one copy serves
# for building statements.
_TABLE: Final = kit_metadata().tables["dead_letters"]


class DeadLetter(BaseModel):
    """One message a consumer could not handle, with everything needed to replay it."""

    model_config = ConfigDict(frozen=True)

    id: int
    consumer: str = Field(description="The durable consumer that gave up.")
    event_id: str | None = Field(description="The event id; null when unparseable.")
    subject: str
    stream_sequence: int | None = Field(description="Position in the JetStream stream.")
    deliveries: int = Field(description="How many times the message was delivered.")
    error: str = Field(description="Why the last attempt failed.")
    headers: dict[str, str]
    payload: str = Field(description="The message body as received (UTF-8).")
    failed_at: datetime

    @classmethod
    def from_row(cls, row: sa.RowMapping) -> DeadLetter:
        failed_at: datetime = row["failed_at"]
        if failed_at.tzinfo is None:  # SQLite hands back naive datetimes
            failed_at = failed_at.replace(tzinfo=UTC)
        return cls(
            id=int(row["id"]),
            consumer=row["consumer"],
            event_id=row["event_id"],
            subject=row["subject"],
            stream_sequence=row["stream_sequence"],
            deliveries=int(row["deliveries"]),
            error=row["error"],
            headers=dict(row["headers"]),
            payload=row["payload"],
            failed_at=failed_at,
        )


class DeadLetterPage(BaseModel):
    """A page of dead letters, oldest first; pass ``next_cursor`` back for the next."""

    model_config = ConfigDict(frozen=True)

    items: list[DeadLetter]
    next_cursor: str | None


def _encode_cursor(last_id: int) -> str:
    return str(last_id)


def _decode_cursor(cursor: str) -> int:
    """The id after which a page starts; ValueError when the cursor is not ours."""
    if not cursor.isdigit():
        msg = f"malformed cursor {cursor!r}"
        raise ValueError(msg)
    return int(cursor)


async def record_dead_letter(
    conn: AsyncConnection,
    *,
    consumer: str,
    event_id: str | None,
    subject: str,
    stream_sequence: int | None,
    deliveries: int,
    error: str,
    headers: Mapping[str, str],
    payload: str,
) -> None:
    """Store a dead letter; the same event dead-lettered again keeps the first row."""
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(_TABLE)
        .values(
            consumer=consumer,
            event_id=event_id,
            subject=subject,
            stream_sequence=stream_sequence,
            deliveries=deliveries,
            error=error,
            headers=dict(headers),
            payload=payload,
            failed_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    )
    await conn.execute(stmt)


async def list_dead_letters(
    conn: AsyncConnection,
    *,
    consumer: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> DeadLetterPage:
    """One page of dead letters, oldest first. ValueError on a malformed cursor."""
    query = sa.select(_TABLE).order_by(_TABLE.c.id).limit(limit + 1)
    if consumer is not None:
        query = query.where(_TABLE.c.consumer == consumer)
    if cursor is not None:
        query = query.where(_TABLE.c.id > _decode_cursor(cursor))
    rows = (await conn.execute(query)).mappings().all()
    items = [DeadLetter.from_row(row) for row in rows[:limit]]
    has_more = len(rows) > limit
    return DeadLetterPage(
        items=items, next_cursor=_encode_cursor(items[-1].id) if has_more else None
    )


async def count_dead_letters(conn: AsyncConnection, *, consumer: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(_TABLE)
    if consumer is not None:
        query = query.where(_TABLE.c.consumer == consumer)
    return int((await conn.execute(query)).scalar_one())


async def get_dead_letter(conn: AsyncConnection, dead_letter_id: int) -> DeadLetter | None:
    row = (
        (await conn.execute(sa.select(_TABLE).where(_TABLE.c.id == dead_letter_id)))
        .mappings()
        .first()
    )
    return None if row is None else DeadLetter.from_row(row)


async def discard_dead_letter(conn: AsyncConnection, dead_letter_id: int) -> bool:
    """Forget a dead letter (an operator decided it needs no handling); False if absent."""
    result = await conn.execute(sa.delete(_TABLE).where(_TABLE.c.id == dead_letter_id))
    return bool(result.rowcount)


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.context.engine
    return engine


def dead_letter_router(*, dependencies: Sequence[Any] = ()) -> APIRouter:
    """``GET /v1/admin/dead-letters`` and ``DELETE /v1/admin/dead-letters/{id}``.

    ``dependencies`` guard every route (the app factory passes the admin role check).
    The process context is read from ``request.app.state.context.engine``.
    """
    router = APIRouter(prefix="/v1/admin/dead-letters", tags=["admin"], dependencies=dependencies)

    @router.get("", summary="List dead letters, oldest first")
    async def list_endpoint(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        cursor: Annotated[str | None, Query(description="next_cursor of the page before")] = None,
        consumer: Annotated[str | None, Query(description="Only this consumer's")] = None,
    ) -> DeadLetterPage:
        async with _engine(request).connect() as conn:
            try:
                return await list_dead_letters(conn, consumer=consumer, limit=limit, cursor=cursor)
            except ValueError as exc:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc

    @router.delete(
        "/{dead_letter_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Discard a dead letter that needs no handling",
    )
    async def discard_endpoint(
        request: Request,
        dead_letter_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The id listed.")],
    ) -> Response:
        async with _engine(request).begin() as conn:
            found = await discard_dead_letter(conn, dead_letter_id)
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such dead letter")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
