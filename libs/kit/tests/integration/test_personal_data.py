"""Personal data: sealed before it is stored, opened on load, unreadable once erased."""

import json
import os
import uuid
from typing import ClassVar

import pytest
import sqlalchemy as sa

from mentorship_contracts import EventContract, EventRegistry
from mentorship_contracts.base import personal
from mentorship_contracts.common import Frozen
from mentorship_kit.commands import CommandRunner, CommandTransaction
from mentorship_kit.db import create_engine
from mentorship_kit.eventstore import EventStore, RecordedEvent, kit_metadata
from mentorship_kit.feed import stream_history
from mentorship_kit.idempotency import IdempotencyStore, StoredResponse
from mentorship_kit.personal import (
    ERASURES,
    PersonalDataError,
    PersonalDataVault,
    SubjectErasedError,
    define_keys_table,
    is_sealed,
)


class Contact(Frozen):
    email: str | None = personal("Email.")
    city: str | None = None


class MemberJoined(EventContract):
    service: ClassVar[str] = "testing"
    aggregate: ClassVar[str] = "member"
    action: ClassVar[str] = "joined"
    data_subject_field: ClassVar[str | None] = "member_id"
    member_id: str
    name: str | None = personal("Name.")
    contact: Contact


EVENTS = EventRegistry()
EVENTS.register(MemberJoined)


@pytest.fixture
async def setup(database_url):
    metadata = kit_metadata()
    keys = define_keys_table(metadata)
    engine = create_engine(database_url)
    store = EventStore(engine, metadata=metadata)
    await store.create_schema()
    vault = PersonalDataVault(keys, os.urandom(32), service="testing", events=EVENTS)
    seen: list[RecordedEvent] = []

    async def inline(_conn, event: RecordedEvent) -> None:
        seen.append(event)

    runner = CommandRunner(store, service="testing", events=EVENTS, inline=[inline], vault=vault)
    yield store, vault, runner, seen
    await engine.dispose()


def evolve(_state: MemberJoined | None, event: EventContract) -> MemberJoined:
    assert isinstance(event, MemberJoined)
    return event


def join(member_id: str, name: str, email: str):
    async def use_case(tx: CommandTransaction) -> None:
        event = MemberJoined(
            member_id=member_id, name=name, contact=Contact(email=email, city="Lyon")
        )
        await tx.append(f"member-{member_id}", [event], expected_version=0)

    return use_case


def load(member_id: str):
    async def use_case(tx: CommandTransaction) -> MemberJoined | None:
        return (await tx.load(f"member-{member_id}", evolve)).state

    return use_case


async def test_personal_fields_are_stored_sealed_and_load_in_clear(setup):
    store, _, runner, seen = setup
    member = uuid.uuid4().hex
    await runner.run(join(member, "Ada Lovelace", "ada@example.org"))

    async with store.engine.connect() as conn:
        (stored,) = await store.read_stream(conn, f"member-{member}")
    assert is_sealed(stored.data["name"])
    assert is_sealed(stored.data["contact"]["email"])
    assert stored.data["contact"]["city"] == "Lyon"
    assert "Ada" not in json.dumps(stored.data)
    assert "ada@example.org" not in json.dumps(stored.data)
    # The inline projection saw the event as decided.
    assert seen[-1].data["name"] == "Ada Lovelace"

    state = await runner.run(load(member))
    assert state is not None
    assert (state.name, state.contact.email) == ("Ada Lovelace", "ada@example.org")


async def test_erasure_makes_every_personal_field_open_as_none(setup):
    store, vault, runner, _ = setup
    member, other = uuid.uuid4().hex, uuid.uuid4().hex
    await runner.run(join(member, "Grace Hopper", "grace@example.org"))
    await runner.run(join(other, "Alan Turing", "alan@example.org"))
    before = ERASURES.labels("testing", "erased")._value.get()

    async with store.engine.begin() as conn:
        first = await vault.erase(conn, member)
    async with store.engine.begin() as conn:
        again = await vault.erase(conn, member)

    assert (first.now, again.now) == (True, False)
    assert again.erased_at == first.erased_at
    assert ERASURES.labels("testing", "erased")._value.get() == before + 1
    state = await runner.run(load(member))
    assert state is not None
    assert (state.name, state.contact.email, state.contact.city) == (None, None, "Lyon")
    history = await stream_history(store, f"member-{member}", vault=vault)
    assert history[0].changes["name"] is None
    assert history[0].changes["contact"] == {"email": None, "city": "Lyon"}
    untouched = await runner.run(load(other))
    assert untouched is not None
    assert untouched.name == "Alan Turing"
    with pytest.raises(SubjectErasedError):
        await runner.run(join(member, "Grace Hopper", "grace@example.org"))


async def test_a_subject_erased_before_any_key_stays_erased(setup):
    store, vault, runner, _ = setup
    member = uuid.uuid4().hex
    async with store.engine.begin() as conn:
        assert (await vault.erase(conn, member)).now
    with pytest.raises(SubjectErasedError):
        await runner.run(join(member, "Nobody", "nobody@example.org"))


async def test_a_sealed_value_does_not_open_with_another_master_key(setup):
    store, vault, runner, _ = setup
    member = uuid.uuid4().hex
    await runner.run(join(member, "Edsger Dijkstra", "ewd@example.org"))
    stranger = PersonalDataVault(vault.keys, os.urandom(32), service="testing", events=EVENTS)
    async with store.engine.connect() as conn:
        (stored,) = await store.read_stream(conn, f"member-{member}")
        with pytest.raises(PersonalDataError):
            await stranger.open(conn, [(stored.event_type, stored.data)])


async def test_a_sealed_value_moved_to_another_subject_does_not_open(setup):
    store, vault, runner, _ = setup
    victim, thief = uuid.uuid4().hex, uuid.uuid4().hex
    await runner.run(join(victim, "Barbara Liskov", "bl@example.org"))
    await runner.run(join(thief, "Mallory", "m@example.org"))
    async with store.engine.connect() as conn:
        (stored,) = await store.read_stream(conn, f"member-{victim}")
        forged = {**stored.data, "member_id": thief}
        with pytest.raises(PersonalDataError):
            await vault.open(conn, [(stored.event_type, forged)])


async def test_values_stored_in_clear_before_sealing_still_read(setup):
    store, vault, _, _ = setup
    member = uuid.uuid4().hex
    clear = {"member_id": member, "name": "Old Row", "contact": {"email": None, "city": None}}
    async with store.engine.connect() as conn:
        (opened,) = await vault.open(conn, [("MemberJoined", clear)])
    assert opened == clear


async def test_forgetting_idempotent_answers_that_name_a_subject(setup):
    store, _, _, _ = setup
    keys = IdempotencyStore(store.metadata)
    member = f"m-{uuid.uuid4().hex}"
    naming = StoredResponse(200, json.dumps({"employee_id": member}).encode(), {})
    other = StoredResponse(200, b'{"employee_id": "someone-else"}', {})
    async with store.engine.begin() as conn:
        await keys.save(conn, scope="s", key=f"{member}-1", fingerprint="f", response=naming)
        await keys.save(conn, scope="s", key=f"{member}-2", fingerprint="f", response=other)
    async with store.engine.begin() as conn:
        assert await keys.forget_answers_naming(conn, member) == 1
    async with store.engine.connect() as conn:
        left = (
            await conn.execute(
                sa.select(keys.table.c.key).where(keys.table.c.key.like(f"{member}-%"))
            )
        ).scalars()
        assert list(left) == [f"{member}-2"]
