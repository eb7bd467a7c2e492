"""The enrollment process: ``uvicorn enrollment.main:create_app --factory``."""

from fastapi import FastAPI

from enrollment.bootstrap import build_spec
from enrollment.config import EnrollmentSettings
from enrollment.entrypoints.scim.errors import install_scim_errors
from mentorship_kit.app import create_app as create_service_app


def create_app(settings: EnrollmentSettings | None = None) -> FastAPI:
    """The ASGI app, configured from the environment unless ``settings`` are given.

    A bad setting fails here, at start.
    """
    app = create_service_app(build_spec(), settings or EnrollmentSettings())
    install_scim_errors(app)
    return app
