"""Imports every contract module so that the registry knows every event."""

from __future__ import annotations

import importlib

from mentorship_contracts.base import EventRegistry, registry

# One module per producing service; add a module here when a service starts publishing.
CONTRACT_MODULES: tuple[str, ...] = (
    "mentorship_contracts.enrollment",
    "mentorship_contracts.matching",
    "mentorship_contracts.sessions",
)


def load_all() -> EventRegistry:
    for module in CONTRACT_MODULES:
        importlib.import_module(module)
    return registry()
