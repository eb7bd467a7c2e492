"""The bulk append's fallback, concurrent twins, and the domain metrics."""

import asyncio
import uuid

from conftest import ADMIN, HRIS, open_program, put_employee

from enrollment.application.directory import _append_in_chunks
from enrollment.application.streams import employee_stream
from mentorship_contracts.enrollment import EmployeeProvisioned, EmployeeRecord

RECORD = EmployeeRecord(email="a@example.com", given_name="A", family_name="B")


async def test_a_conflicting_stream_is_isolated_by_appending_in_halves(client, app):
    stale = f"e-{uuid.uuid4().hex[:8]}"
    await put_employee(client, stale)
    fresh = [f"e-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    # The stale stream is appended as if new (version 0) although it already exists.
    decisions = [
        (employee_stream(e), [EmployeeProvisioned(employee_id=e, record=RECORD)], 0)
        for e in [*fresh[:2], stale, *fresh[2:]]
    ]

    async def use_case(tx):
        return await _append_in_chunks(tx, decisions)

    failed = await app.state.context.runner.run(use_case)
    stored = [
        (await client.get(f"/v1/employees/{employee_id}", headers=HRIS)).status_code
        for employee_id in fresh
    ]

    assert failed == {employee_stream(stale)}
    assert stored == [200] * 5


async def test_concurrent_twin_applications_leave_one_and_name_it(client):
    employee_id = f"e-{uuid.uuid4().hex[:8]}"
    await put_employee(client, employee_id)
    program_id = await open_program(client)
    body = {"employee_id": employee_id, "role": "mentee"}

    first, second = await asyncio.gather(
        *(
            client.post(f"/v1/programs/{program_id}/enrollments", json=body, headers=ADMIN)
            for _ in range(2)
        )
    )

    assert sorted([first.status_code, second.status_code]) == [201, 409]
    created, refused = (first, second) if first.status_code == 201 else (second, first)
    assert refused.json()["enrollment_id"] == created.json()["enrollment_id"]


async def test_decisions_are_counted_by_role_and_outcome(client):
    employee_id = f"e-{uuid.uuid4().hex[:8]}"
    await put_employee(client, employee_id, department="Finance")
    program_id = await open_program(client, eligibility={"departments": ["Sales"]})

    def rejected_mentees(metrics_text):
        for line in metrics_text.splitlines():
            if line.startswith("mentorship_enrollment_applications_total{") and (
                'outcome="rejected"' in line and 'role="mentee"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = rejected_mentees((await client.get("/metrics")).text)
    await client.post(
        f"/v1/programs/{program_id}/enrollments",
        json={"employee_id": employee_id, "role": "mentee"},
        headers=ADMIN,
    )
    after = rejected_mentees((await client.get("/metrics")).text)

    assert after == before + 1
