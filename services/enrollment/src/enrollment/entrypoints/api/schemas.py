"""The HTTP bodies of the enrollment API (normative names in the public API contract).

Request models refuse unknown fields so a misspelt field is a 422 naming it rather
than silently ignored. Response models are built from domain values with ``of``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.json_schema import SkipJsonSchema

from enrollment.adapters.repository import EmployeeRow, EnrollmentRow
from enrollment.domain.employees import Employee
from enrollment.domain.enrollments import Enrollment, EnrollmentStatus
from enrollment.domain.programs import Program, ProgramStatus
from mentorship_contracts.common import Format, Profile, Role, Tag
from mentorship_contracts.enrollment import Eligibility, EmployeeRecord, KpiTarget
from mentorship_kit.feed import HistoryEntry

# Employee ids come from the HRIS; they travel in URLs (REST and SCIM) and stream ids.
EMPLOYEE_ID_PATTERN = r"^[A-Za-z0-9._@+~:-]{1,128}$"
RESERVED_EMPLOYEE_IDS = frozenset({"batch"})  # /v1/employees/batch is the import


def _not_reserved(value: str) -> str:
    if value in RESERVED_EMPLOYEE_IDS:
        msg = f"{value!r} is reserved and cannot be an employee id"
        raise ValueError(msg)
    return value


EmployeeIdText = Annotated[
    str,
    StringConstraints(pattern=EMPLOYEE_ID_PATTERN),
    AfterValidator(_not_reserved),
    Field(description='The HRIS employee id: 1-128 of A-Z a-z 0-9 . _ @ + ~ : - (not "batch")'),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320),
    Field(examples=["ada@example.com"]),
]


def _iso_day(value: object) -> object:
    if isinstance(value, str) and _DAY.fullmatch(value):
        return date.fromisoformat(value)
    return value


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A calendar date in JSON: exactly "YYYY-MM-DD" (strict models take no timestamps).
Day = Annotated[date, BeforeValidator(_iso_day)]


class Strict(BaseModel):
    """Request bodies: no unknown fields, and no coercion ("14" is not an integer)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# Programs


class EligibilityIn(Strict):
    departments: list[Text] | None = Field(
        default=None, description="Eligible departments (case-insensitive); absent: any."
    )
    min_tenure_days: int | None = Field(default=None, ge=0, le=36500)
    min_job_level: int | None = Field(default=None, ge=0, le=1000)
    max_job_level: int | None = Field(default=None, ge=0, le=1000)

    def to_contract(self) -> Eligibility:
        return Eligibility(**self.model_dump())


class KpiTargetIn(Strict):
    metric: Text
    target: float = Field(allow_inf_nan=False)


class ProgramFields(Strict):
    name: Text
    objective: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    formats: list[Format] = Field(min_length=1, max_length=5)
    tracks: list[Tag] = Field(default_factory=list, max_length=50)
    starts_on: Day
    ends_on: Day | None = Field(default=None, description="Absent or null: evergreen.")
    cadence_days: int = Field(ge=1, le=365, description="Expected days between meetings.")
    mentor_capacity: int = Field(
        ge=1, le=50, description="Mentees a mentor takes at most (and by default)."
    )
    approval: Literal["auto", "manual"]
    waitlist: bool = Field(
        default=True, description="When the program is full: waitlist (true) or reject."
    )
    max_mentees: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Enrolled mentees at most; absent: no cap."
    )
    eligibility: EligibilityIn = Field(default_factory=EligibilityIn)
    mentor_eligibility: EligibilityIn | None = Field(
        default=None, description="Rules for mentors; absent: mentors follow `eligibility`."
    )
    kpi_targets: list[KpiTargetIn] = Field(default_factory=list, max_length=50)


class CreateProgram(ProgramFields):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Engineering leadership 2025",
                    "objective": "Grow the next engineering managers",
                    "formats": ["one_to_one"],
                    "tracks": ["leadership"],
                    "starts_on": "2025-01-06",
                    "ends_on": None,
                    "cadence_days": 14,
                    "mentor_capacity": 3,
                    "approval": "auto",
                    "max_mentees": 100,
                    "eligibility": {"departments": ["Engineering"], "min_tenure_days": 90},
                    "kpi_targets": [{"metric": "mentee_retention_12m", "target": 0.15}],
                }
            ]
        },
    )


class UpdateProgram(Strict):
    """Any subset of the program's fields; a nested object (eligibility) is replaced whole."""

    name: Text | SkipJsonSchema[None] = None
    objective: (
        Annotated[str, StringConstraints(min_length=1, max_length=2000)] | SkipJsonSchema[None]
    ) = None
    formats: Annotated[list[Format], Field(min_length=1, max_length=5)] | SkipJsonSchema[None] = (
        None
    )
    tracks: Annotated[list[Tag], Field(max_length=50)] | SkipJsonSchema[None] = None
    starts_on: Day | SkipJsonSchema[None] = None
    ends_on: Day | None = None
    cadence_days: Annotated[int, Field(ge=1, le=365)] | SkipJsonSchema[None] = None
    mentor_capacity: Annotated[int, Field(ge=1, le=50)] | SkipJsonSchema[None] = None
    approval: Literal["auto", "manual"] | SkipJsonSchema[None] = None
    waitlist: bool | SkipJsonSchema[None] = None
    max_mentees: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    eligibility: EligibilityIn | SkipJsonSchema[None] = None
    mentor_eligibility: EligibilityIn | None = None
    kpi_targets: Annotated[list[KpiTargetIn], Field(max_length=50)] | SkipJsonSchema[None] = None

    def changes(self) -> dict[str, Any]:
        """The fields the client sent (null included where the field allows it)."""
        return self.model_dump(mode="json", exclude_unset=True)


class ProgramOut(BaseModel):
    id: str
    status: ProgramStatus
    name: str
    objective: str
    formats: list[Format]
    tracks: list[str]
    starts_on: date
    ends_on: date | None
    cadence_days: int
    mentor_capacity: int
    approval: Literal["auto", "manual"]
    waitlist: bool
    max_mentees: int | None
    eligibility: Eligibility
    mentor_eligibility: Eligibility | None
    kpi_targets: list[KpiTarget]

    @classmethod
    def of(cls, program: Program) -> Self:
        return cls(id=program.program_id, status=program.status, **program.settings.model_dump())


class ProgramPage(BaseModel):
    items: list[ProgramOut]
    next_cursor: str | None = None


# Directory


class EmployeeFields(Strict):
    email: Email
    given_name: Text
    family_name: Text
    department: Text | None = None
    title: Text | None = None
    job_level: int | None = Field(default=None, ge=0, le=2**31 - 1)
    manager_id: EmployeeIdText | None = None
    location: Text | None = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="IANA time zone name, e.g. Europe/Paris."
    )
    languages: list[Annotated[str, StringConstraints(min_length=1, max_length=35)]] = Field(
        default_factory=list, max_length=20
    )
    hired_on: Day | None = None

    def to_record(self) -> EmployeeRecord:
        # From the fields as a dict, not keyword arguments from model_dump(): a
        # 10,000-row import spent more on dumping each row than on validating it.
        return EmployeeRecord.model_validate({name: getattr(self, name) for name in _RECORD})


_RECORD: Final = tuple(EmployeeFields.model_fields)


class EmployeeRowIn(EmployeeFields):
    """One row of a batch import: the employee's fields plus its id."""

    employee_id: EmployeeIdText


MAX_BATCH_ROWS = 10_000


class EmployeeBatch(BaseModel):
    employees: list[Any] = Field(
        max_length=MAX_BATCH_ROWS,
        description=(
            "Up to 10,000 rows, each an object with `employee_id` and the fields of "
            "`PUT /v1/employees/{employee_id}` (schema EmployeeRowIn). Each row is "
            "checked on its own: a malformed row is reported in its result and never "
            "keeps the other rows from being stored."
        ),
    )


class RowResult(BaseModel):
    employee_id: str | None = Field(description="Null only when the row names no usable id.")
    status: Literal["created", "updated", "unchanged", "error"]
    error: str | None = Field(default=None, description="Why the row was not stored.")
    field: str | None = Field(default=None, description="The field at fault, for errors.")


class BatchResult(BaseModel):
    results: list[RowResult]


class Departure(Strict):
    left_on: Day
    reason: Literal["voluntary", "involuntary", "other"]


_ERASED: Final = "; null once the employee's personal data is erased."


class EmployeeOut(BaseModel):
    employee_id: str
    status: Literal["active", "departed"]
    erased_on: date | None = Field(
        description="When the employee's personal data was erased (GDPR art. 17); "
        "their name, email, title and identity-provider ids are null from then on."
    )
    email: str | None = Field(description="Email address" + _ERASED)
    given_name: str | None = Field(description="Given name" + _ERASED)
    family_name: str | None = Field(description="Family name" + _ERASED)
    department: str | None
    title: str | None
    job_level: int | None
    manager_id: str | None
    location: str | None
    timezone: str | None
    languages: list[str]
    hired_on: date | None
    left_on: date | None
    departure_reason: Literal["voluntary", "involuntary", "other"] | None
    user_name: str | None = Field(description="SCIM userName, when an identity provider set one.")
    external_id: str | None
    employee_number: str | None

    @classmethod
    def of(cls, employee: Employee) -> Self:
        record = employee.record.model_dump(exclude={"email_type"})
        return cls(
            employee_id=employee.employee_id,
            status=employee.status.value,
            left_on=employee.left_on,
            departure_reason=employee.departure_reason,
            erased_on=employee.erased_on,
            **record,
        )

    @classmethod
    def of_row(cls, row: EmployeeRow) -> Self:
        return cls.of(row.employee)


# Enrollments


class ProfileIn(Strict):
    """What a participant offers and seeks (see the contract's Profile)."""

    skills_offered: list[Tag] = Field(default_factory=list, max_length=100)
    skills_sought: list[Tag] = Field(default_factory=list, max_length=100)
    goals: list[Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=list, max_length=20
    )
    interests: list[Tag] = Field(default_factory=list, max_length=100)
    languages: list[Tag] = Field(default_factory=list, max_length=20)
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="IANA time zone name."
    )
    capacity: int | None = Field(
        default=None, ge=1, le=50, description="Mentors only: how many mentees at once."
    )

    def to_contract(self) -> Profile:
        return Profile.model_validate(self.model_dump())


class ApplyIn(Strict):
    employee_id: EmployeeIdText
    role: Role
    profile: ProfileIn = Field(default_factory=ProfileIn)


class RejectIn(Strict):
    reasons: list[Annotated[str, StringConstraints(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20
    )


class EnrollmentOut(BaseModel):
    enrollment_id: str
    program_id: str
    employee_id: str
    role: Role
    status: EnrollmentStatus
    reasons: list[str]
    profile: Profile

    @classmethod
    def of(cls, enrollment: Enrollment) -> Self:
        return cls(
            enrollment_id=enrollment.enrollment_id,
            program_id=enrollment.program_id,
            employee_id=enrollment.employee_id,
            role=enrollment.role,
            status=enrollment.status,
            reasons=list(enrollment.reasons),
            profile=enrollment.profile,
        )


class ParticipantOut(EnrollmentOut):
    submitted_on: date
    decided_on: date | None
    withdrawal_reason: str | None

    @classmethod
    def of_row(cls, row: EnrollmentRow) -> Self:
        base = EnrollmentOut.of(row.enrollment).model_dump()
        return cls(
            **base,
            submitted_on=row.submitted_on,
            decided_on=row.decided_on,
            withdrawal_reason=row.withdrawal_reason,
        )


class ParticipantPage(BaseModel):
    items: list[ParticipantOut]
    next_cursor: str | None = None


class HistoryOut(BaseModel):
    """Every change of one entity, oldest first, with who made it."""

    items: list[HistoryEntry]
