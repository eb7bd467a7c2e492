"""The contracts package: registry, upcasting, envelope and the committed artefacts."""

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from mentorship_contracts import CloudEvent, EventContract, EventRegistry
from mentorship_contracts.generate import breaking_changes, compare


def test_generated_artefacts_are_current_and_compatible():
    # In a process of its own: other tests register test-only events in this process's
    # registry, and the artefacts must describe exactly the contracts that ship.
    check = subprocess.run(
        [sys.executable, "-m", "mentorship_contracts.generate", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stderr + "\nrun `make contracts` and commit the result"


def test_the_check_reports_a_stale_artefact(tmp_path):
    (tmp_path / "schemas").mkdir()
    stale, _ = compare(tmp_path)
    assert "asyncapi.yaml" in stale


def _registry_with_versions() -> tuple[EventRegistry, type[EventContract]]:
    reg = EventRegistry()

    class WidgetRenamed(EventContract):
        service: ClassVar[str] = "testing"
        aggregate: ClassVar[str] = "widget"
        action: ClassVar[str] = "renamed"
        schema_version: ClassVar[int] = 3
        widget_id: str
        display_name: str
        locale: str

    reg.register(WidgetRenamed)

    def rename_name(data: dict) -> dict:
        upgraded = dict(data)
        upgraded["display_name"] = upgraded.pop("name")
        return upgraded

    reg.register_upcaster("WidgetRenamed", 1, rename_name)
    reg.register_upcaster("WidgetRenamed", 2, lambda d: {**d, "locale": "en"})
    return reg, WidgetRenamed


def test_old_versions_are_upcast_step_by_step():
    reg, cls = _registry_with_versions()
    event = reg.parse("WidgetRenamed", 1, {"widget_id": "w1", "name": "Old"})
    assert event == cls(widget_id="w1", display_name="Old", locale="en")


def test_a_version_newer_than_the_code_is_refused():
    reg, _ = _registry_with_versions()
    with pytest.raises(ValueError, match="newer"):
        reg.upcast("WidgetRenamed", 4, {})


def test_subjects_follow_the_naming_rule():
    _, cls = _registry_with_versions()
    assert cls.subject() == "mentorship.testing.widget.renamed"
    assert cls.cloudevents_type() == "mentorship.testing.widget.renamed.v3"


def test_bad_subject_tokens_are_refused():
    reg = EventRegistry()

    class BadOne(EventContract):
        service: ClassVar[str] = "Testing"
        aggregate: ClassVar[str] = "widget"
        action: ClassVar[str] = "broke"

    with pytest.raises(ValueError, match="subject token"):
        reg.register(BadOne)


def test_events_are_immutable():
    _, cls = _registry_with_versions()
    event = cls(widget_id="w", display_name="n", locale="en")
    with pytest.raises(ValueError, match="frozen"):
        event.locale = "fr"  # type: ignore[misc]


def test_cloudevent_survives_the_header_round_trip():
    original = CloudEvent(
        id=str(uuid.uuid4()),
        source="/mentorship/testing",
        type="mentorship.testing.widget.renamed.v3",
        subject="widget-1",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        data={"widget_id": "w1"},
        eventtype="WidgetRenamed",
        schemaversion=3,
        streamtype="widget",
        streamversion=7,
        actor="emp-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    headers = original.to_headers()
    assert headers["ce-id"] == original.id
    assert headers["traceparent"] == original.traceparent
    assert CloudEvent.from_headers(headers, original.data) == original


def test_a_trusted_cloudevent_is_the_validated_one():
    values = {
        "id": str(uuid.uuid4()),
        "source": "/mentorship/testing",
        "type": "mentorship.testing.widget.renamed.v3",
        "subject": "widget-1",
        "time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "data": {"widget_id": "w1", "tags": ["a"]},
        "eventtype": "WidgetRenamed",
        "schemaversion": 3,
        "streamtype": "widget",
        "streamversion": 7,
        "correlationid": "c-1",
        "causationid": None,
        "actor": "emp-1",
        "traceparent": None,
    }
    validated = CloudEvent(**values)
    trusted = CloudEvent.trusted(**values)
    assert trusted == validated
    assert trusted.model_dump() == validated.model_dump()
    assert trusted.model_dump_json() == validated.model_dump_json()
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted.to_headers() == validated.to_headers()
    assert trusted.model_copy(update={"subject": "widget-2"}).subject == "widget-2"
    with pytest.raises(ValueError, match="frozen"):
        trusted.subject = "widget-2"  # type: ignore[misc]


def test_removing_a_field_or_adding_a_required_one_is_breaking():
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    assert breaking_changes(old, old) == []
    added_optional = {
        "properties": {**old["properties"], "c": {"type": "string"}},
        "required": ["a"],
    }
    assert breaking_changes(old, added_optional) == []
    removed = {"properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert breaking_changes(old, removed) == ["field 'b' removed"]
    retyped = {
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a"],
    }
    assert breaking_changes(old, retyped) == ["field 'a' changed type"]
    required = {**old, "required": ["a", "b"]}
    assert breaking_changes(old, required) == ["new required field 'b'"]


def test_a_change_inside_a_nested_model_is_breaking():
    def schema(record: dict) -> dict:
        return {"properties": {"record": {"$ref": "#/$defs/Record"}}, "$defs": {"Record": record}}

    old = schema({"properties": {"email": {"type": "string"}}, "required": ["email"]})
    nullable = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    retyped = schema({"properties": {"email": nullable}, "required": ["email"]})
    assert breaking_changes(old, retyped) == ["field 'Record.email' changed type"]
    assert breaking_changes(old, {"properties": old["properties"]}) == ["model 'Record' removed"]


def _published(tmp_path, event_type: str, version: int) -> str:
    rel = f"schemas/testing/{event_type}.v{version}.json"
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{{"x-event-type": "{event_type}", "x-schema-version": {version}}}')
    return rel


def test_a_superseded_version_stays_published_only_with_its_upcaster(tmp_path):
    reg, _ = _registry_with_versions()
    kept = _published(tmp_path, "WidgetRenamed", 1)
    unknown = _published(tmp_path, "WidgetVanished", 1)
    current = _published(tmp_path, "WidgetRenamed", 3)
    _, breaking = compare(tmp_path, reg)
    refused = {line.split(":")[0] for line in breaking}
    assert kept not in refused
    assert {unknown, current} <= refused

    without_steps = EventRegistry()
    without_steps.register(reg.get("WidgetRenamed"))
    _, breaking = compare(tmp_path, without_steps)
    assert kept in {line.split(":")[0] for line in breaking}


def test_personal_fields_are_found_in_nested_models_and_marked_in_the_schema():
    from mentorship_contracts.enrollment import EmployeeProvisioned

    paths = EmployeeProvisioned.personal_paths()
    assert {("record", "email"), ("record", "given_name"), ("record", "family_name")} <= set(paths)
    assert ("record", "department") not in paths
    record = EmployeeProvisioned.model_json_schema()["$defs"]["EmployeeRecord"]
    assert record["properties"]["email"]["x-personal"] is True
    assert "x-personal" not in record["properties"]["department"]


def test_personal_data_without_a_data_subject_is_refused():
    from mentorship_contracts.base import personal

    class NoteTaken(EventContract):
        service: ClassVar[str] = "testing"
        aggregate: ClassVar[str] = "note"
        action: ClassVar[str] = "taken"
        text: str | None = personal("What was noted.")

    with pytest.raises(ValueError, match="data_subject_field"):
        EventRegistry().register(NoteTaken)


def test_a_v1_employee_record_in_clear_reads_as_v2():
    from mentorship_contracts import registry
    from mentorship_contracts.enrollment import EmployeeProvisioned

    record = {"email": "a@example.org", "given_name": "A", "family_name": "B"}
    event = registry().parse("EmployeeProvisioned", 1, {"employee_id": "e1", "record": record})
    assert isinstance(event, EmployeeProvisioned)
    assert event.record.email == "a@example.org"
