"""Generate the committed contract artefacts, or check that they are current.

    python -m mentorship_contracts.generate          # write
    python -m mentorship_contracts.generate --check  # exit 1 when stale or breaking

Artefacts under ``contracts/``:
- ``schemas/<service>/<EventType>.v<N>.json``: JSON Schema of each event version;
- ``asyncapi.yaml``: one AsyncAPI 3.0 document describing every subject;
- ``openapi/<service>.json``: each service's OpenAPI document (when the service imports).

A published event version is immutable in meaning: regenerating it may add optional
fields, but removing a field, changing a field's type or adding a required field — at
the top level or in any nested model (``$defs``) — needs a new ``schema_version`` (with
an upcaster). Such a change is refused here. The schema of a superseded version stays
committed as it was published, and is no longer regenerated, once the registry can
upcast it to the current version; a schema file for which neither holds is refused.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mentorship_contracts.base import EventContract, EventRegistry
from mentorship_contracts.catalog import load_all
from mentorship_contracts.envelope import CloudEvent

CONTRACTS_DIR = Path(__file__).resolve().parents[2]
SERVICES = ("enrollment", "matching", "sessions", "analytics")
SCHEMA_BASE_URI = "https://mentorship.example/contracts/schemas"


def event_schema(cls: type[EventContract]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URI}/{cls.service}/{cls.event_type()}.v{cls.schema_version}.json",
        **schema,
        "x-event-type": cls.event_type(),
        "x-schema-version": cls.schema_version,
        "x-subject": cls.subject(),
        "x-cloudevents-type": cls.cloudevents_type(),
    }


def _schema_path(cls: type[EventContract]) -> str:
    return f"schemas/{cls.service}/{cls.event_type()}.v{cls.schema_version}.json"


def asyncapi_document(events: list[type[EventContract]]) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for cls in events:
        name = cls.event_type()
        doc = (cls.__doc__ or name).strip().splitlines()[0]
        messages[name] = {
            "name": name,
            "title": name,
            "summary": doc,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": {"$ref": f"./{_schema_path(cls)}"},
            "x-schema-version": cls.schema_version,
            "x-cloudevents-type": cls.cloudevents_type(),
        }
        channels[name] = {
            "address": cls.subject(),
            "description": f"{doc} Published by the {cls.service} service.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"The {cls.service} service publishes {name}.",
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    header_props = {
        f"ce-{field}": {"type": "string", "description": info.description or field}
        for field, info in CloudEvent.model_fields.items()
        if field not in {"data", "traceparent", "datacontenttype"}
    }
    header_props["traceparent"] = {"type": "string", "description": "W3C trace context."}
    header_props["Nats-Msg-Id"] = {"type": "string", "description": "The event id (dedupe)."}
    header_props["content-type"] = {"type": "string", "const": "application/json"}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Mentorship platform domain events",
            "version": "1.0.0",
            "description": (
                "Every domain event published to NATS JetStream, one JetStream stream per "
                "producing service (MENTORSHIP_<SERVICE> on mentorship.<service>.>). Messages "
                "are CloudEvents 1.0 in binary mode: attributes as ce-* headers, data as JSON."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "The embedded nats-server started by make run.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {
                "CloudEventHeaders": {
                    "type": "object",
                    "required": ["ce-id", "ce-source", "ce-type", "ce-specversion", "Nats-Msg-Id"],
                    "properties": header_props,
                }
            },
        },
    }


def openapi_documents() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document, built from its spec without starting it."""
    # Imported here: the contracts package must not depend on the kit, only this
    # generator (a development tool) looks at the services.
    from mentorship_kit.app import create_app
    from mentorship_kit.settings import ServiceSettings

    documents: dict[str, dict[str, Any]] = {}
    for service in SERVICES:
        try:
            bootstrap = importlib.import_module(f"{service}.bootstrap")
        except ModuleNotFoundError:
            continue
        build_spec: Callable[[], Any] = bootstrap.build_spec
        # Dev settings only so that the app can be built without a signing key; the
        # document does not depend on settings.
        app = create_app(build_spec(), ServiceSettings(dev_mode=True, log_level="WARNING"))
        documents[service] = app.openapi()
    return documents


def render_all() -> dict[str, str]:
    """Every artefact as relative path → file text."""
    events = load_all().all()
    files: dict[str, str] = {}
    for cls in events:
        files[_schema_path(cls)] = _json(event_schema(cls))
    files["asyncapi.yaml"] = yaml.safe_dump(
        asyncapi_document(events), sort_keys=False, allow_unicode=True, width=100
    )
    for service, document in openapi_documents().items():
        files[f"openapi/{service}.json"] = _json(document)
    return files


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def breaking_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why ``new`` cannot replace the published ``old`` at the same version (empty: it can).

    Nested models are compared too, by their ``$defs`` name: a field of a model that
    the event carries is as much a part of the contract as a top-level one.
    """
    problems = _object_changes(old, new, prefix="")
    old_defs: Mapping[str, Any] = old.get("$defs", {})
    new_defs: Mapping[str, Any] = new.get("$defs", {})
    for name, spec in old_defs.items():
        if name not in new_defs:
            problems.append(f"model {name!r} removed")
        else:
            problems.extend(_object_changes(spec, new_defs[name], prefix=f"{name}."))
    return problems


def _object_changes(old: Mapping[str, Any], new: Mapping[str, Any], *, prefix: str) -> list[str]:
    problems: list[str] = []
    old_props: Mapping[str, Any] = old.get("properties", {})
    new_props: Mapping[str, Any] = new.get("properties", {})
    for name, spec in old_props.items():
        if name not in new_props:
            problems.append(f"field {prefix + name!r} removed")
        elif _type_of(spec) != _type_of(new_props[name]):
            problems.append(f"field {prefix + name!r} changed type")
    added_required = set(new.get("required", [])) - set(old.get("required", []))
    problems.extend(f"new required field {prefix + name!r}" for name in sorted(added_required))
    return problems


def _type_of(spec: Mapping[str, Any]) -> Any:
    keys = ("type", "$ref", "anyOf", "enum", "format", "items")
    return json.dumps({k: spec.get(k) for k in keys}, sort_keys=True)


def compare(
    root: Path = CONTRACTS_DIR, events: EventRegistry | None = None
) -> tuple[list[str], list[str]]:
    """(stale files, breaking changes) of the working tree against what would be generated."""
    stale: list[str] = []
    breaking: list[str] = []
    rendered = render_all()
    for rel, text in rendered.items():
        path = root / rel
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(rel)
        if current is not None and rel.startswith("schemas/"):
            breaking.extend(
                f"{rel}: {why}" for why in breaking_changes(json.loads(current), json.loads(text))
            )
    known = events or load_all()
    for path in sorted((root / "schemas").rglob("*.json")) if (root / "schemas").exists() else []:
        rel = path.relative_to(root).as_posix()
        if rel not in rendered and not _superseded(json.loads(path.read_text()), known):
            stale.append(rel)
            breaking.append(f"{rel}: published event version no longer declared")
    return stale, breaking


def _superseded(schema: Mapping[str, Any], events: EventRegistry) -> bool:
    """Whether ``schema`` describes an older version that the registry upcasts to the
    current one: it then stays committed as published, a record of what was sent."""
    event_type, version = schema.get("x-event-type"), schema.get("x-schema-version")
    if not isinstance(event_type, str) or not isinstance(version, int):
        return False
    return events.knows(event_type) and events.can_upcast(event_type, version)


def write(root: Path = CONTRACTS_DIR) -> list[str]:
    _, breaking = compare(root)
    if breaking:
        raise SystemExit("refusing to overwrite published contracts:\n  " + "\n  ".join(breaking))
    written: list[str] = []
    for rel, text in render_all().items():
        path = root / rel
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(rel)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when anything is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale, breaking = compare()
        for line in breaking:
            print(f"BREAKING {line}", file=sys.stderr)
        for rel in stale:
            print(f"stale    contracts/{rel}", file=sys.stderr)
        if stale or breaking:
            print("run `make contracts` and commit the result", file=sys.stderr)
            return 1
        print("contracts are current")
        return 0
    for rel in write():
        print(f"wrote contracts/{rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
