"""An app served by a real uvicorn on a free loopback port, in a thread of its own."""

from __future__ import annotations

import threading
import time
from typing import Self

import httpx
import uvicorn
from fastapi import FastAPI

from mentorship_kit.testing.util import free_port


class LiveServer:
    """``with LiveServer(app) as server: httpx.get(server.url + "/readyz")``."""

    def __init__(self, app: FastAPI, *, ready_path: str = "/readyz") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self, timeout: float = 30.0) -> Self:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline or not self.thread.is_alive():
                msg = f"the app at {self.url} did not become ready within {timeout}s"
                raise TimeoutError(msg)
            time.sleep(0.05)
        return self

    def _ready(self) -> bool:
        if not self.server.started:
            return False
        try:
            return httpx.get(self.url + self.ready_path, timeout=2).status_code == 200  # noqa: PLR2004
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
