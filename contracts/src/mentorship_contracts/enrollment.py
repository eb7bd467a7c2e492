"""Events published by the enrollment service: programs, the directory, enrollments."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from pydantic import Field

from mentorship_contracts.base import EventContract, personal, registry
from mentorship_contracts.common import EmployeeId, Format, Frozen, Profile, Role

SERVICE = "enrollment"


class Eligibility(Frozen):
    departments: list[str] | None = None
    min_tenure_days: int | None = Field(default=None, ge=0)
    min_job_level: int | None = None
    max_job_level: int | None = None


class KpiTarget(Frozen):
    metric: str
    target: float


class ProgramSettings(Frozen):
    """Everything an admin sets on a program."""

    name: str
    objective: str
    formats: list[Format]
    tracks: list[str]
    starts_on: date
    ends_on: date | None
    cadence_days: int
    mentor_capacity: int
    approval: Literal["auto", "manual"]
    waitlist: bool = True
    max_mentees: int | None = None
    eligibility: Eligibility = Eligibility()
    kpi_targets: list[KpiTarget] = Field(default_factory=list)
    mentor_eligibility: Eligibility | None = Field(
        default=None,
        description="Rules for mentors; when absent, mentors are held to `eligibility` too.",
    )


class _ProgramEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "program"
    program_id: str


class ProgramCreated(_ProgramEvent):
    """A program was designed (it starts as a draft)."""

    action: ClassVar[str] = "created"
    settings: ProgramSettings


class ProgramUpdated(_ProgramEvent):
    """A program's settings changed; carries the settings after the change."""

    action: ClassVar[str] = "updated"
    settings: ProgramSettings


class ProgramOpened(_ProgramEvent):
    """A program opened for applications."""

    action: ClassVar[str] = "opened"
    opened_on: date


class ProgramClosed(_ProgramEvent):
    """A program closed for applications."""

    action: ClassVar[str] = "closed"
    closed_on: date


class ProgramArchived(_ProgramEvent):
    """A program was archived; it no longer changes."""

    action: ClassVar[str] = "archived"


class EmployeeRecord(Frozen):
    """An employee as the HRIS describes them.

    The fields that say who the person is are personal: they travel sealed with the
    employee's key and read as null once the employee's personal data is erased. The
    rest (department, level, manager, place, dates) is what matching and analytics
    compute with; it stays readable and names no one once the identity is erased.
    """

    email: str | None = personal("Email address.")
    given_name: str | None = personal("Given name.")
    family_name: str | None = personal("Family name.")
    department: str | None = None
    title: str | None = personal("Job title.", default=None)
    job_level: int | None = None
    manager_id: str | None = None
    location: str | None = None
    timezone: str | None = None
    languages: list[str] = Field(default_factory=list)
    hired_on: date | None = None
    user_name: str | None = personal(
        "Login name at the identity provider (SCIM userName); "
        "absent when the employee id serves as the login name.",
        default=None,
    )
    external_id: str | None = personal(
        "The identity provider's own id of the user (SCIM externalId).", default=None
    )
    employee_number: str | None = personal(
        "The HRIS employee number (SCIM enterprise employeeNumber).", default=None
    )
    email_type: str | None = Field(
        default=None, description="Kind of the email address (SCIM emails.type: work, home...)."
    )


class _EmployeeEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "employee"
    data_subject_field: ClassVar[str | None] = "employee_id"
    employee_id: EmployeeId


class EmployeeProvisioned(_EmployeeEvent):
    """An employee entered the directory.

    v2: the record's personal fields are sealed and nullable (v1 carried them in clear).
    """

    action: ClassVar[str] = "provisioned"
    schema_version: ClassVar[int] = 2
    record: EmployeeRecord


class EmployeeUpdated(_EmployeeEvent):
    """An employee's record changed; carries the record after the change.

    v2: the record's personal fields are sealed and nullable (v1 carried them in clear).
    """

    action: ClassVar[str] = "updated"
    schema_version: ClassVar[int] = 2
    record: EmployeeRecord
    changed: list[str] = Field(description="Names of the fields that changed.")


class EmployeePromoted(_EmployeeEvent):
    """An employee's job level went up."""

    action: ClassVar[str] = "promoted"
    from_level: int | None
    to_level: int
    promoted_on: date


class EmployeeDeparted(_EmployeeEvent):
    """An employee left the organisation."""

    action: ClassVar[str] = "departed"
    left_on: date
    reason: Literal["voluntary", "involuntary", "other"]
    deprovisioned: bool = Field(
        default=False,
        description="The identity provider deleted the user (SCIM DELETE). When a departed "
        "employee is deleted later, a second EmployeeDeparted restates the same departure "
        "with deprovisioned=true.",
    )


class EmployeeReinstated(_EmployeeEvent):
    """A departed employee was made active again (rehire or a departure undone)."""

    action: ClassVar[str] = "reinstated"
    reinstated_on: date


class EmployeeErased(_EmployeeEvent):
    """The employee's personal data was erased (GDPR art. 17) without rewriting history.

    Their data key is destroyed: every personal field of their events now reads as
    null, everywhere those events were stored or sent. Carries no personal data; read
    models drop what they kept of the person. Facts (dates, levels, enrollments) stay.
    """

    action: ClassVar[str] = "erased"
    erased_on: date


class _EnrollmentEvent(EventContract):
    service: ClassVar[str] = SERVICE
    aggregate: ClassVar[str] = "enrollment"
    enrollment_id: str
    program_id: str
    employee_id: EmployeeId
    role: Role


class ApplicationSubmitted(_EnrollmentEvent):
    """An employee applied to a program as mentor or mentee."""

    action: ClassVar[str] = "submitted"
    profile: Profile
    submitted_on: date


class ParticipantEnrolled(_EnrollmentEvent):
    """An application was approved (automatically, by an admin, or off the waitlist)."""

    action: ClassVar[str] = "enrolled"
    profile: Profile
    enrolled_on: date
    from_waitlist: bool = Field(
        default=False,
        description=(
            "True when the service enrolled the applicant on its own, off the program's "
            "waitlist, because a place freed up (a withdrawal, a departure, a raised cap); "
            "false for an enrollment decided at application or approved by a manager."
        ),
    )


class ApplicationWaitlisted(_EnrollmentEvent):
    """An eligible application waits for a place."""

    action: ClassVar[str] = "waitlisted"
    waitlisted_on: date


class ApplicationRejected(_EnrollmentEvent):
    """An application was refused, with the reasons."""

    action: ClassVar[str] = "rejected"
    reasons: list[str]
    rejected_on: date


class ParticipantProfileUpdated(_EnrollmentEvent):
    """A participant changed their profile."""

    action: ClassVar[str] = "profile_updated"
    profile: Profile


class ParticipantWithdrew(_EnrollmentEvent):
    """A participant (or applicant) left the program."""

    action: ClassVar[str] = "withdrew"
    reason: Literal["self", "departure", "admin", "program_closed"]
    withdrew_on: date


registry().register(
    ProgramCreated,
    ProgramUpdated,
    ProgramOpened,
    ProgramClosed,
    ProgramArchived,
    EmployeeProvisioned,
    EmployeeUpdated,
    EmployeePromoted,
    EmployeeDeparted,
    EmployeeReinstated,
    EmployeeErased,
    ApplicationSubmitted,
    ParticipantEnrolled,
    ApplicationWaitlisted,
    ApplicationRejected,
    ParticipantProfileUpdated,
    ParticipantWithdrew,
)


def _v1_record_is_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried the same fields in clear; a clear value is still a valid v2 value."""
    return data


registry().register_upcaster(EmployeeProvisioned.event_type(), 1, _v1_record_is_v2)
registry().register_upcaster(EmployeeUpdated.event_type(), 1, _v1_record_is_v2)
