"""The composition of the sessions service: everything the kit's app factory needs."""

from importlib.metadata import version
from pathlib import Path

from mentorship_kit.app import ServiceSpec
from mentorship_kit.projection import inline_handler
from sessions.adapters.tables import metadata
from sessions.adapters.views import SessionViews
from sessions.entrypoints.api import feedback, goals, pairs, sessions
from sessions.entrypoints.api.errors import PROBLEM_TYPES
from sessions.entrypoints.consumers import pair_events, program_events

# The service's Alembic revisions, shipped in the package (see mentorship_kit.migrations).
MIGRATIONS = Path(__file__).parent / "migrations" / "versions"

SERVICE = "sessions"
DESCRIPTION = (
    "Mentoring sessions, goals, feedback and check-ins of active pairs. "
    "Consumes pair events; publishes session, goal and feedback events. "
    "Notes, topics, titles and comments are visible to the pair's members only and never "
    "leave the service in events."
)


def build_spec() -> ServiceSpec:
    return ServiceSpec(
        name=SERVICE,
        title="Mentorship sessions service",
        version=version("mentorship-sessions"),
        metadata=metadata,
        migrations=MIGRATIONS,
        description=DESCRIPTION,
        routers=[pairs.router, sessions.router, goals.router, feedback.router],
        workers=[pair_events, program_events],
        inline_projections=[inline_handler(SessionViews(), SERVICE)],
        problem_types=PROBLEM_TYPES,
    )
