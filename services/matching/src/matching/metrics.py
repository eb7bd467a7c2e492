"""What the matching service counts. Labels never carry ids or free text.

Counted where a command committed (not in projections, which also run on rebuilds and
retries); an Idempotency-Key replay did nothing new and is not counted again.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

SERVICE: Final = "matching"

RUN_SECONDS = Histogram(
    "mentorship_match_run_seconds",
    "Time to build the pool and solve one match run (scoring + solving).",
    ["service", "objective", "format"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)
RUNS = Counter(
    "mentorship_match_runs_total",
    "Match runs recorded, by kind (run, rematch) and whether they were dry runs.",
    ["service", "kind", "dry_run"],
)
PROPOSALS = Counter(
    "mentorship_match_proposals_total", "Pairs proposed by recorded match runs.", ["service"]
)
PAIRS = Counter(
    "mentorship_pair_transitions_total",
    "Pair changes: proposed, accepted, formed, declined, ended.",
    ["service", "transition"],
)
MENTOR_REQUESTS = Counter(
    "mentorship_mentor_request_transitions_total",
    "Mentor request changes: requested, accepted, declined, expired, exhausted, cancelled.",
    ["service", "transition"],
)
WORKER_FAILURES = Counter(
    "mentorship_matching_worker_failures_total",
    "Items a background worker failed to apply (retried on its next round), by task.",
    ["service", "task"],
)

_PAIR_TRANSITIONS: Final = {
    "PairProposed": "proposed",
    "PairAccepted": "accepted",
    "PairFormed": "formed",
    "PairDeclined": "declined",
    "PairEnded": "ended",
}
_REQUEST_TRANSITIONS: Final = {
    "MentorRequested": "requested",
    "MentorRequestAccepted": "accepted",
    "MentorRequestDeclined": "declined",
    "MentorRequestExpired": "expired",
    "MentorRequestExhausted": "exhausted",
    "MentorRequestCancelled": "cancelled",
}


def count_events(event_types: list[str]) -> None:
    """Count the pair and mentor-request transitions among committed events."""
    for event_type in event_types:
        if (transition := _PAIR_TRANSITIONS.get(event_type)) is not None:
            PAIRS.labels(SERVICE, transition).inc()
        elif (transition := _REQUEST_TRANSITIONS.get(event_type)) is not None:
            MENTOR_REQUESTS.labels(SERVICE, transition).inc()
