"""The analytics process: ``uvicorn analytics.main:create_app --factory``."""

from fastapi import FastAPI

from analytics.bootstrap import build_spec
from analytics.config import AnalyticsSettings
from mentorship_kit.app import create_app as create_service_app


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    """The ASGI app, configured from the environment (or ``settings``); a bad setting
    fails here, at start."""
    return create_service_app(build_spec(), settings or AnalyticsSettings())
