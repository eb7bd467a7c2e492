"""The query tables rebuilt from the event store equal the ones kept inline by commands."""

import uuid

import sqlalchemy as sa
from conftest import ADMIN, HRIS, open_program, person

from enrollment.adapters.projection import EnrollmentQueries
from enrollment.adapters.tables import employees, enrollments, programs
from mentorship_kit.projection import rebuild, store_events


async def snapshot(engine):
    """Every row of the three tables, without the list order numbers (`seq`): a rebuild
    numbers rows afresh, and PostgreSQL leaves gaps where a refused insert took one."""
    tables = {"programs": programs, "employees": employees, "enrollments": enrollments}
    rows = {}
    async with engine.connect() as conn:
        for name, table in tables.items():
            columns = [c for c in table.c if c.name != "seq"]
            key = table.c[f"{name[:-1]}_id"]
            result = await conn.execute(sa.select(*columns).order_by(key))
            rows[name] = [dict(row) for row in result.mappings()]
    return rows


async def test_a_rebuild_equals_the_inline_tables(client, app):
    tag = uuid.uuid4().hex[:6]
    ids = [f"r{tag}-{n}" for n in range(30)]
    batch = [{"employee_id": i, **person(job_level=n % 6)} for n, i in enumerate(ids)]
    await client.post("/v1/employees/batch", json={"employees": batch}, headers=HRIS)
    await client.post(
        "/v1/employees/batch",
        json={"employees": [{**row, "job_level": 7} for row in batch[:5]]},
        headers=HRIS,
    )
    scim = await client.post(
        "/scim/v2/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"scim-{tag}",
            "active": True,
        },
        headers=HRIS,
    )
    assert scim.status_code == 201
    program_id = await open_program(client, max_mentees=10, eligibility={"min_job_level": 1})
    for employee_id in ids:
        await client.post(
            f"/v1/programs/{program_id}/enrollments",
            json={"employee_id": employee_id, "role": "mentee"},
            headers=ADMIN,
        )
    for employee_id in ids[:4]:
        await client.post(
            f"/v1/employees/{employee_id}/departure",
            json={"left_on": "2025-06-30", "reason": "other"},
            headers=HRIS,
        )
    await client.delete(f"/scim/v2/Users/scim-{tag}", headers=HRIS)
    for employee_id in (ids[3], ids[5]):  # one departed, one active
        erased = await client.post(f"/v1/employees/{employee_id}/erasure", headers=ADMIN)
        assert erased.status_code == 200
    await client.post(f"/v1/programs/{program_id}/close", headers=ADMIN)
    context = app.state.context
    inline = await snapshot(context.engine)

    result = await rebuild(
        EnrollmentQueries(),
        context.engine,
        store_events(context.store, "enrollment", vault=context.vault),
    )

    assert result.events > 100
    assert await snapshot(context.engine) == inline
    erased = [row for row in inline["employees"] if row["erased_on"] is not None]
    assert {row["employee_id"] for row in erased} == {ids[3], ids[5]}
    assert all(row["record"]["email"] is None for row in erased)
    statuses = {row["status"] for row in inline["enrollments"]}
    assert statuses == {"enrolled", "waitlisted", "rejected", "withdrawn"}
