"""Service settings come from the environment and refuse bad values at start."""

import base64
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from mentorship_kit.settings import (
    DEFAULT_DEV_PERSONAL_DATA_KEY,
    DEFAULT_DEV_SECRET,
    ServiceSettings,
)

SETTINGS_VARIABLES = [
    "DATABASE_URL", "NATS_URL", "NATS_STREAM_REPLICAS", "DEV_MODE", "AUTH_DEV_SECRET",
    "AUTH_JWKS_URL", "AUTH_PUBLIC_KEY", "AUTH_ISSUER", "AUTH_AUDIENCE", "LOG_LEVEL",
    "LOG_JSON", "CORS_ORIGINS", "PERSONAL_DATA_KEY", "MIGRATE_ON_START",
    "DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW", "DATABASE_POOL_TIMEOUT_SECONDS",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def test_dev_mode_defaults():
    settings = ServiceSettings(dev_mode=True)

    assert settings.database_url_for("enrollment") == "sqlite+aiosqlite:///./var/enrollment.db"
    assert settings.nats_servers == ["nats://127.0.0.1:4222"]
    assert settings.dev_secret == DEFAULT_DEV_SECRET
    assert settings.log_level == "INFO"
    assert settings.cors_origins == []
    # A fixed pool: four services on one server stay far below max_connections (100).
    assert (settings.database_pool_size, settings.database_max_overflow) == (10, 0)
    assert settings.database_pool_timeout_seconds == 30.0


def test_values_are_read_from_unprefixed_environment_variables(monkeypatch):
    monkeypatch.setenv("DEV_MODE", "true")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@db:5432/enrollment")
    monkeypatch.setenv("NATS_URL", "nats://a:4222, nats://b:4222")
    monkeypatch.setenv("NATS_STREAM_REPLICAS", "3")
    monkeypatch.setenv("CORS_ORIGINS", "https://portal.example, https://admin.example")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "6")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "2")
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT_SECONDS", "5")

    settings = ServiceSettings()

    assert settings.database_url_for("enrollment") == "postgresql://postgres@db:5432/enrollment"
    assert settings.nats_servers == ["nats://a:4222", "nats://b:4222"]
    assert settings.nats_stream_replicas == 3
    assert settings.cors_origins == ["https://portal.example", "https://admin.example"]
    assert settings.log_level == "DEBUG"
    assert (settings.database_pool_size, settings.database_max_overflow) == (6, 2)
    assert settings.database_pool_timeout_seconds == 5.0


@pytest.mark.parametrize(
    ("database_url", "dev_mode", "variable", "migrates"),
    [
        (None, False, None, True),  # the embedded SQLite default
        ("postgresql://db/enrollment", True, None, True),  # make run on PostgreSQL
        ("postgresql://db/enrollment", False, None, False),  # production: the Job migrates
        ("postgresql://db/enrollment", True, "false", False),  # compose, the k8s dev overlay
        ("postgresql://db/enrollment", False, "true", True),
        ("sqlite:///./var/x.db", False, "false", False),
    ],
)
def test_start_up_migrates_on_sqlite_and_in_dev_mode_unless_told(
    monkeypatch, database_url, dev_mode, variable, migrates
):
    if variable is not None:
        monkeypatch.setenv("MIGRATE_ON_START", variable)

    settings = ServiceSettings(
        database_url=database_url, dev_mode=dev_mode, auth_jwks_url="https://idp.example/jwks"
    )

    assert settings.migrates_on_start("enrollment") is migrates


def test_outside_dev_mode_a_verification_key_is_required():
    with pytest.raises(ValidationError, match="AUTH_JWKS_URL or AUTH_PUBLIC_KEY"):
        ServiceSettings()


def test_outside_dev_mode_a_public_key_or_jwks_url_is_enough():
    assert ServiceSettings(auth_public_key=public_pem()).dev_secret is None
    assert ServiceSettings(auth_jwks_url="https://idp.example/jwks").auth_jwks_url


def test_dev_secret_is_refused_outside_dev_mode(monkeypatch):
    monkeypatch.setenv("AUTH_DEV_SECRET", "x" * 40)
    monkeypatch.setenv("AUTH_JWKS_URL", "https://idp.example/jwks")

    with pytest.raises(ValidationError, match="only accepted with DEV_MODE=true"):
        ServiceSettings()


def test_public_key_with_escaped_newlines_is_accepted():
    escaped = public_pem().replace("\n", "\\n")

    settings = ServiceSettings(auth_public_key=escaped)

    assert settings.auth_public_key is not None
    assert settings.auth_public_key.startswith("-----BEGIN PUBLIC KEY-----\n")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://db/enrollment", "unsupported database URL"),
        ("NATS_URL", "http://nats:4222", "is not a nats://host:port URL"),
        ("NATS_URL", " , ", "names no server"),
        ("NATS_STREAM_REPLICAS", "0", "greater than or equal to 1"),
        ("NATS_STREAM_REPLICAS", "many", "valid integer"),
        ("DEV_MODE", "perhaps", "valid boolean"),
        ("AUTH_JWKS_URL", "ftp://idp/jwks", "is not an http"),
        ("AUTH_PUBLIC_KEY", "not a key", "not a PEM public key"),
        ("AUTH_DEV_SECRET", "short", "at least 32 characters"),
        ("LOG_LEVEL", "LOUD", "unknown log level"),
        ("STARTUP_WAIT_SECONDS", "-1", "greater than or equal to 0"),
        ("DATABASE_POOL_SIZE", "2", "greater than or equal to 3"),
        ("DATABASE_MAX_OVERFLOW", "-1", "greater than or equal to 0"),
        ("DATABASE_POOL_TIMEOUT_SECONDS", "0", "greater than 0"),
    ],
)
def test_bad_values_fail_at_start_naming_the_setting(monkeypatch, variable, value, message):
    monkeypatch.setenv("DEV_MODE", "true")
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match=message) as raised:
        ServiceSettings()

    assert variable.lower() in str(raised.value)


def test_unknown_keyword_settings_are_refused():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ServiceSettings(dev_mode=True, databse_url="sqlite:///typo.db")


def test_the_personal_data_key_is_32_bytes_and_never_the_dev_one_outside_dev_mode():
    pem = public_pem()
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert ServiceSettings(auth_public_key=pem, personal_data_key=key).personal_data_master_key
    assert ServiceSettings(auth_public_key=pem).personal_data_master_key is None
    assert ServiceSettings(dev_mode=True).personal_data_master_key is not None
    with pytest.raises(ValidationError, match="32 bytes"):
        ServiceSettings(dev_mode=True, personal_data_key="c2hvcnQ=")
    with pytest.raises(ValidationError, match="published dev key"):
        ServiceSettings(auth_public_key=pem, personal_data_key=DEFAULT_DEV_PERSONAL_DATA_KEY)
