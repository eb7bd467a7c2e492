"""Domain metrics of the enrollment service (default registry, ``service`` label).

Counted by the entrypoints after a command committed, so a retried or refused command
is never counted.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

from enrollment.application.waitlist import Promotions

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

WAITLIST_PROMOTIONS = Counter(
    "mentorship_enrollment_waitlist_promotions_total",
    "Waitlisted mentees decided on automatically when a place freed up, by what freed it "
    "(withdrawal, departure, program_update) and outcome (enrolled, or rejected when the "
    "program's current rules refuse them).",
    ["service", "cause", "outcome"],
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


def waitlist_promotions(cause: str, promotions: Promotions) -> None:
    """Count the waitlist's moves; each enrolled one is also a status change."""
    for outcome, ids in (("enrolled", promotions.enrolled), ("rejected", promotions.rejected)):
        if ids:
            WAITLIST_PROMOTIONS.labels(SERVICE, cause, outcome).inc(len(ids))
            ENROLLMENT_CHANGES.labels(SERVICE, outcome).inc(len(ids))
