"""The domain stays pure: no module under a service's domain/ imports infrastructure.

Aggregates decide and return events; frameworks, databases, brokers and telemetry live
in adapters/ and entrypoints/. The contracts package is allowed: it is plain data.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "fastapi",
    "starlette",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "nats",
    "opentelemetry",
    "httpx",
    "uvicorn",
    "prometheus_client",
    "pydantic_settings",
    "structlog",
    "mentorship_kit",
}


def infrastructure_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        found.extend(name for name in names if name.split(".")[0] in FORBIDDEN)
    return found


def domain_modules() -> list[Path]:
    return sorted(REPO.glob("services/*/src/*/domain/**/*.py"))


def test_every_service_has_a_domain_layer():
    services = {p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").exists()}
    with_domain = {p.parts[-5] for p in REPO.glob("services/*/src/*/domain/__init__.py")}
    assert services <= with_domain


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_domain_module_imports_no_infrastructure(path: Path):
    assert infrastructure_imports(path.read_text()) == []


def test_the_check_catches_an_offending_import():
    source = "import os\nfrom sqlalchemy.ext.asyncio import AsyncEngine\nimport nats.js\n"
    assert infrastructure_imports(source) == ["sqlalchemy.ext.asyncio", "nats.js"]
