"""Cursor pagination: ``?limit=&cursor=`` → ``{"items": [...], "next_cursor": ...}``.

A cursor is opaque to clients: URL-safe base64 of a small JSON object holding the keyset
position (e.g. the last id served). It is not a secret and not signed; a tampered
cursor can only move the reader within what it may read anyway, and a malformed one
is answered with a 400 problem naming the ``cursor`` parameter.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel

from mentorship_kit.problems import BAD_CURSOR, ProblemError

T = TypeVar("T")
V = TypeVar("V")
M = TypeVar("M", bound=BaseModel)

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
_VERSION: Final = 1


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for a keyset position (JSON-serialisable values only)."""
    raw = orjson.dumps({"v": _VERSION, "p": position})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The position a cursor holds; a 400 problem when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _bad_cursor("the cursor is not one this API issued") from exc
    if not isinstance(document, dict) or document.get("v") != _VERSION:
        raise _bad_cursor("the cursor is not one this API issued")
    position = document.get("p")
    if not isinstance(position, dict):
        raise _bad_cursor("the cursor holds no position")
    return position


def _bad_cursor(detail: str) -> ProblemError:
    return ProblemError.of(
        BAD_CURSOR,
        detail,
        extensions={
            "errors": [
                {
                    "field": "cursor",
                    "in": "query",
                    "loc": ["query", "cursor"],
                    "message": detail,
                    "type": "cursor_invalid",
                }
            ]
        },
    )


@dataclass(frozen=True, slots=True)
class Keyset:
    """A keyset position: the (timestamp, id) of the last row of the previous page.

    Listings ordered by ``(timestamp, id)`` read ``WHERE (ts, id) > (at, key)``.
    """

    at: datetime
    key: str


def foreign_cursor() -> ProblemError:
    """A 400 for a cursor of ours that holds no position of the listing it was sent to."""
    return _bad_cursor("the cursor holds no position of this listing")


@dataclass(frozen=True)
class PageParams:
    limit: int
    position: dict[str, Any] | None

    def page(self, rows: list[T], cursor_of: Callable[[T], dict[str, Any]]) -> Page[T]:
        """A page of at most ``limit`` rows from ``limit + 1`` fetched ones.

        ``cursor_of(last_row)`` gives the position the next page starts after.
        """
        if len(rows) <= self.limit:
            return Page(items=rows)
        items = rows[: self.limit]
        return Page(items=items, next_cursor=encode_cursor(cursor_of(items[-1])))

    def keyset(self) -> Keyset | None:
        """Where a ``(timestamp, id)`` listing starts; None on the first page."""
        if self.position is None:
            return None
        at, key = self.position.get("t"), self.position.get("k")
        if not isinstance(at, str) or not isinstance(key, str):
            raise foreign_cursor()
        try:
            return Keyset(datetime.fromisoformat(at), key)
        except ValueError as exc:
            raise foreign_cursor() from exc

    def keyset_page(
        self,
        views: Sequence[V],
        position_of: Callable[[V], tuple[datetime, str]],
        present: Callable[[V], M],
    ) -> Page[M]:
        """A page of a ``(timestamp, id)`` listing from ``limit + 1`` fetched views."""

        def cursor(view: V) -> dict[str, Any]:
            at, key = position_of(view)
            return {"t": at.isoformat(), "k": key}

        page = self.page(list(views), cursor)
        return Page[M](items=[present(v) for v in page.items], next_cursor=page.next_cursor)


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> PageParams:
    return PageParams(limit=limit, position=decode_cursor(cursor) if cursor else None)


PageQuery = Annotated[PageParams, Depends(page_params)]
