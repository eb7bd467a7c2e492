"""Domain metrics of the enrollment service (default registry, ``service`` label).

Counted by the entrypoints after a command committed, so a retried or refused command
is never counted.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

SERVICE: Final = "enrollment"

APPLICATIONS = Counter(
    "mentorship_enrollment_applications_total",
    "Applications decided at submission, by role and outcome "
    "(enrolled, pending_approval, waitlisted, rejected).",
    ["service", "role", "outcome"],
)
ENROLLMENT_CHANGES = Counter(
    "mentorship_enrollment_status_changes_total",
    "Later decisions on enrollments, by the status they led to.",
    ["service", "status"],
)
DIRECTORY_ROWS = Counter(
    "mentorship_enrollment_directory_rows_total",
    "Employee records received from the HRIS, by channel (rest, batch, scim) and outcome.",
    ["service", "channel", "outcome"],
)
DEPARTURE_WITHDRAWALS = Counter(
    "mentorship_enrollment_departure_withdrawals_total",
    "Enrollments withdrawn because the employee left.",
    ["service"],
)


def application_decided(role: str, outcome: str) -> None:
    APPLICATIONS.labels(SERVICE, role, outcome).inc()


def enrollment_changed(status: str) -> None:
    ENROLLMENT_CHANGES.labels(SERVICE, status).inc()


def directory_rows(channel: str, outcome: str, count: int = 1) -> None:
    if count:
        DIRECTORY_ROWS.labels(SERVICE, channel, outcome).inc(count)


def departure_withdrawals(count: int) -> None:
    if count:
        DEPARTURE_WITHDRAWALS.labels(SERVICE).inc(count)
