"""Cursor pagination: opaque cursors round-trip, malformed ones are a 400 problem."""

import base64

import httpx
import pytest
from fastapi import FastAPI

from mentorship_kit.pagination import Page, PageQuery, decode_cursor, encode_cursor
from mentorship_kit.problems import ProblemError, install_problem_handlers

ROWS = [{"id": f"e{i:03d}"} for i in range(7)]


def listing_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/items")
    async def items(page: PageQuery) -> Page[dict[str, str]]:
        after = page.position["after"] if page.position else ""
        rows = [row for row in ROWS if row["id"] > after][: page.limit + 1]
        return page.page(rows, lambda row: {"after": row["id"]})

    return app


async def get(app, **params):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/items", params=params)


async def test_pages_follow_next_cursor_to_the_end():
    app = listing_app()
    seen, cursor = [], None

    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await get(app, **params)).json()
        seen += [row["id"] for row in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == [row["id"] for row in ROWS]


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"v": 99, "p": {}}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "p": [1]}').decode(),
    ],
)
async def test_malformed_cursor_is_a_400_problem_naming_the_parameter(cursor):
    response = await get(listing_app(), cursor=cursor)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:mentorship:problem:bad-cursor"
    assert body["errors"][0]["field"] == "cursor"


async def test_limit_out_of_range_is_a_validation_problem():
    response = await get(listing_app(), limit=0)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"


def test_cursor_round_trip_and_opacity():
    cursor = encode_cursor({"after": "e003", "n": 4})

    assert decode_cursor(cursor) == {"after": "e003", "n": 4}
    assert "e003" not in cursor
    assert "=" not in cursor


def test_decode_cursor_raises_a_problem():
    with pytest.raises(ProblemError) as raised:
        decode_cursor("bad!")

    assert raised.value.status == 400
