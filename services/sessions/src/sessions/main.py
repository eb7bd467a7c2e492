"""The sessions process: ``uvicorn sessions.main:create_app --factory``."""

from fastapi import FastAPI

from mentorship_kit.app import create_app as create_service_app
from sessions.bootstrap import build_spec
from sessions.config import SessionsSettings


def create_app(settings: SessionsSettings | None = None) -> FastAPI:
    """The ASGI app, configured from the environment unless ``settings`` are given.

    A bad setting fails here, at start.
    """
    return create_service_app(build_spec(), settings or SessionsSettings())
