"""A real webhook receiver for tests: Starlette under uvicorn on a loopback port.

It serves ``POST /hooks/{name}``; each name has the signing secret of one
subscription, and every request is verified with ``standardwebhooks`` (a bad
signature is answered 401 and kept in ``rejected``). A receiver can be told to answer
failures for a while (``fail_with``), and can be stopped and started again on the same
port (the "receiver down" case). It deduplicates by ``webhook-id`` the way the
documentation tells integrators to.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mentorship_kit.testing import free_port, wait_until


@dataclass(frozen=True)
class Received:
    name: str
    webhook_id: str
    timestamp: int
    content_type: str
    event: dict[str, Any]
    status: int


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    # name -> status to answer instead of 204 (e.g. 503), while set.
    fail_with: dict[str, int] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def accepted(self, name: str) -> list[Received]:
        """Deliveries answered 2xx, in arrival order, duplicates included."""
        return [r for r in self.received if r.name == name and r.status < 300]

    def unique(self, name: str) -> list[Received]:
        """Accepted deliveries with duplicates (same webhook-id) dropped, first kept."""
        seen: set[str] = set()
        kept = []
        for received in self.accepted(name):
            if received.webhook_id not in seen:
                seen.add(received.webhook_id)
                kept.append(received)
        return kept

    async def _hook(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        secret = self.secrets.get(name)
        if secret is None:
            return Response(status_code=404)
        try:
            event = Webhook(secret).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            self.rejected.append(f"{name}: {exc}")
            return Response(status_code=401)
        status = self.fail_with.get(name, 204)
        self.received.append(
            Received(
                name=name,
                webhook_id=request.headers["webhook-id"],
                timestamp=int(request.headers["webhook-timestamp"]),
                content_type=request.headers.get("content-type", ""),
                event=event,
                status=status,
            )
        )
        return Response(status_code=status, content=b"busy" if status >= 300 else b"")

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hooks/{name}", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve())
        await wait_until(lambda: server.started, timeout=30, message="receiver started")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server, self._task = None, None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
