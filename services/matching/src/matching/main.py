"""The matching process: ``uvicorn matching.main:create_app --factory``."""

from fastapi import FastAPI

from matching.application.clock import Clock, utc_now
from matching.bootstrap import build_spec
from matching.config import MatchingSettings
from matching.entrypoints.api.deps import CLOCK_STATE
from mentorship_kit.app import create_app as create_service_app
from mentorship_kit.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    """The ASGI app, configured from the environment unless `settings` are given; a bad
    setting fails here, at start. `clock` is the one time source of endpoints and
    workers (tests move it to expire mentor requests)."""
    app = create_service_app(build_spec(clock=clock), settings or MatchingSettings())
    setattr(app.state, CLOCK_STATE, clock)
    return app
