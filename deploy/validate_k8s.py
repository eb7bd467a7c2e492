# ruff: noqa: INP001 - a script that deploy/validate.sh runs by path, not a package module
"""Split rendered Kubernetes manifests and validate the custom resources.

``kubernetes-validate`` has schemas for the built-in kinds only and merely warns about a
custom resource. This script separates the two: the built-in objects are written to a
file for ``kubernetes-validate --strict``, and every custom resource (CloudNativePG,
NACK, External Secrets) is validated here against the schemas in ``deploy/k8s/schemas``.
A custom kind without a schema is an error, so nothing passes unchecked.

    python deploy/validate_k8s.py RENDERED.yaml --builtin-out BUILTIN.yaml

Exit status 0 when every custom resource is valid, 1 otherwise. Needs PyYAML and
jsonschema; ``deploy/validate.sh`` runs it from its tools environment and
``tests/deploy`` imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

# jsonschema publishes no type information; only the two names below are used.
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "k8s" / "schemas"
# The schemas refer to each other by file name; this base makes those references
# absolute without ever being fetched (the registry holds every schema).
_BASE_URI: Final = "https://schemas.mentorship.invalid/"
# API groups served by Kubernetes itself; everything else is a custom resource.
_BUILTIN_GROUPS: Final = frozenset({"", "apps", "batch", "policy", "autoscaling"})

Manifest = dict[str, Any]


def api_group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def is_builtin(manifest: Mapping[str, Any]) -> bool:
    group = api_group(str(manifest.get("apiVersion", "")))
    return group in _BUILTIN_GROUPS or group.endswith(".k8s.io")


def describe(manifest: Mapping[str, Any]) -> str:
    name = manifest.get("metadata", {}).get("name", "?")
    return f"{manifest.get('kind', '?')}/{name} ({manifest.get('apiVersion', '?')})"


def load_documents(text: str) -> list[Manifest]:
    """Every non-empty YAML document; TypeError when one is not a mapping."""
    documents: list[Manifest] = []
    for document in yaml.safe_load_all(text):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise TypeError(f"a document is not a mapping: {document!r:.80}")
        documents.append(document)
    return documents


def schema_file_name(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"{kind.lower()}.{group}.{version}.yaml"


@dataclass(frozen=True, slots=True)
class CustomResourceSchemas:
    """The schemas of ``SCHEMA_DIR``, keyed by file name."""

    registry: Registry[Any]
    names: frozenset[str]

    @classmethod
    def load(cls, directory: Path = SCHEMA_DIR) -> CustomResourceSchemas:
        resources: list[tuple[str, Resource[Any]]] = []
        for path in sorted(directory.glob("*.yaml")):
            contents = yaml.safe_load(path.read_text(encoding="utf-8"))
            resources.append((_BASE_URI + path.name, Resource.from_contents(contents, DRAFT202012)))
        registry: Registry[Any] = Registry().with_resources(resources)
        return cls(
            registry=registry, names=frozenset(uri.removeprefix(_BASE_URI) for uri, _ in resources)
        )

    def errors(self, manifest: Mapping[str, Any]) -> list[str]:
        name = schema_file_name(str(manifest.get("apiVersion", "")), str(manifest.get("kind", "")))
        if name not in self.names or name.startswith("_"):
            return [f"{describe(manifest)}: no schema {SCHEMA_DIR.name}/{name} for this kind"]
        uri = _BASE_URI + name
        schema = {"$ref": uri}
        validator = Draft202012Validator(schema, registry=self.registry)
        found = sorted(validator.iter_errors(manifest), key=lambda error: list(error.path))
        messages = [
            f"{describe(manifest)}: {'.'.join(str(part) for part in error.path) or '<root>'}: "
            f"{error.message}"
            for error in found
        ]
        return messages + semantic_errors(manifest)


def semantic_errors(manifest: Mapping[str, Any]) -> list[str]:
    """Rules a schema cannot state, which the operator's admission webhook enforces."""
    if manifest.get("kind") != "Cluster" or api_group(str(manifest.get("apiVersion"))) != (
        "postgresql.cnpg.io"
    ):
        return []
    spec = manifest.get("spec", {})
    synchronous = spec.get("postgresql", {}).get("synchronous")
    instances = spec.get("instances", 1)
    if synchronous and synchronous.get("number", 0) >= instances:
        return [
            (
                f"{describe(manifest)}: synchronous.number {synchronous.get('number')} needs "
                f"more than that many instances, the cluster has {instances}"
            )
        ]
    return []


def validate_custom_resources(
    manifests: Iterable[Mapping[str, Any]], schemas: CustomResourceSchemas | None = None
) -> list[str]:
    """Error messages for the custom resources among ``manifests``; empty when all are valid."""
    schemas = schemas or CustomResourceSchemas.load()
    errors: list[str] = []
    for manifest in manifests:
        if not is_builtin(manifest):
            errors.extend(schemas.errors(manifest))
    return errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("rendered", type=Path, help="output of `kubectl kustomize OVERLAY`")
    parser.add_argument(
        "--builtin-out",
        type=Path,
        required=True,
        help="where to write the built-in objects, for kubernetes-validate --strict",
    )
    args = parser.parse_args(argv)
    manifests = load_documents(args.rendered.read_text(encoding="utf-8"))
    builtin = [manifest for manifest in manifests if is_builtin(manifest)]
    args.builtin_out.write_text(yaml.safe_dump_all(builtin, sort_keys=False), encoding="utf-8")
    errors = validate_custom_resources(manifests)
    for error in errors:
        sys.stderr.write(f"ERROR {args.rendered}: {error}\n")
    custom = len(manifests) - len(builtin)
    sys.stdout.write(
        f"{args.rendered}: {len(builtin)} built-in objects for kubernetes-validate, "
        f"{custom} custom resources checked against {SCHEMA_DIR.name}/, {len(errors)} errors\n"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
