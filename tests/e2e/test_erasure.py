"""Personal-data erasure end to end: four services, real PostgreSQL, a real nats-server.

An HRIS batch fills the directory; a program opens and eight employees enrol. Every
service runs in this process on its own PostgreSQL database, and matching and
analytics build their read models from the enrollment stream on JetStream. One
employee's personal data is then erased through the API. Afterwards their name and
email must be found nowhere: in no row of any table of any service database (the raw
event tables and stored idempotent answers included), in no API answer, in no page of
the event feed, and in no message of the JetStream stream read raw. Someone else's
name is still found by the same search, so the search can find what it looks for.
The analytics figures must be the same as before the erasure.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from nats.js.errors import NotFoundError

from analytics.config import AnalyticsSettings
from analytics.main import create_app as analytics_app
from enrollment.config import EnrollmentSettings
from enrollment.main import create_app as enrollment_app
from matching.config import MatchingSettings
from matching.main import create_app as matching_app
from mentorship_kit import messaging
from mentorship_kit.app import create_app as kit_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.db import create_engine
from mentorship_kit.settings import DEFAULT_DEV_SECRET
from mentorship_kit.testing import postgres, temporary_postgres_database, utc_days, wait_until
from sessions.bootstrap import build_spec as sessions_spec
from sessions.config import SessionsSettings

pytestmark = pytest.mark.skipif(
    postgres.test_database_url() is None, reason="needs TEST_DATABASE_URL"
)

ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin')}"}
HRIS = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='hris')}"}
TODAY = datetime.now(UTC).date()
DEADLINE_S = 90
SERVICES = {
    "enrollment": (enrollment_app, EnrollmentSettings),
    "matching": (matching_app, MatchingSettings),
    # Its main reads the environment only; the same app from its spec and settings.
    "sessions": (lambda settings: kit_app(sessions_spec(), settings), SessionsSettings),
    "analytics": (analytics_app, AnalyticsSettings),
}


@asynccontextmanager
async def service(name: str, database_url: str, nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    factory, settings_class = SERVICES[name]
    settings = settings_class(
        dev_mode=True,
        database_url=database_url,
        nats_url=nats_url,
        log_level="WARNING",
        shutdown_timeout_seconds=5,
    )
    app: FastAPI = factory(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def every_row_as_text(database_url: str) -> str:
    """Every row of every table in every schema of one database, as text."""
    engine = create_engine(database_url)
    texts: list[str] = []
    try:
        async with engine.connect() as conn:
            tables = await conn.execute(
                sa.text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "AND table_type = 'BASE TABLE'"
                )
            )
            for schema, table in tables.all():
                # Names read from the catalogue, quoted: not input.
                query = f'SELECT t::text FROM "{schema}"."{table}" t'  # noqa: S608
                rows = await conn.execute(sa.text(query))
                texts.extend(row[0] for row in rows)
    finally:
        await engine.dispose()
    return "\n".join(texts)


def found_in(text: str, needles: list[str]) -> list[str]:
    """The needles present in ``text``, in clear or as the hex of a bytea column."""
    lowered = text.lower()
    return [n for n in needles if n.lower() in lowered or n.encode().hex() in lowered]


async def stream_messages_as_text(js: Any, service: str) -> str:
    """Every message of the service's JetStream stream, subject, headers and data, raw."""
    info = await js.stream_info(messaging.stream_name(service))
    texts = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            message = await js.get_msg(messaging.stream_name(service), sequence)
        except NotFoundError:
            continue
        texts.append(message.subject)
        texts.append(json.dumps(message.headers or {}))
        texts.append((message.data or b"").decode("utf-8", "replace"))
    return "\n".join(texts)


async def feed_as_text(client: httpx.AsyncClient) -> str:
    pages: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "500", **({"after": cursor} if cursor else {})}
        page = await client.get("/v1/events", params=params, headers=ADMIN)
        assert page.status_code == 200, page.text
        body = page.json()
        pages.append(page.text)
        if not body["items"]:
            return "\n".join(pages)
        cursor = body["next_cursor"]


async def consumed(url: str, stream_id: str, version: int) -> bool:
    """Whether every consumer of this database has handled ``stream_id`` up to ``version``."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            versions = (
                await conn.execute(
                    sa.text("SELECT stream_version FROM consumer_streams WHERE stream_id = :s"),
                    {"s": stream_id},
                )
            ).scalars()
            seen = list(versions)
    finally:
        await engine.dispose()
    return bool(seen) and min(seen) >= version


async def dead_letters(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(
                (await conn.execute(sa.text("SELECT count(*) FROM dead_letters"))).scalar_one()
            )
    finally:
        await engine.dispose()


async def figures(analytics: httpx.AsyncClient, program_id: str) -> dict[str, Any]:
    answers = {}
    for path in (
        f"/v1/programs/{program_id}/kpis",
        f"/v1/programs/{program_id}/retention",
        "/v1/organization/retention",
    ):
        answer = await analytics.get(path, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        answers[path] = answer.json()
    return answers


def person(employee_id: str, index: int) -> dict[str, Any]:
    return {
        "employee_id": employee_id,
        "email": f"{employee_id}@mail.example",
        "given_name": f"Given{employee_id}",
        "family_name": f"Family{employee_id}",
        "department": "Engineering",
        "title": "Engineer",
        "job_level": 3 + index % 3,
        "hired_on": (TODAY - timedelta(days=800 + index)).isoformat(),
        "languages": ["en"],
        "timezone": "Europe/Berlin",
    }


async def test_erased_personal_data_is_nowhere_and_figures_do_not_move(nats_server):
    tag = uuid.uuid4().hex[:8]
    ids = [f"er{tag}x{n}" for n in range(10)]
    target, witness = ids[0], ids[1]
    secrets = [f"{target}@mail.example", f"Given{target}", f"Family{target}"]
    async with AsyncExitStack() as stack:
        urls = {
            name: await stack.enter_async_context(temporary_postgres_database(prefix=f"e2e_{name}"))
            for name in SERVICES
        }
        clients = {
            name: await stack.enter_async_context(service(name, urls[name], nats_server.url))
            for name in SERVICES
        }
        enrollment, analytics = clients["enrollment"], clients["analytics"]
        nc = await messaging.connect(nats_server.url, name="e2e-erasure")
        stack.push_async_callback(nc.close)
        js = nc.jetstream()

        # Arrange: a directory, a program, eight mentees.
        batch = await enrollment.post(
            "/v1/employees/batch",
            json={"employees": [person(e, n) for n, e in enumerate(ids)]},
            headers={**HRIS, "Idempotency-Key": f"batch-{tag}"},
        )
        assert batch.status_code == 200, batch.text
        fields = {k: v for k, v in person(target, 0).items() if k != "employee_id"}
        promoted = await enrollment.put(
            f"/v1/employees/{target}", json={**fields, "job_level": 6}, headers=HRIS
        )
        assert promoted.status_code == 200, promoted.text
        created = await enrollment.post(
            "/v1/programs",
            json={
                "name": f"Erasure {tag}",
                "objective": "retention",
                "formats": ["one_to_one"],
                "tracks": ["technical"],
                "starts_on": (TODAY - timedelta(days=30)).isoformat(),
                "cadence_days": 14,
                "mentor_capacity": 2,
                "approval": "auto",
            },
            headers=ADMIN,
        )
        program_id = created.json()["id"]
        assert (await enrollment.post(f"/v1/programs/{program_id}/open", headers=ADMIN)).is_success
        for employee_id in ids[:8]:
            applied = await enrollment.post(
                f"/v1/programs/{program_id}/enrollments",
                json={"employee_id": employee_id, "role": "mentee", "profile": {"goals": ["x"]}},
                headers={**ADMIN, "Idempotency-Key": f"apply-{employee_id}"},
            )
            assert applied.status_code == 201, applied.text
        departed = await enrollment.post(
            f"/v1/employees/{ids[9]}/departure",
            json={"left_on": TODAY.isoformat(), "reason": "voluntary"},
            headers=HRIS,
        )
        assert departed.status_code == 200

        async def read_models_have(stream_id: str, version: int) -> bool:
            return all(
                [
                    await consumed(urls[name], stream_id, version)
                    for name in ("matching", "analytics")
                ]
            )

        target_stream = f"employee-{target}"
        target_events = len(
            (await enrollment.get(f"/v1/employees/{target}/history", headers=ADMIN)).json()["items"]
        )
        await wait_until(
            lambda: read_models_have(f"employee-{ids[9]}", 2),
            timeout=DEADLINE_S,
            message="matching and analytics never saw the departure",
        )
        await wait_until(
            lambda: read_models_have(target_stream, target_events),
            timeout=DEADLINE_S,
            message="matching and analytics never saw the target's events",
        )
        before = await figures(analytics, program_id)
        assert before[f"/v1/programs/{program_id}/kpis"]
        assert found_in(await every_row_as_text(urls["enrollment"]), secrets) == secrets

        # Act.
        with utc_days() as days:  # the service stamps the erasure with its own today
            erased = await enrollment.post(f"/v1/employees/{target}/erasure", headers=ADMIN)

        assert erased.status_code == 200, erased.text
        await wait_until(
            lambda: read_models_have(target_stream, target_events + 1),
            timeout=DEADLINE_S,
            message="matching and analytics never handled EmployeeErased",
        )

        # No store of any service holds them.
        for name, url in urls.items():
            assert found_in(await every_row_as_text(url), secrets) == [], name
        assert found_in(await every_row_as_text(urls["enrollment"]), [f"Given{witness}"])
        # No message of the stream, read raw, holds them (nor ever did: sealed).
        raw = await stream_messages_as_text(js, "enrollment")
        assert target in raw
        assert found_in(raw, secrets) == []
        # No API answer holds them.
        answers = [
            erased.text,
            (await enrollment.get(f"/v1/employees/{target}", headers=ADMIN)).text,
            (await enrollment.get(f"/v1/employees/{target}/history", headers=ADMIN)).text,
            (await enrollment.get(f"/v1/programs/{program_id}/participants", headers=ADMIN)).text,
            await feed_as_text(enrollment),
            json.dumps(await figures(analytics, program_id)),
        ]
        for name, client in clients.items():
            if name != "enrollment":
                answers.append(await feed_as_text(client))
        assert found_in("\n".join(answers), secrets) == []
        assert json.loads(answers[1])["erased_on"] in {day.isoformat() for day in days}
        # Nothing was dead-lettered on the way, and the figures did not move.
        assert [await dead_letters(url) for url in urls.values()] == [0, 0, 0, 0]
        assert await figures(analytics, program_id) == before
