"""docker-compose.yml: what starts after what, and how each part shows it is healthy.

The compose-spec schema and `docker compose config` run in `deploy/validate.sh`; these
tests check the project's rules: every long-running container has a healthcheck, every
dependency waits for health (or for a one-shot to succeed), migrations run before their
service, and the support files (PostgreSQL init, NATS, collector) agree with it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SERVICES = ("enrollment", "matching", "sessions", "analytics")
# The collector image has no shell or HTTP client, so Docker cannot probe it; nothing
# waits for it (telemetry export is best effort). Any other exception is a bug.
NO_HEALTHCHECK = {"otel-collector"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def one_shots(compose: dict[str, Any]) -> set[str]:
    return {name for name, s in compose["services"].items() if s.get("restart") == "no"}


def test_the_file_has_every_part(compose: dict[str, Any]) -> None:
    expected = {"postgres", "nats", "jaeger", "otel-collector"}
    expected |= set(SERVICES) | {f"{s}-migrate" for s in SERVICES}
    assert set(compose["services"]) == expected


def test_long_running_services_have_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in one_shots(compose) or name in NO_HEALTHCHECK:
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] == "CMD", f"{name}: exec form, no shell needed"
        assert not check.get("disable", False)


def test_dependencies_wait_for_health_or_success(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if dependency in one_shots(compose):
                assert rule["condition"] == "service_completed_successfully", (name, dependency)
            else:
                assert rule["condition"] == "service_healthy", (name, dependency)
                assert "healthcheck" in services[dependency], (name, dependency)


def test_each_service_starts_after_its_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert {"postgres", "nats", f"{name}-migrate"} <= set(depends)
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["mentorship", "migrate", "--service", name]
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
        # The same image: the migration that runs is the one the service was built with.
        assert migrate["image"] == services[name]["image"]
        assert migrate["build"]["args"] == {"SERVICE": name}
        assert services[name]["build"]["args"] == {"SERVICE": name}
        assert (
            migrate["environment"]["DATABASE_URL"] == services[name]["environment"]["DATABASE_URL"]
        )
        # Only the one-shot migrates; the service waits for it (un-ready) if it must.
        assert services[name]["environment"]["MIGRATE_ON_START"] == "false"


def test_each_service_has_its_own_database(compose: dict[str, Any]) -> None:
    init = (REPO / "deploy" / "compose" / "postgres-init.sql").read_text(encoding="utf-8")
    created = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);", init))
    roles = set(re.findall(r"CREATE ROLE (\w+) LOGIN", init))
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(
        m.startswith("./deploy/compose/postgres-init.sql:/docker-entrypoint-initdb.d/")
        for m in mounts
    )
    for name in SERVICES:
        url = urlsplit(compose["services"][name]["environment"]["DATABASE_URL"])
        assert url.scheme == "postgresql+asyncpg"
        assert url.hostname == "postgres"
        database = url.path.removeprefix("/")
        assert database == name
        assert created[database] == url.username
        assert url.username in roles


def test_services_are_configured_like_the_settings_expect(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["OTEL_SERVICE_NAME"] == name
        assert environment["NATS_URL"] == "nats://nats:4222"
        assert environment["DEV_MODE"] == "true"
        collector = urlsplit(environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert collector.hostname == "otel-collector"
        assert collector.port == 4318
        assert compose["services"][name]["read_only"] is True
        assert compose["services"][name]["cap_drop"] == ["ALL"]


def test_published_ports_are_local_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_the_collector_forwards_traces_to_jaeger(compose: dict[str, Any]) -> None:
    config = yaml.safe_load(
        (REPO / "deploy" / "compose" / "otel-collector.yaml").read_text(encoding="utf-8")
    )
    pipeline = config["service"]["pipelines"]["traces"]
    for section in ("receivers", "processors", "exporters"):
        for component in pipeline[section]:
            assert component in config[section], f"{section}: {component} is not defined"
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    (exporter,) = pipeline["exporters"]
    host = config["exporters"][exporter]["endpoint"].split(":")[0]
    assert host in compose["services"]
    assert (
        compose["services"]["otel-collector"]["depends_on"]["jaeger"]["condition"]
        == "service_healthy"
    )


def nats_server() -> Path:
    return Path(sys.executable).parent / "nats-server"


def test_the_nats_configuration_is_valid_and_fsyncs_every_write(compose: dict[str, Any]) -> None:
    conf = REPO / "deploy" / "compose" / "nats.conf"
    assert re.search(
        r"^\s*sync_interval:\s*always\s*$", conf.read_text(encoding="utf-8"), re.MULTILINE
    )
    mounts = compose["services"]["nats"]["volumes"]
    assert "./deploy/compose/nats.conf:/etc/nats/nats.conf:ro" in mounts
    result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [str(nats_server()), "-t", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
