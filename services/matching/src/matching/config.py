"""Settings of the matching process, read only from the environment."""

from datetime import timedelta
from typing import Final

from pydantic import Field

from mentorship_kit.settings import ServiceSettings

DEFAULT_REQUEST_TTL_HOURS: Final = 168.0
DEFAULT_WORKER_POLL_SECONDS: Final = 1.0


class MatchingSettings(ServiceSettings):
    """The kit's settings (DATABASE_URL, NATS_URL, AUTH_*, LOG_*, ...) and these.

    Settings only this service needs are declared here, so that they are validated with
    the rest when the process starts.
    """

    # How long a mentor has to answer a self-directed request before the mentee's next
    # choice is asked.
    mentor_request_ttl_hours: float = Field(default=DEFAULT_REQUEST_TTL_HOURS, gt=0)
    # How often the background workers look for due requests and listed closures when
    # nothing woke them.
    worker_poll_seconds: float = Field(default=DEFAULT_WORKER_POLL_SECONDS, gt=0, le=60)


def request_ttl(settings: ServiceSettings) -> timedelta:
    """The answer window of a mentor request (the default for plain kit settings)."""
    hours = (
        settings.mentor_request_ttl_hours
        if isinstance(settings, MatchingSettings)
        else DEFAULT_REQUEST_TTL_HOURS
    )
    return timedelta(hours=hours)


def worker_poll(settings: ServiceSettings) -> float:
    if isinstance(settings, MatchingSettings):
        return settings.worker_poll_seconds
    return DEFAULT_WORKER_POLL_SECONDS
