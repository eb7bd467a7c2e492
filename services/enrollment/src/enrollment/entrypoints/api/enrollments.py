"""Applications and participants: apply, decide, withdraw, change a profile, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from enrollment.adapters import repository
from enrollment.adapters.tables import LIVE_APPLICATION_CONSTRAINT
from enrollment.application import enrollments as use_cases
from enrollment.application.streams import enrollment_stream
from enrollment.domain.enrollments import Enrollment, EnrollmentStatus, WithdrawalReason
from enrollment.domain.errors import (
    AlreadyAppliedError,
    EnrollmentNotFoundError,
    ProgramNotFoundError,
)
from enrollment.entrypoints import metrics
from enrollment.entrypoints.api.access import (
    MANAGING,
    Applicant,
    ProgramManager,
    acting_for,
    require_self,
    run_unkeyed,
)
from enrollment.entrypoints.api.schemas import (
    ApplyIn,
    EnrollmentOut,
    HistoryOut,
    ParticipantOut,
    ParticipantPage,
    ProfileIn,
    RejectIn,
)
from mentorship_contracts.common import Role
from mentorship_kit.context import ContextDep
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.feed import stream_history
from mentorship_kit.pagination import PageQuery
from mentorship_kit.problems import problem_responses
from mentorship_kit.query import reject_unknown_query

router = APIRouter(tags=["enrollments"], dependencies=[Depends(reject_unknown_query)])

ProgramId = Annotated[str, Path(min_length=1, max_length=64, description="The program's id.")]
EnrollmentId = Annotated[str, Path(min_length=1, max_length=64, description="The enrollment's id.")]
_DECISION = problem_responses(400, 401, 403, 404, 409, 422)


@router.post(
    "/v1/programs/{program_id}/enrollments",
    status_code=201,
    response_model=EnrollmentOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    summary="Apply to a program as mentor or mentee; decided at once when the rules allow",
    description=(
        "201 with `status`: `enrolled` (auto approval), `pending_approval` (manual "
        "approval), `waitlisted` (program full) or `rejected` with `reasons` (not "
        "eligible). Participants apply for themselves only. A second live application "
        "of the same employee in the same role is a 409 naming the first one."
    ),
)
async def apply(
    program_id: ProgramId, body: ApplyIn, principal: Applicant, command: CommandDep
) -> Response:
    require_self(principal, body.employee_id, unrestricted=MANAGING)
    decided: list[Enrollment] = []

    def present(enrollment: Enrollment) -> EnrollmentOut:
        decided.append(enrollment)
        return EnrollmentOut.of(enrollment)

    request = use_cases.ApplicationInput(
        program_id, body.employee_id, body.role, body.profile.to_contract()
    )
    try:
        response: Response = await command.execute(
            use_cases.apply(request), present=present, status_code=201
        )
    except IntegrityError as exc:
        if LIVE_APPLICATION_CONSTRAINT not in str(exc.orig):
            raise
        # A concurrent twin committed first; name it as the pre-check would have.
        async with command.context.engine.connect() as conn:
            existing = await repository.live_enrollment(
                conn, program_id, body.employee_id, body.role
            )
        if existing is None:
            raise
        raise AlreadyAppliedError(*existing) from exc
    if decided:
        metrics.application_decided(body.role, decided[-1].status.value)
    return response


def _decision_endpoint(enrollment: Enrollment) -> EnrollmentOut:
    metrics.enrollment_changed(enrollment.status.value)
    return EnrollmentOut.of(enrollment)


@router.post(
    "/v1/enrollments/{enrollment_id}/approve",
    response_model=EnrollmentOut,
    responses=_DECISION,
    summary="Approve a pending or waitlisted application",
)
async def approve(enrollment_id: EnrollmentId, _: ProgramManager, command: CommandDep) -> Response:
    response: Response = await command.execute(
        use_cases.approve(enrollment_id), present=_decision_endpoint
    )
    return response


@router.post(
    "/v1/enrollments/{enrollment_id}/reject",
    response_model=EnrollmentOut,
    responses=_DECISION,
    summary="Reject a pending or waitlisted application, optionally with reasons",
)
async def reject(
    enrollment_id: EnrollmentId,
    _: ProgramManager,
    command: CommandDep,
    body: RejectIn | None = None,
) -> Response:
    reasons = body.reasons if body is not None else []
    response: Response = await command.execute(
        use_cases.reject(enrollment_id, reasons), present=_decision_endpoint
    )
    return response


@router.post(
    "/v1/enrollments/{enrollment_id}/withdraw",
    response_model=EnrollmentOut,
    responses=_DECISION,
    summary="Withdraw from the program (the participant, an admin or a program manager)",
    description=(
        "When an enrolled mentee withdraws from a program with automatic approval, the "
        "freed place goes to the first waitlisted mentee still eligible under the "
        "program's current rules, in the same transaction (ParticipantEnrolled with "
        "`from_waitlist: true`); waitlisted applicants the rules now refuse are rejected "
        "with reasons on the way. With manual approval the waitlist waits for a manager."
    ),
)
async def withdraw(
    enrollment_id: EnrollmentId, principal: Applicant, command: CommandDep
) -> Response:
    restricted_to = acting_for(principal)
    reason: WithdrawalReason = "self" if restricted_to is not None else "admin"
    withdrawals: list[use_cases.Withdrawal] = []

    def present(withdrawal: use_cases.Withdrawal) -> EnrollmentOut:
        withdrawals.append(withdrawal)
        return _decision_endpoint(withdrawal.enrollment)

    response: Response = await command.execute(
        use_cases.withdraw(enrollment_id, reason, acting_for=restricted_to), present=present
    )
    if withdrawals:
        metrics.waitlist_promotions("withdrawal", withdrawals[-1].promotions)
    return response


@router.patch(
    "/v1/enrollments/{enrollment_id}/profile",
    response_model=EnrollmentOut,
    responses=_DECISION,
    summary="Replace the participant's profile",
)
async def update_profile(
    enrollment_id: EnrollmentId,
    body: ProfileIn,
    principal: Applicant,
    request: Request,
    context: ContextDep,
) -> EnrollmentOut:
    enrollment = await run_unkeyed(
        request,
        context,
        principal,
        use_cases.update_profile(
            enrollment_id, body.to_contract(), acting_for=acting_for(principal)
        ),
    )
    return EnrollmentOut.of(enrollment)


@router.get(
    "/v1/enrollments/{enrollment_id}",
    response_model=ParticipantOut,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Read one enrollment (the participant, an admin or a program manager)",
)
async def get_enrollment(
    enrollment_id: EnrollmentId, principal: Applicant, context: ContextDep
) -> ParticipantOut:
    async with context.engine.connect() as conn:
        row = await repository.get_enrollment(conn, enrollment_id)
    if row is None:
        raise EnrollmentNotFoundError(enrollment_id)
    require_self(principal, row.enrollment.employee_id, unrestricted=MANAGING)
    return ParticipantOut.of_row(row)


@router.get(
    "/v1/programs/{program_id}/participants",
    response_model=ParticipantPage,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="List a program's applicants and participants, oldest application first",
    description=(
        "Applications are waitlisted only when submitted, so `?role=mentee&status=waitlisted` "
        "lists the waitlist in its order: the first item is next in line (the one "
        "automatic approval enrolls when a place frees up, and the one a manager "
        "approving by hand should normally pick)."
    ),
)
async def list_participants(
    program_id: ProgramId,
    _: ProgramManager,
    context: ContextDep,
    page: PageQuery,
    role: Annotated[Role | None, Query(description="Only this role.")] = None,
    status: Annotated[EnrollmentStatus | None, Query(description="Only this status.")] = None,
) -> ParticipantPage:
    after = page.position.get("s") if page.position else None
    async with context.engine.connect() as conn:
        if await repository.get_program(conn, program_id) is None:
            raise ProgramNotFoundError(program_id)
        rows = await repository.list_participants(
            conn,
            program_id,
            role=role,
            statuses=[status.value] if status else None,
            after_seq=after if isinstance(after, int) else None,
            limit=page.limit + 1,
        )
    built = page.page(rows, lambda row: {"s": row.seq})
    return ParticipantPage(
        items=[ParticipantOut.of_row(row) for row in built.items], next_cursor=built.next_cursor
    )


@router.get(
    "/v1/enrollments/{enrollment_id}/history",
    response_model=HistoryOut,
    responses=problem_responses(400, 401, 403, 404, 422),
    summary="Every change of an enrollment with who made it (the participant, admin, manager)",
)
async def enrollment_history(
    enrollment_id: EnrollmentId, principal: Applicant, context: ContextDep
) -> HistoryOut:
    async with context.engine.connect() as conn:
        row = await repository.get_enrollment(conn, enrollment_id)
    if row is None:
        raise EnrollmentNotFoundError(enrollment_id)
    require_self(principal, row.enrollment.employee_id, unrestricted=MANAGING)
    return HistoryOut(items=await stream_history(context.store, enrollment_stream(enrollment_id)))
