"""The base every domain event contract derives from, and the registry of them all.

An event contract is a frozen Pydantic model. Its class states where it belongs
(`service`, `aggregate`, `action`) and which `schema_version` its fields describe; the
registry maps the stable `event_type` name (the class name, e.g. ``ProgramCreated``) to
the class so that stored rows and NATS messages can be turned back into typed events.
Older stored versions are brought forward by registered upcasters, one step at a time.

Personal data (names, email addresses, login names...) is marked in the model with
:func:`personal` and named by :meth:`EventContract.personal_paths`. The producing
service seals those values with the data subject's key before the event is stored or
published (see ``mentorship_kit.personal``): on the wire and in every store they are
envelope strings, and once the subject's key is destroyed they open as ``None``.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, ClassVar, Final, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

SUBJECT_PREFIX = "mentorship"
_TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
PERSONAL_MARK: Final = "x-personal"
FieldPath = tuple[str, ...]


def personal(description: str, default: Any = ...) -> Any:
    """A nullable field holding personal data; it travels sealed (see above).

    Required unless ``default`` is given. ``None`` means absent or erased. The JSON
    Schema marks it ``x-personal: true``.
    """
    return Field(
        default,
        description=f"{description} Personal data: sealed with the data subject's key "
        "(an envelope string); null when absent or erased.",
        json_schema_extra={PERSONAL_MARK: True},
    )


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _nested_models(arg)]
    return []


@cache
def _personal_paths(model: type[BaseModel]) -> tuple[FieldPath, ...]:
    paths: list[FieldPath] = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(PERSONAL_MARK):
            paths.append((name,))
            continue
        for nested in _nested_models(info.annotation):
            paths.extend((name, *path) for path in _personal_paths(nested))
    return tuple(paths)


class UnknownEventTypeError(LookupError):
    """No contract is registered under this event type."""


class EventContract(BaseModel):
    """A fact that happened, as published to other services. Immutable and versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ClassVar[str]
    aggregate: ClassVar[str]
    action: ClassVar[str]
    schema_version: ClassVar[int] = 1
    # The field naming whose personal data the event carries (their key seals it).
    data_subject_field: ClassVar[str | None] = None

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    @classmethod
    def subject(cls) -> str:
        """NATS subject: ``mentorship.<service>.<aggregate>.<action>``."""
        return f"{SUBJECT_PREFIX}.{cls.service}.{cls.aggregate}.{cls.action}"

    @classmethod
    def cloudevents_type(cls) -> str:
        """CloudEvents ``type``: the subject with the schema version appended."""
        return f"{cls.subject()}.v{cls.schema_version}"

    @classmethod
    def personal_paths(cls) -> tuple[FieldPath, ...]:
        """Where the personal fields are in the event's data (nested models followed)."""
        return _personal_paths(cls)

    def to_data(self) -> dict[str, Any]:
        """The JSON-ready payload stored in the event store and published."""
        return self.model_dump(mode="json")


class EventRegistry:
    """Every event contract by type name, plus the upcasters for its older versions."""

    def __init__(self) -> None:
        self._types: dict[str, type[EventContract]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, *classes: type[EventContract]) -> None:
        for cls in classes:
            for token in (cls.service, cls.aggregate, cls.action):
                if not _TOKEN.match(token):
                    msg = f"{cls.__name__}: subject token {token!r} must match {_TOKEN.pattern}"
                    raise ValueError(msg)
            if cls.personal_paths() and cls.data_subject_field not in cls.model_fields:
                msg = f"{cls.__name__} carries personal data: name its data_subject_field"
                raise ValueError(msg)
            existing = self._types.get(cls.event_type())
            if existing is not None and existing is not cls:
                msg = f"event type {cls.event_type()} is declared twice"
                raise ValueError(msg)
            self._types[cls.event_type()] = cls

    def register_upcaster(self, event_type: str, from_version: int, step: Upcaster) -> None:
        """Register the step that turns ``from_version`` data into ``from_version + 1``."""
        self._upcasters[(event_type, from_version)] = step

    def get(self, event_type: str) -> type[EventContract]:
        try:
            return self._types[event_type]
        except KeyError:
            raise UnknownEventTypeError(event_type) from None

    def knows(self, event_type: str) -> bool:
        return event_type in self._types

    def all(self) -> list[type[EventContract]]:
        return sorted(self._types.values(), key=lambda c: (c.service, c.subject()))

    def can_upcast(self, event_type: str, version: int) -> bool:
        """Whether data of an older ``version`` has a chain of steps to the current one."""
        current = self.get(event_type).schema_version
        return version < current and all(
            (event_type, step) in self._upcasters for step in range(version, current)
        )

    def upcast(self, event_type: str, version: int, data: Mapping[str, Any]) -> dict[str, Any]:
        """Bring stored ``data`` written at ``version`` up to the current schema version."""
        current = self.get(event_type).schema_version
        upgraded = dict(data)
        while version < current:
            step = self._upcasters.get((event_type, version))
            if step is None:
                msg = f"no upcaster for {event_type} v{version} -> v{version + 1}"
                raise LookupError(msg)
            upgraded = step(upgraded)
            version += 1
        if version > current:
            msg = f"{event_type} v{version} is newer than this code (v{current})"
            raise ValueError(msg)
        return upgraded

    def parse(self, event_type: str, version: int, data: Mapping[str, Any]) -> EventContract:
        """Typed event from stored or received data of any known version."""
        cls = self.get(event_type)
        return cls.model_validate(self.upcast(event_type, version, data))


_REGISTRY = EventRegistry()


def registry() -> EventRegistry:
    """The process-wide registry; each contract module registers its events into it."""
    return _REGISTRY
