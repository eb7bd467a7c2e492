"""Settings of one service process, read only from the environment.

There is no prefix: one process runs one service, so ``DATABASE_URL`` and ``NATS_URL``
are unambiguous and match what ``make run``, docker-compose and Kubernetes set. Every
value is checked when the settings are built, so a bad deployment fails at start with a
message naming the variable, never later on the first request.
"""

from __future__ import annotations

import logging
from typing import Annotated, Final, Self
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mentorship_kit.db import is_postgres, normalize_url
from mentorship_kit.personal import decode_master_key

# Published on purpose: it is accepted in dev mode only, which every start logs loudly.
# Long enough for PyJWT's HS256 key-length check.
DEFAULT_DEV_SECRET: Final = "mentorship-local-development-secret-do-not-deploy"  # noqa: S105 - see above
# The personal-data master key of dev mode (32 bytes, base64url); published like the above.
DEFAULT_DEV_PERSONAL_DATA_KEY: Final = "ZGV2LW9ubHktcGVyc29uYWwtZGF0YS1rZXktLS0tLS0"
_NATS_SCHEMES: Final = frozenset({"nats", "tls", "ws", "wss"})
_HTTP_SCHEMES: Final = frozenset({"http", "https"})


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServiceSettings(BaseSettings):
    """Configuration of one service process; see the module docstring."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, case_sensitive=False)

    database_url: str | None = None
    # PostgreSQL connections per process: a fixed pool, plus overflow for bursts. Every
    # process of every service on one server adds up, and past the server's
    # max_connections (100 by default) new connections are refused and requests answer
    # 503. Overflow connections are opened and closed again under load (each costs a
    # server backend and a handshake), so the default is a fixed pool that requests
    # queue on. The outbox relay keeps two of them (its leader lock and its LISTEN),
    # hence at least three. See docs/operations.md, "Size the database connections".
    database_pool_size: int = Field(default=10, ge=3, le=1000)
    database_max_overflow: int = Field(default=0, ge=0, le=1000)
    # How long a request waits for a pooled connection before answering 503.
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream_replicas: int = Field(default=1, ge=1, le=5)
    dev_mode: bool = False
    auth_dev_secret: str | None = Field(default=None, min_length=32)
    auth_jwks_url: str | None = None
    auth_public_key: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)
    auth_jwks_cache_seconds: int = Field(default=300, ge=1)
    # Wraps the data keys that seal personal data (base64 of 32 random bytes); required
    # outside dev mode by services whose events carry personal data.
    personal_data_key: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True
    cors_origins: Annotated[list[str], NoDecode] = []
    # How long start-up waits for the database and NATS before serving anyway, un-ready.
    startup_wait_seconds: float = Field(default=10.0, ge=0)
    # gc.freeze() once started, so full collections skip what lives as long as the
    # process (see mentorship_kit.db.freeze_startup_heap).
    freeze_startup_heap: bool = True
    # Allocations between two young-generation garbage collections (Python's default is
    # 700; 0 keeps it). A 10,000-row import keeps ~1 M objects alive until it answers,
    # and at 700 they were traced again and again by ~700 young, ~60 middle and 5 full
    # collections per batch: a fifth of its CPU. At 20,000 one collection pauses ~3 ms.
    gc_young_threshold: int = Field(default=20_000, ge=0)
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=20.0, gt=0)
    # Run the service's migrations (upgrade to head) at start-up. Unset: yes on SQLite
    # (the embedded default) and in DEV_MODE; no otherwise, where the deployment's
    # migration Job runs `mentorship migrate` and the service waits, un-ready, until the
    # schema is no longer behind.
    migrate_on_start: bool | None = None

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        normalize_url(value)
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats_servers(cls, value: str) -> str:
        servers = [part.strip() for part in value.split(",") if part.strip()]
        if not servers:
            raise ValueError("NATS_URL names no server")
        for server in servers:
            parts = urlsplit(server)
            if parts.scheme not in _NATS_SCHEMES or not parts.hostname:
                raise ValueError(f"{server!r} is not a nats://host:port URL")
        return ",".join(servers)

    @field_validator("auth_jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in _HTTP_SCHEMES or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("auth_public_key")
    @classmethod
    def _pem_public_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # Environment variables often carry a PEM with escaped newlines.
        pem = value.replace("\\n", "\n").strip() + "\n"
        try:
            key = load_pem_public_key(pem.encode())
        except ValueError as exc:
            raise ValueError(f"AUTH_PUBLIC_KEY is not a PEM public key: {exc}") from exc
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValueError("AUTH_PUBLIC_KEY must be an RSA or EC public key")  # noqa: TRY004 - a configuration value, reported by pydantic
        return pem

    @field_validator("personal_data_key")
    @classmethod
    def _master_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        decode_master_key(value.get_secret_value())
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _auth_is_safe(self) -> Self:
        if self.auth_dev_secret is not None and not self.dev_mode:
            raise ValueError(
                "AUTH_DEV_SECRET is only accepted with DEV_MODE=true: "
                "shared-secret tokens are for local development"
            )
        if (
            not self.dev_mode
            and self.personal_data_key is not None
            and decode_master_key(self.personal_data_key.get_secret_value())
            == decode_master_key(DEFAULT_DEV_PERSONAL_DATA_KEY)
        ):
            raise ValueError("PERSONAL_DATA_KEY is the published dev key: generate one")
        if not self.dev_mode and not (self.auth_jwks_url or self.auth_public_key):
            raise ValueError(
                "no token verification key: set AUTH_JWKS_URL or AUTH_PUBLIC_KEY "
                "(or DEV_MODE=true for local development with HS256 dev tokens)"
            )
        return self

    @property
    def nats_servers(self) -> list[str]:
        return self.nats_url.split(",")

    @property
    def dev_secret(self) -> str | None:
        """The HS256 secret dev tokens are signed with; None outside dev mode."""
        if not self.dev_mode:
            return None
        return self.auth_dev_secret or DEFAULT_DEV_SECRET

    @property
    def personal_data_master_key(self) -> bytes | None:
        """PERSONAL_DATA_KEY's bytes; the published dev key in dev mode; else None."""
        if self.personal_data_key is not None:
            return decode_master_key(self.personal_data_key.get_secret_value())
        return decode_master_key(DEFAULT_DEV_PERSONAL_DATA_KEY) if self.dev_mode else None

    def migrates_on_start(self, service: str) -> bool:
        """Whether start-up upgrades the schema or only checks it (``MIGRATE_ON_START``)."""
        if self.migrate_on_start is not None:
            return self.migrate_on_start
        return self.dev_mode or not is_postgres(self.database_url_for(service))

    def database_url_for(self, service: str) -> str:
        """``DATABASE_URL``, or the service's SQLite file under ``./var/``."""
        return self.database_url or f"sqlite+aiosqlite:///./var/{service}.db"
