"""The composition of the enrollment service: everything the kit's app factory needs."""

from importlib.metadata import version
from pathlib import Path

from enrollment.adapters.projection import QUERIES
from enrollment.adapters.tables import metadata, personal_data_keys
from enrollment.entrypoints.api import directory, enrollments, programs
from enrollment.entrypoints.api.problems import PROBLEM_TYPES
from enrollment.entrypoints.scim.router import router as scim_router
from mentorship_kit.app import ServiceSpec
from mentorship_kit.projection import inline_handler

# The service's Alembic revisions, shipped in the package (see mentorship_kit.migrations).
MIGRATIONS = Path(__file__).parent / "migrations" / "versions"

SERVICE = "enrollment"
DESCRIPTION = (
    "Programs, the employee directory fed by the HRIS (SCIM 2.0 and bulk import), "
    "applications and participants. "
    "Publishes program, employee and enrollment events; consumes none."
)


def build_spec() -> ServiceSpec:
    return ServiceSpec(
        name=SERVICE,
        title="Mentorship enrollment service",
        version=version("mentorship-enrollment"),
        metadata=metadata,
        migrations=MIGRATIONS,
        routers=[programs.router, directory.router, enrollments.router, scim_router],
        inline_projections=[inline_handler(QUERIES, SERVICE)],
        description=DESCRIPTION,
        personal_data_keys=personal_data_keys,
        problem_types=PROBLEM_TYPES,
    )
