"""The Dockerfile and the NATS Helm values, read as text (no Docker engine or Helm here).

`deploy/validate.sh` lints the Dockerfile with hadolint; these tests check the project's
rules: the final stage holds only the virtual environment and runs as an unprivileged
user, and the NATS values keep three servers with file storage that fsyncs every write.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NATS_VALUES = REPO / "deploy" / "k8s" / "nats"


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split by FROM."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    result: list[list[str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(stripped)
    return result


def test_build_and_runtime_share_the_base_image() -> None:
    """The virtual environment links to the interpreter of the stage that built it."""
    bases = {stage[0].split()[1] for stage in stages()}
    assert len(stages()) == 2
    assert len(bases) == 1
    (base,) = bases
    assert ":" in base
    assert base.split(":")[1] != "latest"


def test_the_final_stage_holds_only_the_virtual_environment() -> None:
    final = stages()[-1]
    copies = [line for line in final if line.upper().startswith(("COPY ", "ADD "))]
    assert copies == ["COPY --from=build /app/.venv /app/.venv"]


def test_the_final_stage_runs_unprivileged_with_the_service_app() -> None:
    final = stages()[-1]
    users = [line for line in final if line.upper().startswith("USER ")]
    assert users == ["USER 10001:10001"]
    environment = " ".join(line for line in final if line.upper().startswith("ENV "))
    assert "UVICORN_APP=${SERVICE}.main:create_app" in environment
    (command,) = [line for line in final if line.upper().startswith("CMD ")]
    arguments = json.loads(command[len("CMD ") :])
    assert arguments[:2] == ["uvicorn", "--factory"]
    assert arguments[arguments.index("--port") + 1] == "8000"


def test_the_build_installs_one_service_without_dev_dependencies() -> None:
    build = next(stage for stage in stages() if stage[0].endswith(" AS build"))
    syncs = [line for line in build if "uv sync" in line]
    assert len(syncs) == 2
    for line in syncs:
        assert "--frozen" in line
        assert "--no-dev" in line
        assert '--package "mentorship-${SERVICE}"' in line
    assert "--no-editable" in syncs[-1]


def load_values(name: str) -> dict[str, Any]:
    document = yaml.safe_load((NATS_VALUES / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("name", ["values.yaml", "values-dev.yaml"])
def test_nats_values_use_file_storage_with_fsync_on_every_write(name: str) -> None:
    config = load_values(name)["config"]
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert jetstream["memoryStore"]["enabled"] is False
    assert jetstream["merge"]["sync_interval"] == "always"


def test_production_nats_is_a_three_node_cluster() -> None:
    values = load_values("values.yaml")
    assert values["fullnameOverride"] == "nats"
    assert values["config"]["cluster"]["enabled"] is True
    assert values["config"]["cluster"]["replicas"] == 3
    assert values["podDisruptionBudget"]["enabled"] is True


def test_nats_image_is_the_one_compose_and_the_tests_use() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    compose_tag = compose["services"]["nats"]["image"].split(":", 1)[1]
    version = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [str(Path(sys.executable).parent / "nats-server"), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    for name in ("values.yaml", "values-dev.yaml"):
        tag = load_values(name)["container"]["image"]["tag"]
        assert tag == compose_tag, name
    assert f"v{compose_tag.removesuffix('-alpine')}" in version


@pytest.mark.parametrize("name", ["values.yaml", "values-dev.yaml"])
def test_nats_config_merges_are_valid_server_settings(name: str, tmp_path: Path) -> None:
    """The chart merges these keys into nats.conf; nats-server itself must accept them."""
    config = load_values(name)["config"]
    server: dict[str, Any] = {
        "jetstream": {"store_dir": str(tmp_path), **config["jetstream"]["merge"]}
    }
    server.update(config.get("merge", {}))
    # nats.conf accepts JSON, so the merged keys can be checked by the real parser.
    conf = tmp_path / "nats.conf"
    conf.write_text(json.dumps(server), encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [str(Path(sys.executable).parent / "nats-server"), "-t", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
