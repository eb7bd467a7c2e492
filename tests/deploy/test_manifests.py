"""Project rules for the Kubernetes manifests, checked on what each overlay renders.

`deploy/validate.sh` checks the schemas (kubernetes-validate --strict, the custom
resource schemas) and runs checkov; these tests check what no generic tool knows: every
Deployment is probed, bounded and locked down, every disruption budget protects a
Deployment and leaves the autoscaler room, the network is closed by default, and the
objects refer to each other (Secrets, database clusters, streams) consistently.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from mentorship_kit.messaging import DUPLICATE_WINDOW_SECONDS, service_subjects, stream_name

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")
SERVICES = ("enrollment", "matching", "sessions", "analytics")
Manifest = dict[str, Any]


def kubectl() -> str | None:
    """The kubectl `deploy/validate.sh` installs, else one on PATH."""
    tools = REPO / ".tools" / "validate" / "bin" / "kubectl"
    if tools.exists():
        return str(tools)
    return shutil.which("kubectl")


def render(overlay: str) -> list[Manifest]:
    binary = kubectl()
    if binary is None:
        pytest.skip(
            "kubectl not found: run deploy/validate.sh once (it installs one) or add it to PATH"
        )
    result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [binary, "kustomize", str(REPO / "deploy" / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_validator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "validate_k8s", REPO / "deploy" / "validate_k8s.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    overlay: str = request.param
    return overlay, render(overlay)


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in of_kind(manifests, kind)}


def workloads(manifests: list[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    """Each Deployment and Job with its pod spec."""
    for manifest in manifests:
        if manifest["kind"] in {"Deployment", "Job"}:
            yield manifest, manifest["spec"]["template"]["spec"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    assert not selector.get("matchExpressions"), "only matchLabels selectors are expected here"
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def config_value(manifests: list[Manifest], prefix: str, key: str) -> str:
    maps = [m for m in of_kind(manifests, "ConfigMap") if m["metadata"]["name"].startswith(prefix)]
    assert len(maps) == 1, [m["metadata"]["name"] for m in maps]
    value: str = maps[0]["data"][key]
    return value


def test_every_service_has_its_objects(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
        assert set(named(manifests, kind)) >= set(SERVICES), kind
    assert set(named(manifests, "HorizontalPodAutoscaler")) == set(SERVICES)
    assert set(named(manifests, "Job")) == {f"{s}-migrate" for s in SERVICES}
    assert set(named(manifests, "Cluster")) == {f"{s}-db" for s in SERVICES}
    assert {m["metadata"]["name"] for m in of_kind(manifests, "NetworkPolicy")} >= set(SERVICES)


def test_deployments_have_startup_readiness_and_liveness_probes(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, manifests = rendered
    for deployment in of_kind(manifests, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            ports = {port["name"]: port["containerPort"] for port in container["ports"]}
            for probe, path in (
                ("startupProbe", "/healthz"),
                ("livenessProbe", "/healthz"),
                ("readinessProbe", "/readyz"),
            ):
                assert probe in container, f"{where}: no {probe}"
                http = container[probe]["httpGet"]
                assert http["path"] == path, f"{where}: {probe} on {http['path']}"
                assert http["port"] in ports, f"{where}: {probe} on an unnamed port"
                assert ports[http["port"]] == 8000


def test_workloads_have_requests_and_limits(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    for workload, pod in workloads(manifests):
        for container in pod["containers"]:
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), (
                    f"{workload['metadata']['name']}/{container['name']}: {bound}"
                )


def test_workloads_run_with_a_restricted_security_context(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, manifests = rendered
    for workload, pod in workloads(manifests):
        name = workload["metadata"]["name"]
        pod_context = pod.get("securityContext", {})
        assert pod_context.get("runAsNonRoot") is True, name
        assert pod_context.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
        assert pod.get("hostNetwork", False) is False, name
        for container in pod["containers"]:
            context = container.get("securityContext", {})
            where = f"{name}/{container['name']}"
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
            assert context.get("runAsUser", pod_context.get("runAsUser", 0)) >= 10000, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("privileged", False) is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            profile = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
            assert profile.get("type") == "RuntimeDefault", where


def test_deployments_drain_before_they_stop(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    for deployment in of_kind(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            assert "preStop" in container.get("lifecycle", {}), deployment["metadata"]["name"]
        # preStop (10 s) and uvicorn's graceful shutdown (20 s) must fit in the grace period.
        assert pod["terminationGracePeriodSeconds"] > 30
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_every_pdb_selects_a_deployment_and_every_deployment_has_one(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, manifests = rendered
    deployments = of_kind(manifests, "Deployment")
    protected = set()
    for pdb in of_kind(manifests, "PodDisruptionBudget"):
        matches = [
            d["metadata"]["name"]
            for d in deployments
            if d["metadata"]["namespace"] == pdb["metadata"]["namespace"]
            and selects(pdb["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(matches) == 1, f"PDB {pdb['metadata']['name']} selects {matches}"
        protected.update(matches)
    assert protected == {d["metadata"]["name"] for d in deployments}


def test_autoscaler_minimum_is_above_the_disruption_budget(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, manifests = rendered
    deployments = named(manifests, "Deployment")
    budgets = {
        name: pdb
        for pdb in of_kind(manifests, "PodDisruptionBudget")
        for name, d in deployments.items()
        if selects(pdb["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
    }
    for hpa in of_kind(manifests, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert target["name"] in deployments, target
        budget = budgets[target["name"]]["spec"]
        assert "minAvailable" in budget, "the rule compares with minAvailable"
        assert hpa["spec"]["minReplicas"] > budget["minAvailable"], target["name"]
        assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
        # The autoscaler owns the replica count; a fixed one would be reset on every apply.
        assert "replicas" not in deployments[target["name"]]["spec"]


def test_the_network_is_closed_by_default(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    policies = of_kind(manifests, "NetworkPolicy")
    default_deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(default_deny) == 1
    # Every workload also has its own allow rules, or it could not work at all.
    for workload, _pod in workloads(manifests):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        own = [
            p
            for p in policies
            if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels)
        ]
        assert own, f"no NetworkPolicy for {workload['kind']}/{workload['metadata']['name']}"


def test_service_flows_are_allowed(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    policies = named(manifests, "NetworkPolicy")
    for service in SERVICES:
        policy = policies[service]["spec"]
        egress_ports = {port["port"] for rule in policy["egress"] for port in rule.get("ports", [])}
        assert {5432, 4222, 4318} <= egress_ports, service
        ingress_ports = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
        assert ingress_ports == {8000}, service
    analytics_egress = policies["analytics"]["spec"]["egress"]
    assert any(
        port["port"] == 8000 for rule in analytics_egress for port in rule.get("ports", [])
    ), "analytics must reach the other services' HTTP APIs for catch-up"


def test_service_accounts_do_not_mount_tokens(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    accounts = named(manifests, "ServiceAccount")
    assert accounts
    for account in accounts.values():
        assert account.get("automountServiceAccountToken") is False, account["metadata"]["name"]
    for workload, pod in workloads(manifests):
        assert pod.get("serviceAccountName") in accounts, workload["metadata"]["name"]


def test_services_select_their_deployment(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    deployments = named(manifests, "Deployment")
    for service in of_kind(manifests, "Service"):
        name = service["metadata"]["name"]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert selects({"matchLabels": service["spec"]["selector"]}, labels), name
        # Migration pods must never receive traffic.
        jobs = named(manifests, "Job")
        job_labels = jobs[f"{name}-migrate"]["spec"]["template"]["metadata"]["labels"]
        assert not selects({"matchLabels": service["spec"]["selector"]}, job_labels)


def test_referenced_config_and_secrets_exist(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    config_maps = set(named(manifests, "ConfigMap"))
    secrets = set(named(manifests, "Secret"))
    # Secrets that operators write: CloudNativePG's <cluster>-app, External Secrets' targets.
    secrets |= {f"{name}-app" for name in named(manifests, "Cluster")}
    secrets |= {e["spec"]["target"]["name"] for e in of_kind(manifests, "ExternalSecret")}
    for workload, pod in workloads(manifests):
        for container in pod["containers"]:
            where = workload["metadata"]["name"]
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, where
                else:
                    assert source["secretRef"]["name"] in secrets, where
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets, where


def test_each_service_uses_its_own_database_cluster(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    clusters = named(manifests, "Cluster")
    for workload, pod in workloads(manifests):
        service = workload["metadata"]["labels"]["app.kubernetes.io/name"]
        (database_url,) = [v for v in pod["containers"][0]["env"] if v["name"] == "DATABASE_URL"]
        assert database_url["valueFrom"]["secretKeyRef"] == {
            "name": f"{service}-db-app",
            "key": "uri",
        }
        initdb = clusters[f"{service}-db"]["spec"]["bootstrap"]["initdb"]
        assert initdb == {"database": service, "owner": service}


def test_migration_jobs_run_the_migrate_command_with_the_service_image(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, manifests = rendered
    deployments = named(manifests, "Deployment")
    for service in SERVICES:
        job = named(manifests, "Job")[f"{service}-migrate"]
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["mentorship", "migrate", "--service", service]
        (app,) = deployments[service]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == app["image"]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # Only the Jobs migrate, in every overlay (the dev one runs in DEV_MODE, which alone
    # would let the services migrate at start-up).
    assert config_value(manifests, "mentorship-config", "MIGRATE_ON_START") == "false"


def test_custom_resources_match_their_schemas(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    validator = load_validator()
    assert validator.validate_custom_resources(manifests) == []


def test_the_custom_resource_check_rejects_a_wrong_field() -> None:
    validator = load_validator()
    stream = {
        "apiVersion": "jetstream.nats.io/v1beta2",
        "kind": "Stream",
        "metadata": {"name": "s"},
        "spec": {"name": "S", "subjects": ["a.>"], "replica": 3},
    }
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    errors = validator.validate_custom_resources([stream, unknown])
    assert len(errors) == 2
    assert "replica" in errors[0]
    assert "no schema" in errors[1]


def test_streams_are_the_ones_the_services_create(rendered: tuple[str, list[Manifest]]) -> None:
    _, manifests = rendered
    replicas = int(config_value(manifests, "mentorship-config", "NATS_STREAM_REPLICAS"))
    streams = {s["spec"]["name"]: s["spec"] for s in of_kind(manifests, "Stream")}
    assert set(streams) == {stream_name(s) for s in ("enrollment", "matching", "sessions")}
    for service in ("enrollment", "matching", "sessions"):
        spec = streams[stream_name(service)]
        assert spec["subjects"] == [service_subjects(service)]
        assert spec["storage"] == "file"
        assert spec["retention"] == "limits"
        assert spec["discard"] == "old"
        assert spec["duplicateWindow"] == f"{DUPLICATE_WINDOW_SECONDS // 60}m"
        assert spec["replicas"] == replicas
    assert not of_kind(manifests, "Consumer"), "consumers are created by the consumer runtime"


def test_production_is_replicated_and_backed_up() -> None:
    manifests = render("prod")
    assert config_value(manifests, "mentorship-config", "NATS_STREAM_REPLICAS") == "3"
    assert config_value(manifests, "mentorship-config", "DEV_MODE") == "false"
    assert len(config_value(manifests, "mentorship-config", "NATS_URL").split(",")) == 3
    stores = set(named(manifests, "ObjectStore"))
    backed_up = {b["spec"]["cluster"]["name"] for b in of_kind(manifests, "ScheduledBackup")}
    for name, cluster in named(manifests, "Cluster").items():
        assert cluster["spec"]["instances"] >= 3, name
        assert cluster["spec"]["postgresql"]["synchronous"]["dataDurability"] == "required"
        (plugin,) = cluster["spec"]["plugins"]
        assert plugin["isWALArchiver"] is True
        assert plugin["parameters"]["barmanObjectName"] in stores
        assert name in backed_up
    for workload, pod in workloads(manifests):
        image = pod["containers"][0]["image"]
        assert not image.endswith((":dev", ":latest")), workload["metadata"]["name"]
    assert not of_kind(manifests, "Secret"), "production secrets come from the secret store"


def test_development_runs_single_instances_in_dev_mode() -> None:
    manifests = render("dev")
    assert config_value(manifests, "mentorship-config", "DEV_MODE") == "true"
    for cluster in of_kind(manifests, "Cluster"):
        assert cluster["spec"]["instances"] == 1
        assert "synchronous" not in cluster["spec"]["postgresql"]
