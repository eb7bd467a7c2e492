"""What the sessions service counts. Labels never carry ids or free text."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

SERVICE: Final = "sessions"

SESSIONS = Counter(
    "mentorship_sessions_recorded_total",
    "Session changes: logged (held), scheduled, rescheduled, cancelled, no_show.",
    ["service", "action"],
)
FEEDBACK = Counter(
    "mentorship_feedback_submitted_total",
    "Feedback answers by kind: session, checkin, exit, fit_check_passed, fit_check_failed.",
    ["service", "kind"],
)
GOALS = Counter(
    "mentorship_goal_changes_total",
    "Goal changes: set, progressed, achieved, dropped, milestone_added, milestone_completed.",
    ["service", "change"],
)


def count_session(action: str) -> None:
    SESSIONS.labels(SERVICE, action).inc()


# Logging a session is the hot path: its child is looked up once.
_LOGGED = SESSIONS.labels(SERVICE, "logged")


def count_logged() -> None:
    _LOGGED.inc()


def count_feedback(kind: str) -> None:
    FEEDBACK.labels(SERVICE, kind).inc()


def count_goal(change: str) -> None:
    GOALS.labels(SERVICE, change).inc()
