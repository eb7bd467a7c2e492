"""Process-local coordination of a read model's consumer with its rebuilds.

A rebuild asks the consumer of its read model to pause and waits until it has stopped
(between two of its transactions: the consumer task is cancelled, its open batch rolls
back and is redelivered later as duplicates). Rebuilds started by another replica are
seen through the ``analytics_rebuilds`` table, which every consumer polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class ConsumerState(StrEnum):
    STARTING = "starting"
    CONSUMING = "consuming"
    PAUSED = "paused"
    CATCHING_UP = "catching_up"
    FAILING = "failing"


@dataclass
class _Model:
    pauses: int = 0
    state: ConsumerState = ConsumerState.STARTING
    error: str | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


@dataclass
class ReadModelControl:
    """One per app: built by ``build_spec`` and shared by its workers and routers."""

    _models: dict[str, _Model] = field(default_factory=dict)
    rebuild_requests: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def _model(self, name: str) -> _Model:
        return self._models.setdefault(name, _Model())

    def paused(self, name: str) -> bool:
        return self._model(name).pauses > 0

    def state(self, name: str) -> ConsumerState:
        return self._model(name).state

    def error(self, name: str) -> str | None:
        return self._model(name).error

    async def _notify(self, name: str, change: Callable[[_Model], None]) -> None:
        model = self._model(name)
        async with model.changed:
            change(model)
            model.changed.notify_all()

    async def pause(self, name: str) -> None:
        def more(model: _Model) -> None:
            model.pauses += 1

        await self._notify(name, more)

    async def resume(self, name: str) -> None:
        def fewer(model: _Model) -> None:
            model.pauses = max(0, model.pauses - 1)

        await self._notify(name, fewer)

    async def set_state(self, name: str, state: ConsumerState, error: str | None = None) -> None:
        def to(model: _Model) -> None:
            model.state = state
            model.error = error

        await self._notify(name, to)

    async def wait_for(
        self,
        name: str,
        predicate: Callable[[], bool],
        timeout: float | None = None,  # noqa: ASYNC109 - a poll period: remote flags are read after it
    ) -> bool:
        """Wait until ``predicate()`` holds after a change (or at once); False on timeout."""
        model = self._model(name)
        async with model.changed:
            try:
                async with asyncio.timeout(timeout):
                    await model.changed.wait_for(predicate)
            except TimeoutError:
                return False
        return True

    async def wait_not_consuming(self, name: str) -> None:
        await self.wait_for(name, lambda: self._model(name).state is not ConsumerState.CONSUMING)
