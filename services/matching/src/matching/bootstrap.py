"""The composition of the matching service: everything the kit's app factory needs."""

from importlib.metadata import version
from pathlib import Path

from matching.adapters.tables import metadata
from matching.adapters.views import MatchingViews
from matching.application.clock import Clock, utc_now
from matching.entrypoints.api import pairs, programs, requests, runs
from matching.entrypoints.api.errors import PROBLEM_TYPES
from matching.entrypoints.consumers import Wakeup, consumer_workers
from matching.entrypoints.workers import background_workers
from mentorship_kit.app import ServiceSpec
from mentorship_kit.projection import inline_handler

# The service's Alembic revisions, shipped in the package (see mentorship_kit.migrations).
MIGRATIONS = Path(__file__).parent / "migrations" / "versions"

SERVICE = "matching"
DESCRIPTION = (
    "Candidate pools, match runs with explained proposals, and mentoring pairs. "
    "Consumes enrollment events (the pool) and sessions' failed fit checks; publishes "
    "match-run, pair, mentor-request and blocked-pair events."
)


def build_spec(*, clock: Clock = utc_now) -> ServiceSpec:
    """The service; `clock` is the time the background workers decide at (the HTTP
    endpoints read theirs from the app, see `matching.main.create_app`)."""
    wakeup = Wakeup()
    return ServiceSpec(
        name=SERVICE,
        title="Mentorship matching service",
        version=version("mentorship-matching"),
        metadata=metadata,
        migrations=MIGRATIONS,
        description=DESCRIPTION,
        routers=[runs.router, pairs.router, requests.router, programs.router],
        workers=[*consumer_workers(wakeup), *background_workers(wakeup, clock)],
        inline_projections=[inline_handler(MatchingViews(), SERVICE)],
        problem_types=PROBLEM_TYPES,
    )
