"""The read models of the service: which projection, fed by which stream and consumer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from analytics.adapters.projections import (
    ActivityProjection,
    DirectoryProjection,
    FactProjection,
    PairsProjection,
)
from analytics.domain.errors import UnknownReadModelError
from mentorship_kit.messaging import stream_name

SERVICE = "analytics"


@dataclass(frozen=True)
class ReadModel:
    name: str
    source: str
    make: Callable[[], FactProjection]

    @property
    def consumer(self) -> str:
        """The durable JetStream consumer feeding it (``analytics-<source>``)."""
        return f"{SERVICE}-{self.source}"

    @property
    def stream(self) -> str:
        return stream_name(self.source)

    @property
    def tables(self) -> tuple[str, ...]:
        return self.make().table_names


def _read_model(make: Callable[[], FactProjection]) -> ReadModel:
    projection = make()
    return ReadModel(projection.name, projection.source, make)


READ_MODELS: Mapping[str, ReadModel] = MappingProxyType(
    {
        model.name: model
        for model in (
            _read_model(DirectoryProjection),
            _read_model(PairsProjection),
            _read_model(ActivityProjection),
        )
    }
)


def read_model(name: str) -> ReadModel:
    try:
        return READ_MODELS[name]
    except KeyError:
        raise UnknownReadModelError(name) from None
