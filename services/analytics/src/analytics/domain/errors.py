"""Errors of the analytics queries; the HTTP mapping lives in the entrypoints."""

from __future__ import annotations


class ProgramNotFoundError(LookupError):
    """No program with this id is known (yet) to analytics."""

    def __init__(self, program_id: str) -> None:
        super().__init__(f"program {program_id!r} is not known")
        self.program_id = program_id


class UnknownReadModelError(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"there is no read model called {name!r}")
        self.name = name


class RebuildNotFoundError(LookupError):
    def __init__(self, rebuild_id: str) -> None:
        super().__init__(f"there is no rebuild {rebuild_id!r}")
        self.rebuild_id = rebuild_id


class RebuildRunningError(RuntimeError):
    """A read model is being rebuilt already; one rebuild of a model at a time."""

    def __init__(self, name: str, rebuild_id: str) -> None:
        super().__init__(f"read model {name!r} is being rebuilt already (rebuild {rebuild_id})")
        self.name = name
        self.rebuild_id = rebuild_id
