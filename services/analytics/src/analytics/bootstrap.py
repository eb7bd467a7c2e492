"""The composition of the analytics service: everything the kit's app factory needs.

One :class:`ReadModelControl` per app is shared by the consumer workers, the rebuild
worker and the admin router. To add a feature (webhooks, say), append its routers,
workers and problem types to the lists below.
"""

from importlib.metadata import version
from pathlib import Path

from analytics.adapters.tables import metadata
from analytics.application.control import ReadModelControl
from analytics.application.readmodels import READ_MODELS, SERVICE
from analytics.application.rebuilds import Rebuilder, RebuildWorker
from analytics.application.sources import Sources
from analytics.config import analytics_settings
from analytics.domain.errors import (
    ProgramNotFoundError,
    RebuildNotFoundError,
    RebuildRunningError,
    UnknownReadModelError,
)
from analytics.entrypoints.api import admin, metrics
from analytics.entrypoints.consumers import ConsumerWorker
from analytics.webhooks import Webhooks
from mentorship_kit.app import ServiceSpec, WorkerFactory
from mentorship_kit.context import ServiceContext
from mentorship_kit.problems import ProblemType

# The service's Alembic revisions, shipped in the package (see mentorship_kit.migrations).
MIGRATIONS = Path(__file__).parent / "migrations" / "versions"

DESCRIPTION = (
    "Read models only: program KPIs, retention against non-participants, at-risk pairs, "
    "satisfaction and sessions by month — every figure as of any past date, small groups "
    "suppressed, every table also as CSV. Consumes every service's events; publishes none."
)
_URN = "urn:mentorship:problem:"
PROBLEM_TYPES = {
    ProgramNotFoundError: ProblemType(404, "Program not found", f"{_URN}program-not-found"),
    UnknownReadModelError: ProblemType(404, "Read model not found", f"{_URN}read-model-not-found"),
    RebuildNotFoundError: ProblemType(404, "Rebuild not found", f"{_URN}rebuild-not-found"),
    RebuildRunningError: ProblemType(409, "Rebuild already running", f"{_URN}rebuild-running"),
}


def _rebuild_worker(control: ReadModelControl) -> WorkerFactory:
    def rebuild_worker(context: ServiceContext) -> RebuildWorker:
        settings = analytics_settings(context.settings)
        return RebuildWorker(
            Rebuilder(
                context.engine,
                Sources(context.js, settings),
                control,
                settings.analytics_rebuild_batch_size,
            )
        )

    return rebuild_worker


def build_spec() -> ServiceSpec:
    control = ReadModelControl()
    webhooks = Webhooks()
    return ServiceSpec(
        name=SERVICE,
        title="Mentorship analytics service",
        version=version("mentorship-analytics"),
        metadata=metadata,
        migrations=MIGRATIONS,
        description=DESCRIPTION,
        routers=[metrics.router, admin.admin_router(control), webhooks.router],
        workers=[
            *(ConsumerWorker(model, control) for model in READ_MODELS.values()),
            _rebuild_worker(control),
            *webhooks.workers,
        ],
        problem_types=PROBLEM_TYPES,
    )
