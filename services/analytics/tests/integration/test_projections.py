"""Projection folds on a real database: employment spells, first approvals, and a batch
(or a rebuild in batches) equal to the same events applied one by one."""

from datetime import UTC, date, datetime

import analytics_dataset as dataset
import analytics_support as support
import pytest
import sqlalchemy as sa

from analytics.adapters import tables
from analytics.adapters.facts import employees
from analytics.adapters.projections import (
    ActivityProjection,
    DirectoryProjection,
    all_projections,
)
from analytics.domain.facts import Spell
from mentorship_contracts import enrollment as en
from mentorship_contracts import registry
from mentorship_contracts import sessions as se
from mentorship_contracts.common import Profile
from mentorship_kit.db import create_engine
from mentorship_kit.messaging import to_cloudevent
from mentorship_kit.projection import rebuild


@pytest.fixture
async def engine(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(tables.metadata.create_all)
    yield engine
    await engine.dispose()


def record(hired_on: date | None) -> en.EmployeeRecord:
    return en.EmployeeRecord(email="a@b.c", given_name="A", family_name="B", hired_on=hired_on)


def program_settings() -> en.ProgramSettings:
    return en.ProgramSettings(
        name="P",
        objective="o",
        formats=["one_to_one"],
        tracks=[],
        starts_on=date(2024, 1, 1),
        ends_on=None,
        cadence_days=14,
        mentor_capacity=2,
        approval="auto",
        kpi_targets=[en.KpiTarget(metric="nps", target=20)],
    )


def directory_history() -> support.EventLog:
    log = support.EventLog()
    at = datetime(2024, 3, 1, 9, tzinfo=UTC)
    # Each of these on its own (the consumer's path) writes only the columns it sets.
    log.add(en.ProgramCreated(program_id="p", settings=program_settings()))
    log.add(en.ProgramOpened(program_id="p", opened_on=date(2024, 1, 2)))
    log.add(en.ProgramClosed(program_id="p", closed_on=date(2024, 12, 2)))
    log.add(en.EmployeeProvisioned(employee_id="rehired", record=record(date(2020, 1, 1))), at=at)
    log.add(
        en.EmployeeDeparted(employee_id="rehired", left_on=date(2022, 1, 31), reason="voluntary")
    )
    log.add(
        en.EmployeeDeparted(
            employee_id="rehired", left_on=date(2022, 1, 31), reason="voluntary", deprovisioned=True
        )
    )
    log.add(en.EmployeeReinstated(employee_id="rehired", reinstated_on=date(2023, 5, 1)))
    log.add(en.EmployeeProvisioned(employee_id="undone", record=record(date(2021, 1, 1))), at=at)
    log.add(en.EmployeeDeparted(employee_id="undone", left_on=date(2025, 2, 1), reason="other"))
    log.add(en.EmployeeReinstated(employee_id="undone", reinstated_on=date(2025, 1, 20)))
    log.add(en.EmployeeProvisioned(employee_id="no-hire-date", record=record(None)), at=at)
    enrollment = {
        "enrollment_id": "n1",
        "program_id": "p",
        "employee_id": "undone",
        "role": "mentee",
    }
    log.add(en.ParticipantEnrolled(**enrollment, profile=Profile(), enrolled_on=date(2024, 1, 1)))
    log.add(en.ParticipantWithdrew(**enrollment, reason="self", withdrew_on=date(2024, 2, 1)))
    log.add(en.ParticipantEnrolled(**enrollment, profile=Profile(), enrolled_on=date(2024, 3, 1)))
    return log


async def snapshot(engine):
    return await support.fact_rows(engine)


async def test_employment_spells_and_first_approvals(engine):
    projection = DirectoryProjection()
    async with engine.begin() as conn:
        for event in directory_history().of("enrollment"):
            await projection.handle(conn, to_cloudevent(event, "enrollment"))
    async with engine.connect() as conn:
        known = {e.employee_id: e.spells for e in await employees(conn)}
        enrolled_on = await conn.scalar(sa.select(tables.enrollments.c.enrolled_on))

    assert known == {
        "rehired": (
            Spell(date(2020, 1, 1), date(2022, 1, 31)),
            Spell(date(2023, 5, 1), None),
        ),
        "undone": (Spell(date(2021, 1, 1), None),),
        "no-hire-date": (Spell(date(2024, 3, 1), None),),
    }
    assert enrolled_on == date(2024, 1, 1)
    async with engine.connect() as conn:
        program = (await conn.execute(sa.select(tables.programs))).one()
    assert (program.status, program.starts_on, program.opened_on, program.closed_on) == (
        "closed",
        date(2024, 1, 1),
        date(2024, 1, 2),
        date(2024, 12, 2),
    )
    assert program.kpi_targets == '[{"metric":"nps","target":20.0}]'


async def test_a_batch_equals_the_same_events_one_by_one(database_url, engine):
    log = directory_history()
    log.add(
        se.SessionScheduled(
            session_id="s1",
            pair_id="q",
            program_id="p",
            scheduled_for=datetime(2025, 1, 1, 23, tzinfo=UTC),
            expected_minutes=30,
            mode="video",
        )
    )
    log.add(
        se.SessionLogged(
            session_id="s1",
            pair_id="q",
            program_id="p",
            held_on=date(2025, 1, 2),
            duration_minutes=40,
            topic_count=1,
        )
    )
    log.add(
        se.GoalAchieved(
            goal_id="g-without-set", pair_id="q", program_id="p", achieved_on=date(2025, 1, 3)
        )
    )
    events = {
        (projection, service): [to_cloudevent(e, service) for e in log.of(service)]
        for projection, service in (
            (DirectoryProjection(), "enrollment"),
            (ActivityProjection(), "sessions"),
        )
    }
    async with engine.begin() as conn:
        for (projection, _), batch in events.items():
            for event in batch:
                await projection.handle(conn, event)
    one_by_one = await snapshot(engine)
    async with engine.begin() as conn:
        for table in support.FACT_TABLES:
            await conn.execute(table.delete())
        for (projection, _), batch in events.items():
            await projection.handle_batch(conn, batch)

    assert await snapshot(engine) == one_by_one
    assert one_by_one["fact_sessions"][0][3:7] == ("held", date(2025, 1, 1), date(2025, 1, 2), 40)


async def replayed(events):
    for event in events:
        yield event


async def test_a_rebuild_in_small_batches_equals_the_consumers_work(database_url, engine):
    # Small batches: most rows are written in one batch and changed in later ones (on
    # PostgreSQL the first write of a key is a COPY, the later ones upserts), and
    # folds meet rows that earlier batches wrote.
    log = dataset.history(dataset.build_dataset())
    for event in directory_history().events["enrollment"]:
        log.add(registry().parse(event.event_type, event.schema_version, event.data))
    sources = [(projection, projection.source) for projection in all_projections()]
    async with engine.begin() as conn:
        for projection, service in sources:
            for recorded in log.of(service):
                await projection.handle(conn, to_cloudevent(recorded, service))
    one_by_one = await snapshot(engine)

    for projection, service in sources:
        events = [to_cloudevent(recorded, service) for recorded in log.of(service)]
        await rebuild(projection, engine, replayed(events), batch_size=7)

    assert await snapshot(engine) == one_by_one
    assert sum(len(rows) for rows in one_by_one.values()) > 700


async def test_a_row_copy_cannot_encode_is_upserted_like_the_others(database_url, engine):
    # Not what a producer stores (the contract says text), but the replay does not
    # validate: the database casts the number, as it does for a batch on live tables.
    enrolled = en.ParticipantEnrolled(
        enrollment_id="n1",
        program_id="p",
        employee_id="e",
        role="mentee",
        profile=Profile(),
        enrolled_on=date(2024, 1, 1),
    )
    log = support.EventLog()
    recorded = log.add(enrolled)
    odd = to_cloudevent(recorded.with_data({**recorded.data, "program_id": 42}), "enrollment")
    async with engine.begin() as conn:
        await DirectoryProjection().handle_batch(conn, [odd])
    live = await snapshot(engine)

    await rebuild(DirectoryProjection(), engine, replayed([odd]))

    assert await snapshot(engine) == live
    assert live["fact_enrollments"][0][:2] == ("n1", "42")
