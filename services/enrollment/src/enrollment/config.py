"""Settings of the enrollment process, read only from the environment."""

from mentorship_kit.settings import ServiceSettings


class EnrollmentSettings(ServiceSettings):
    """The kit's settings (DATABASE_URL, NATS_URL, AUTH_*, LOG_*, ...).

    Settings only this service needs are declared here, so that they are validated with
    the rest when the process starts.
    """
