"""/v1/webhooks through the running analytics app (SQLite and PostgreSQL, real NATS):
subscribing, validation, paging, changes, the audit trail, and an event published on
JetStream reaching a subscribed receiver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from webhook_receiver import Receiver
from webhook_support import ADMIN, bearer, running_app

from mentorship_contracts.matching import PairFormed
from mentorship_kit import messaging
from mentorship_kit.eventstore import EventMetadata, RecordedEvent
from mentorship_kit.testing import wait_until


def pair_formed() -> RecordedEvent:
    suffix = uuid.uuid4().hex[:8]
    event = PairFormed(
        pair_id=f"p-{suffix}",
        program_id=f"prog-{suffix}",
        mentor_id=f"m-{suffix}",
        mentee_id=f"e-{suffix}",
        format="one_to_one",
        formed_on=datetime.now(UTC).date(),
    )
    return RecordedEvent(
        position=0,
        tx_id=0,
        event_id=uuid.uuid4(),
        stream_type=event.aggregate,
        stream_id=f"pair-{event.pair_id}",
        stream_version=1,
        event_type=event.event_type(),
        schema_version=event.schema_version,
        data=event.to_data(),
        metadata=EventMetadata(actor="ada"),
        recorded_at=datetime.now(UTC),
    )


async def test_subscribe_read_change_and_delete(database_url, nats_server):
    async with running_app(database_url, nats_server.url) as client:
        created = await client.post(
            "/v1/webhooks",
            json={
                "url": "http://127.0.0.1:9/hooks",
                "event_types": ["PairFormed", "PairEnded", "PairFormed"],
                "description": "portal",
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        webhook_id = body["webhook_id"]
        assert body["secret"].startswith("whsec_")
        assert body["event_types"] == ["PairFormed", "PairEnded"]
        assert body["status"] == "active"

        shown = (await client.get(f"/v1/webhooks/{webhook_id}")).json()
        assert "secret" not in shown
        assert shown["description"] == "portal"

        paused = await client.patch(
            f"/v1/webhooks/{webhook_id}",
            json={"status": "paused", "event_types": ["*"], "description": None},
        )
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"] == "paused"
        assert paused.json()["event_types"] == ["*"]
        assert paused.json()["description"] is None
        resumed = await client.patch(f"/v1/webhooks/{webhook_id}", json={"status": "active"})
        assert resumed.json()["status"] == "active"
        unchanged = await client.patch(f"/v1/webhooks/{webhook_id}", json={})
        assert unchanged.json() == resumed.json()

        assert (await client.delete(f"/v1/webhooks/{webhook_id}")).status_code == 204
        assert (await client.get(f"/v1/webhooks/{webhook_id}")).status_code == 404
        assert (await client.delete(f"/v1/webhooks/{webhook_id}")).status_code == 404

        trail = (await client.get(f"/v1/webhooks/{webhook_id}/audit")).json()["items"]
        assert [(e["event_type"], e["actor"], e["actor_role"]) for e in trail] == [
            ("WebhookSubscribed", "admin-ada", "admin"),
            ("WebhookChanged", "admin-ada", "admin"),
            ("WebhookPaused", "admin-ada", "admin"),
            ("WebhookResumed", "admin-ada", "admin"),
            ("WebhookDeleted", "admin-ada", "admin"),
        ]
        assert trail[1]["data"] == {
            "event_types": {"from": ["PairFormed", "PairEnded"], "to": ["*"]},
            "description": {"from": "portal", "to": None},
        }
        assert all("secret" not in str(entry["data"]) for entry in trail)
        assert body["secret"] not in str(trail)


async def test_bad_subscriptions_are_refused_naming_the_problem(database_url, nats_server):
    async with running_app(
        database_url, nats_server.url, webhook_allowed_hosts="*.example.com"
    ) as client:
        unknown = await client.post(
            "/v1/webhooks",
            json={"url": "https://a.example.com/h", "event_types": ["PairFormed", "PairFromed"]},
        )
        assert unknown.status_code == 422
        assert unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["detail"] == "unknown event type 'PairFromed'"
        assert unknown.json()["errors"][0]["field"] == "event_types.1"

        for url, reason in [
            ("https://other.io/h", "not on the allow-list"),
            ("ftp://a.example.com/h", "must be https"),
            ("http://10.0.0.1/h", "not on the allow-list"),
        ]:
            refused = await client.post("/v1/webhooks", json={"url": url, "event_types": ["*"]})
            assert refused.status_code == 422, url
            assert reason in refused.json()["detail"]
            assert refused.json()["errors"][0]["field"] == "url"

        ok = await client.post(
            "/v1/webhooks", json={"url": "https://a.example.com/h", "event_types": ["*"]}
        )
        assert ok.status_code == 201
        webhook_id = ok.json()["webhook_id"]
        moved = await client.patch(f"/v1/webhooks/{webhook_id}", json={"url": "https://x.io/"})
        assert moved.status_code == 422
        assert "allow-list" in moved.json()["detail"]

        empty = await client.post(
            "/v1/webhooks", json={"url": "https://a.example.com/h", "event_types": []}
        )
        assert empty.status_code == 422
        extra = await client.post(
            "/v1/webhooks",
            json={"url": "https://a.example.com/h", "event_types": ["*"], "secret": "mine"},
        )
        assert extra.status_code == 422
        disable = await client.patch(f"/v1/webhooks/{webhook_id}", json={"status": "disabled"})
        assert disable.status_code == 422


async def test_only_admins_manage_webhooks(database_url, nats_server):
    async with running_app(database_url, nats_server.url) as client:
        for headers, status in [
            (bearer("program_manager"), 403),
            (bearer("hris"), 403),
            ({"Authorization": ""}, 401),
        ]:
            answer = await client.get("/v1/webhooks", headers=headers)
            assert answer.status_code == status
            answer = await client.post(
                "/v1/webhooks",
                json={"url": "http://127.0.0.1:9/h", "event_types": ["*"]},
                headers=headers,
            )
            assert answer.status_code == status


async def test_listing_pages_with_a_cursor_and_filters(database_url, nats_server):
    async with running_app(database_url, nats_server.url) as client:
        made = []
        for n in range(5):
            answer = await client.post(
                "/v1/webhooks",
                json={"url": f"http://127.0.0.1:9/h{n}", "event_types": ["*"]},
                headers={**ADMIN, "Idempotency-Key": f"key-{n}"},
            )
            made.append(answer.json()["webhook_id"])
        again = await client.post(
            "/v1/webhooks",
            json={"url": "http://127.0.0.1:9/h0", "event_types": ["*"]},
            headers={**ADMIN, "Idempotency-Key": "key-0"},
        )
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["webhook_id"] == made[0]
        await client.patch(f"/v1/webhooks/{made[3]}", json={"status": "paused"})

        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/webhooks", params=params)).json()
            seen += [item["webhook_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == made
        paused = (await client.get("/v1/webhooks", params={"status": "paused"})).json()
        assert [item["webhook_id"] for item in paused["items"]] == [made[3]]
        assert (await client.get("/v1/webhooks", params={"cursor": "bm9wZQ"})).status_code == 400


async def test_an_event_on_jetstream_reaches_the_subscriber_with_its_log(database_url, nats_server):
    async with Receiver() as receiver, running_app(database_url, nats_server.url) as client:
        created = await client.post(
            "/v1/webhooks", json={"url": receiver.url("portal"), "event_types": ["PairFormed"]}
        )
        webhook_id = created.json()["webhook_id"]
        receiver.secrets["portal"] = created.json()["secret"]
        event = pair_formed()
        nc = await messaging.connect(nats_server.url, name="test-publisher")
        try:
            await messaging.ensure_stream(nc.jetstream(), "matching")
            message = messaging.to_message(event, "matching")
            await nc.jetstream().publish(message.subject, message.payload, headers=message.headers)
        finally:
            await nc.close()

        await wait_until(lambda: receiver.accepted("portal"), timeout=30)
        received = receiver.accepted("portal")[0]
        assert received.webhook_id == str(event.event_id)
        assert received.event["id"] == str(event.event_id)
        assert received.event["type"] == "mentorship.matching.pair.formed.v1"
        assert received.event["data"]["pair_id"] == event.data["pair_id"]
        assert received.event["actor"] == "ada"

        async def logged():
            page = (await client.get(f"/v1/webhooks/{webhook_id}/deliveries")).json()
            return page["items"] and page["items"][0]["status"] == "succeeded" and page

        page = await wait_until(logged, timeout=30)
        delivery = page["items"][0]
        assert delivery["event_id"] == str(event.event_id)
        assert [a["status_code"] for a in delivery["attempt_log"]] == [204]
        detail = (
            await client.get(f"/v1/webhooks/{webhook_id}/deliveries/{delivery['delivery_id']}")
        ).json()
        assert detail["event"] == received.event

        again = await client.post(
            f"/v1/webhooks/{webhook_id}/deliveries/{delivery['delivery_id']}/redeliver"
        )
        assert again.status_code == 202
        assert again.json()["status"] == "pending"
        await wait_until(lambda: len(receiver.accepted("portal")) == 2, timeout=30)
        assert [r.webhook_id for r in receiver.unique("portal")] == [str(event.event_id)]
        missing = await client.post(f"/v1/webhooks/{webhook_id}/deliveries/999999/redeliver")
        assert missing.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/v1/webhooks/{id}",
        "/v1/webhooks/{id}/deliveries",
        "/v1/webhooks/{id}/audit",
        "/v1/webhooks/{id}/deliveries/1",
    ],
)
async def test_unknown_subscriptions_are_404(path, tmp_path, nats_server):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    async with running_app(database_url, nats_server.url) as client:
        answer = await client.get(path.format(id=uuid.uuid4()))
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
