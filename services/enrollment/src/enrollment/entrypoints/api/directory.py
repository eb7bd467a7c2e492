"""/v1/employees: the directory as the HRIS pushes it (one record, a batch, a departure)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.convertors import StringConvertor, register_url_convertor

from enrollment.adapters import repository
from enrollment.application import directory as use_cases
from enrollment.application.streams import employee_stream
from enrollment.domain.employees import UpsertOutcome
from enrollment.domain.errors import EmployeeNotFoundError
from enrollment.entrypoints import metrics
from enrollment.entrypoints.api.access import (
    Admin,
    DirectoryReader,
    DirectoryWriter,
    require_self,
    run_unkeyed,
)
from enrollment.entrypoints.api.schemas import (
    EMPLOYEE_ID_PATTERN,
    BatchResult,
    Departure,
    EmployeeBatch,
    EmployeeFields,
    EmployeeOut,
    EmployeeRowIn,
    HistoryOut,
    RowResult,
)
from mentorship_kit.auth import Role
from mentorship_kit.context import ContextDep
from mentorship_kit.db import relaxed_collector
from mentorship_kit.endpoints import CommandDep, CommandEndpoint
from mentorship_kit.feed import stream_history
from mentorship_kit.problems import problem_responses
from mentorship_kit.query import reject_unknown_query


class _EmployeeIdSegment(StringConvertor):
    """A path segment naming an employee: anything but ``batch``.

    ``/v1/employees/batch`` is the import; without this, its path would also match the
    routes of ``/v1/employees/{employee_id}`` (a GET of "batch" would look an employee
    up, and a 405 would list methods the import does not have). "batch" is therefore
    not an employee id (the schemas' pattern refuses it too).
    """

    regex = "(?!batch(?:/|$))[^/]+"


register_url_convertor("employee_id", _EmployeeIdSegment())

router = APIRouter(
    prefix="/v1/employees", tags=["directory"], dependencies=[Depends(reject_unknown_query)]
)

EmployeeId = Annotated[str, Path(pattern=EMPLOYEE_ID_PATTERN, description="The HRIS employee id.")]
_ROW: TypeAdapter[EmployeeRowIn] = TypeAdapter(EmployeeRowIn)
_ROWS: TypeAdapter[list[EmployeeRowIn]] = TypeAdapter(list[EmployeeRowIn])
IMPORT_GC_THRESHOLD: Final = 100_000


@router.put(
    "/{employee_id:employee_id}",
    response_model=EmployeeOut,
    status_code=200,
    responses={
        201: {"model": EmployeeOut, "description": "The employee was added to the directory."},
        **problem_responses(400, 401, 403, 422),
    },
    summary="Create or replace an employee's record (200 updated or unchanged, 201 created)",
)
async def put_employee(
    employee_id: EmployeeId,
    body: EmployeeFields,
    principal: DirectoryWriter,
    request: Request,
    context: ContextDep,
) -> JSONResponse:
    change = await run_unkeyed(
        request, context, principal, use_cases.put_employee(employee_id, body.to_record())
    )
    metrics.directory_rows("rest", change.outcome.value)
    status = 201 if change.outcome is UpsertOutcome.CREATED else 200
    return JSONResponse(EmployeeOut.of(change.employee).model_dump(mode="json"), status_code=status)


def _parsed_rows(raw_rows: list[Any]) -> list[EmployeeRowIn | RowResult]:
    """Each row validated, or the result that refuses it."""
    try:
        # The whole list at once: one call into pydantic instead of one per row.
        return list(_ROWS.validate_python(raw_rows))
    except ValidationError:
        # Some row is malformed: check each on its own to say which, and why.
        return [_parsed_row(raw) for raw in raw_rows]


def _parsed_row(raw: Any) -> EmployeeRowIn | RowResult:
    try:
        return _ROW.validate_python(raw)
    except ValidationError as exc:
        raw_id = raw.get("employee_id") if isinstance(raw, dict) else None
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "row"
        return RowResult(
            employee_id=raw_id if isinstance(raw_id, str) else None,
            status="error",
            field=field,
            error=f"{field}: {first['msg']}",
        )


def _checked_rows(
    raw_rows: list[Any],
) -> tuple[list[use_cases.ImportRow], dict[int, RowResult]]:
    """Valid rows to store, and a result for each row refused (by its index)."""
    rows: list[use_cases.ImportRow] = []
    refused: dict[int, RowResult] = {}
    seen: set[str] = set()
    for index, row in enumerate(_parsed_rows(raw_rows)):
        if isinstance(row, RowResult):
            refused[index] = row
            continue
        if row.employee_id in seen:
            refused[index] = RowResult(
                employee_id=row.employee_id,
                status="error",
                field="employee_id",
                error="employee_id: appears earlier in this batch",
            )
            continue
        seen.add(row.employee_id)
        rows.append(use_cases.ImportRow(row.employee_id, row.to_record()))
    return rows, refused


@router.post(
    "/batch",
    response_model=BatchResult,
    responses=problem_responses(400, 401, 403, 409, 422),
    summary="Create or update up to 10,000 employees; one result per row, in row order",
)
async def import_employees(
    body: EmployeeBatch, _: DirectoryWriter, command: CommandDep
) -> Response:
    # A batch keeps some million objects alive until it is answered: with the
    # service's usual first threshold the collector walked them dozens of times.
    with relaxed_collector(IMPORT_GC_THRESHOLD):
        return await _import_batch(body.employees, command)


async def _import_batch(employees: list[Any], command: CommandEndpoint) -> Response:
    rows, refused = _checked_rows(employees)
    slots = [index for index in range(len(employees)) if index not in refused]
    answered: list[BatchResult] = []

    def present(stored: list[use_cases.ImportResult]) -> BatchResult:
        results = dict(refused)
        for index, result in zip(slots, stored, strict=True):
            results[index] = RowResult(
                employee_id=result.employee_id,
                status=result.status,
                error=result.error,
                field=None if result.error is None else "employee_id",
            )
        answer = BatchResult(results=[results[index] for index in range(len(employees))])
        answered.append(answer)
        return answer

    response: Response = await command.execute(use_cases.import_employees(rows), present=present)
    if answered:
        for outcome, count in Counter(r.status for r in answered[-1].results).items():
            metrics.directory_rows("batch", outcome, count)
    return response


@router.post(
    "/{employee_id:employee_id}/departure",
    response_model=EmployeeOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Record that the employee left; withdraws every live enrollment of theirs",
    description=(
        "Every live enrollment of the employee is withdrawn in the same transaction; where "
        "that frees a mentee's place in a program with automatic approval, the program's "
        "waitlist moves up into it (see the withdraw endpoint)."
    ),
)
async def record_departure(
    employee_id: EmployeeId, body: Departure, _: DirectoryWriter, command: CommandDep
) -> Response:
    changes: list[use_cases.EmployeeChange] = []

    def present(change: use_cases.EmployeeChange) -> EmployeeOut:
        changes.append(change)
        return EmployeeOut.of(change.employee)

    response: Response = await command.execute(
        use_cases.record_departure(employee_id, body.left_on, body.reason), present=present
    )
    if changes:
        metrics.departure_withdrawals(changes[-1].withdrawn)
        metrics.waitlist_promotions("departure", changes[-1].promotions)
    return response


@router.post(
    "/{employee_id:employee_id}/erasure",
    response_model=EmployeeOut,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Erase the employee's personal data (GDPR art. 17); admin only; repeatable",
    description=(
        "Destroys the employee's data key: their name, email, title and identity-provider "
        "ids become unreadable in every stored or published event, and every read model "
        "drops them. Facts without personal data (dates, levels, enrollments, pairs, "
        "sessions) stay, so figures do not change. Answers the erased employee; a repeated "
        "request answers the same (200) and changes nothing. The HRIS can no longer write "
        "the record (409 employee-erased); a returning person needs a new employee id."
    ),
)
async def erase_employee(employee_id: EmployeeId, _: Admin, command: CommandDep) -> Response:
    def present(result: use_cases.ErasureResult) -> EmployeeOut:
        return EmployeeOut.of(result.employee)

    response: Response = await command.execute(
        use_cases.erase_employee(employee_id), present=present
    )
    return response


@router.get(
    "/{employee_id:employee_id}",
    response_model=EmployeeOut,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Read an employee (hris, admin, or the employee themselves)",
)
async def get_employee(
    employee_id: EmployeeId, principal: DirectoryReader, context: ContextDep
) -> EmployeeOut:
    require_self(principal, employee_id, unrestricted=(Role.HRIS, Role.ADMIN))
    async with context.engine.connect() as conn:
        row = await repository.get_employee(conn, employee_id)
    if row is None:
        raise EmployeeNotFoundError(employee_id)
    return EmployeeOut.of_row(row)


@router.get(
    "/{employee_id:employee_id}/history",
    response_model=HistoryOut,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Every change of an employee's record with who made it (hris, admin, themselves)",
)
async def employee_history(
    employee_id: EmployeeId, principal: DirectoryReader, context: ContextDep
) -> HistoryOut:
    require_self(principal, employee_id, unrestricted=(Role.HRIS, Role.ADMIN))
    items = await stream_history(context.store, employee_stream(employee_id), vault=context.vault)
    if not items:
        raise EmployeeNotFoundError(employee_id)
    return HistoryOut(items=items)
