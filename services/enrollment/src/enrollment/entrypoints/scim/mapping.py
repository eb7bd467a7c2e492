"""An employee as a SCIM User, and a SCIM User as the employee's record.

- ``id`` is the employee id. At creation it is ``externalId`` when the identity
  provider sends one (the HRIS id, typically), else ``userName``.
- ``userName`` is the stored login name, or the employee id for employees the HRIS
  created through the REST API (so ``filter=userName eq "<employee id>"`` finds them).
- ``active: false`` is a departure (today, reason "other"); ``active: true`` on a
  departed employee reinstates them.
- The hire date is not a SCIM attribute: SCIM writes keep the one the HRIS sent.
- Empty strings in the record (a name or email the identity provider did not send)
  are absent attributes in SCIM.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scim2_models import Meta

from enrollment.domain.employees import Employee
from enrollment.entrypoints.scim.models import DirectoryUser, Email, EnterpriseUser, Manager, Name
from enrollment.entrypoints.scim.models import Employee as EmployeeExtension
from mentorship_contracts.enrollment import EmployeeRecord


def employee_id_for(user: Any) -> str | None:
    """The employee id a creation request names (externalId first, then userName)."""
    identifier: str | None = user.external_id or user.user_name
    return identifier


def languages_of(preferred_language: str | None) -> list[str]:
    if not preferred_language:
        return []
    return [part.strip() for part in preferred_language.split(",") if part.strip()]


def to_record(user: Any, current: Employee | None) -> tuple[EmployeeRecord, bool]:
    """(record, active) for what ``user`` says, keeping what SCIM does not carry."""
    enterprise = user[EnterpriseUser]
    extension = user[EmployeeExtension]
    email = user.emails[0] if user.emails else None
    manager = enterprise.manager if enterprise else None
    record = EmployeeRecord(
        email=(email.value if email else None) or "",
        email_type=email.type.value if email is not None and email.type is not None else None,
        given_name=(user.name.given_name if user.name else None) or "",
        family_name=(user.name.family_name if user.name else None) or "",
        department=enterprise.department if enterprise else None,
        title=user.title,
        job_level=extension.job_level if extension else None,
        manager_id=manager_id_of(manager),
        location=extension.location if extension else None,
        timezone=user.timezone,
        languages=languages_of(user.preferred_language),
        hired_on=current.record.hired_on if current else None,
        user_name=user.user_name,
        external_id=user.external_id,
        employee_number=enterprise.employee_number if enterprise else None,
    )
    return record, True if user.active is None else bool(user.active)


def manager_id_of(manager: Manager | None) -> str | None:
    """The manager's employee id: ``value``, else the last segment of ``$ref``."""
    if manager is None:
        return None
    if manager.value:
        return manager.value
    if manager.ref:
        return str(manager.ref).rstrip("/").rsplit("/", 1)[-1] or None
    return None


def to_user(
    employee: Employee, *, users_url: str, created: datetime, last_modified: datetime
) -> Any:
    """The SCIM User of ``employee``; ``users_url`` is the absolute URL of /Users."""
    record = employee.record
    user = DirectoryUser(
        id=employee.employee_id,
        external_id=record.external_id,
        user_name=record.user_name or employee.employee_id,
        name=Name(given_name=record.given_name or None, family_name=record.family_name or None)
        if record.given_name or record.family_name
        else None,
        title=record.title,
        preferred_language=", ".join(record.languages) or None,
        timezone=record.timezone,
        active=employee.is_active,
        emails=[Email(value=record.email, type=record.email_type)] if record.email else None,
        meta=Meta(
            resource_type="User",
            created=created,
            last_modified=last_modified,
            location=f"{users_url}/{employee.employee_id}",
        ),
    )
    if record.employee_number or record.department or record.manager_id:
        user[EnterpriseUser] = EnterpriseUser(
            employee_number=record.employee_number,
            department=record.department,
            manager=Manager(value=record.manager_id, ref=f"{users_url}/{record.manager_id}")
            if record.manager_id
            else None,
        )
    if record.job_level is not None or record.location:
        user[EmployeeExtension] = EmployeeExtension(
            job_level=record.job_level, location=record.location
        )
    return user
