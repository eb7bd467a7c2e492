"""Program KPIs, retention, at-risk pairs and monthly figures (API.md, Analytics)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator

from analytics.application.queries import AnalyticsQueries, GroupBy
from analytics.config import analytics_settings
from analytics.domain.privacy import Suppression
from analytics.domain.retention import Window
from analytics.entrypoints.api.csv_export import (
    CSV_RESPONSE,
    csv_response,
    flatten,
    wants_csv,
)
from analytics.entrypoints.api.schemas import (
    AtRiskPage,
    AtRiskPairOut,
    GroupOut,
    KpisOut,
    MonthlyOut,
    MonthOut,
    OrganisationRetentionOut,
    RetentionOut,
)
from mentorship_kit.auth import Principal, Role, authenticate, require_roles
from mentorship_kit.context import ContextDep
from mentorship_kit.pagination import PageQuery, encode_cursor
from mentorship_kit.problems import problem_responses
from mentorship_kit.query import reject_unknown_query

# A misspelt parameter (``?asof=``) must not silently answer today's figures: 422. The
# token is checked first, so that a caller without one learns nothing but 401.
router = APIRouter(
    tags=["analytics"],
    dependencies=[Depends(authenticate), Depends(reject_unknown_query)],
)

Managers = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.PROGRAM_MANAGER))]
Admins = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
ProgramId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="The program's id.",
        examples=["3fa85f64-5717-4562-b3fc-2c963f66afa6"],
    ),
]
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_only(value: object) -> object:
    """Refuse what pydantic would otherwise read as a date (Unix timestamps like ``0``)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        msg = "must be a date, YYYY-MM-DD"
        raise ValueError(msg)
    return value


AsOf = Annotated[
    date | None,
    Query(description="Count only what happened on or before this date; default today (UTC)."),
    BeforeValidator(_iso_date_only),
]
WindowDays = Annotated[
    int,
    Query(
        ge=1, le=36_500, description="The window ends at as_of and starts this many days before."
    ),
]
_ERRORS: Final = problem_responses(401, 403, 404, 422)


async def get_queries(request: Request, context: ContextDep) -> AnalyticsQueries:
    # async: FastAPI runs a plain-def dependency in its thread pool, a hop per request.
    settings = analytics_settings(request.app.state.settings)
    return AnalyticsQueries(context.engine, Suppression(settings.analytics_suppression_threshold))


Queries = Annotated[AnalyticsQueries, Depends(get_queries)]


def _day(as_of: date | None) -> date:
    return as_of or datetime.now(UTC).date()


def _responses() -> dict[int | str, dict[str, object]]:
    return {**_ERRORS, **CSV_RESPONSE}


@router.get(
    "/v1/programs/{program_id}/kpis",
    response_model=KpisOut,
    responses=_responses(),
    summary="The program's KPIs as of a date, with each KPI target against its actual",
)
async def program_kpis(
    program_id: ProgramId, request: Request, queries: Queries, _: Managers, as_of: AsOf = None
) -> Response | KpisOut:
    answer = KpisOut.of(await queries.program_kpis(program_id, _day(as_of)))
    if not wants_csv(request):
        return answer
    data = answer.model_dump(mode="json", exclude={"targets"})
    rows = [{"metric": k, "value": v} for k, v in flatten(data).items()]
    rows.extend(
        {"metric": f"targets.{target.metric}.{field}", "value": getattr(target, field)}
        for target in answer.targets
        for field in ("target", "actual", "met")
    )
    return csv_response(["metric", "value"], rows, filename=f"kpis-{program_id}")


def _group_row(name: str, group: GroupOut) -> dict[str, object]:
    return {"group": name, **group.model_dump()}


_GROUP_COLUMNS: Final = ["group", "headcount", "retained", "rate", "suppressed"]


@router.get(
    "/v1/programs/{program_id}/retention",
    response_model=RetentionOut,
    responses=_responses(),
    summary="Retention of the program's mentees and mentors against non-participants",
)
async def program_retention(
    program_id: ProgramId,
    request: Request,
    queries: Queries,
    _: Managers,
    window_days: WindowDays = 365,
    as_of: AsOf = None,
) -> Response | RetentionOut:
    answer = RetentionOut.of(
        program_id,
        window_days,
        await queries.program_retention(program_id, _day(as_of), window_days),
    )
    if not wants_csv(request):
        return answer
    rows = [
        {
            **_group_row(name, getattr(answer, name)),
            "window_start": answer.window_start,
            "as_of": answer.as_of,
        }
        for name in ("mentees", "mentors", "non_participants")
    ]
    return csv_response(
        [*_GROUP_COLUMNS, "window_start", "as_of"], rows, filename=f"retention-{program_id}"
    )


@router.get(
    "/v1/organization/retention",
    response_model=OrganisationRetentionOut,
    responses={**problem_responses(401, 403, 422), **CSV_RESPONSE},
    summary="Retention of participants against non-participants, group by group",
)
async def organisation_retention(
    request: Request,
    queries: Queries,
    _: Admins,
    window_days: WindowDays = 365,
    as_of: AsOf = None,
    group_by: Annotated[
        GroupBy, Query(description="The employee attribute to group by.")
    ] = "department",
) -> Response | OrganisationRetentionOut:
    day = _day(as_of)
    groups = await queries.organisation_retention(day, window_days, group_by)
    answer = OrganisationRetentionOut.of(
        group_by, Window.ending(day, window_days), window_days, groups
    )
    if not wants_csv(request):
        return answer
    rows = [
        {"key": g.key, **_group_row(name, getattr(g, name))}
        for g in answer.groups
        for name in ("participants", "non_participants")
    ]
    return csv_response(["key", *_GROUP_COLUMNS], rows, filename="organisation-retention")


@router.get(
    "/v1/programs/{program_id}/at-risk-pairs",
    response_model=AtRiskPage,
    responses={**problem_responses(400, 401, 403, 404, 422), **CSV_RESPONSE},
    summary="Active pairs at risk, with the reasons, by pair id",
)
async def at_risk_pairs(
    _: Managers,  # first: authentication comes before reading the cursor
    program_id: ProgramId,
    request: Request,
    queries: Queries,
    page: PageQuery,
    as_of: AsOf = None,
) -> Response | AtRiskPage:
    after = str(page.position.get("after", "")) if page.position else ""
    pairs = [p for p in await queries.at_risk(program_id, _day(as_of)) if p.pair_id > after]
    items = [AtRiskPairOut.of(p) for p in pairs[: page.limit]]
    next_cursor = encode_cursor({"after": items[-1].pair_id}) if len(pairs) > page.limit else None
    answer = AtRiskPage(items=items, next_cursor=next_cursor)
    if not wants_csv(request):
        return answer
    headers = {}
    if next_cursor is not None:
        next_url = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return csv_response(
        ["pair_id", "reasons", "last_session_on"],
        (item.model_dump() for item in items),
        filename=f"at-risk-pairs-{program_id}",
        headers=headers,
    )


@router.get(
    "/v1/programs/{program_id}/monthly",
    response_model=MonthlyOut,
    responses=_responses(),
    summary="Sessions and satisfaction month by month, from the program's start to as_of",
)
async def monthly(
    program_id: ProgramId, request: Request, queries: Queries, _: Managers, as_of: AsOf = None
) -> Response | MonthlyOut:
    day = _day(as_of)
    months = [MonthOut.of(m) for m in await queries.monthly(program_id, day)]
    answer = MonthlyOut(program_id=program_id, as_of=day, items=months)
    if not wants_csv(request):
        return answer
    return csv_response(
        list(MonthOut.model_fields),
        (m.model_dump() for m in months),
        filename=f"monthly-{program_id}",
    )
