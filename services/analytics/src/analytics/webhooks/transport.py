"""Sending one delivery attempt over HTTP, with the target rules enforced at connect time.

Outside dev mode the HTTP client resolves the target's host itself and connects only to
addresses that pass :func:`~analytics.webhooks.targets.forbidden_address` — to the
very address it checked, so that a DNS answer that changes between the check and the
connection (DNS rebinding) cannot slip an internal address in. TLS still verifies
the certificate against the host name. Proxies from the environment are ignored, and
redirects are not followed (a 3xx answer is a failed attempt), for the same reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import httpcore
import httpx

from analytics.webhooks.targets import (
    IPAddress,
    TargetRefusedError,
    check_url,
    forbidden_address,
)

USER_AGENT: Final = "mentorship-webhooks/1"
_EXCERPT_BYTES: Final = 512

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


class AddressRefusedError(httpcore.ConnectError):
    """The target resolved to an address deliveries must not go to."""


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked public addresses."""

    def __init__(
        self,
        resolver: Resolver = resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolve = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except (OSError, TimeoutError) as exc:
            msg = f"cannot resolve {host!r}: {exc!r}"
            raise httpcore.ConnectError(msg) from exc
        if not addresses:
            msg = f"{host!r} resolves to no address"
            raise httpcore.ConnectError(msg)
        # One internal address among public ones is enough to refuse: such an answer is
        # exactly what an attacker controlling the name would give.
        for address in addresses:
            if reason := forbidden_address(address):
                msg = f"{host!r} resolves to {address}, {reason}"
                raise AddressRefusedError(msg)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # noqa: S101 - the loop ran at least once
        raise failure

    async def connect_unix_socket(
        self,
        path: str,  # noqa: ARG002 - httpcore's interface
        timeout: float | None = None,  # noqa: ARG002, ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,  # noqa: ARG002 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        msg = "webhooks are not delivered to unix sockets"
        raise AddressRefusedError(msg)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool that uses :class:`GuardedBackend`."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        super().__init__(trust_env=False, retries=0)
        # httpx takes no network backend, so its pool is replaced by an equal one that
        # has it (this transport never uses a proxy, the other kind of pool).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=backend,
        )


def http_client(
    *, dev_mode: bool, timeout: float, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """The client deliveries are sent with; guarded outside dev mode."""
    transport = (
        httpx.AsyncHTTPTransport(trust_env=False, retries=0)
        if dev_mode
        else GuardedTransport(GuardedBackend(resolver))
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300  # noqa: PLR2004 - the 2xx range

    @property
    def outcome(self) -> str:
        """The attempt's label in metrics."""
        if self.succeeded:
            return "success"
        if self.refused:
            return "refused"
        return "http_error" if self.status_code is not None else "transport_error"


class Sender:
    """POSTs one signed body to a target that the rules still allow."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allowed_hosts: Sequence[str],
        dev_mode: bool,
        timeout: float,
    ) -> None:
        self.client = client
        self.allowed_hosts = tuple(allowed_hosts)
        self.dev_mode = dev_mode
        self.timeout = timeout

    async def send(self, url: str, headers: Mapping[str, str], body: str) -> AttemptResult:
        try:
            check_url(url, allowed_hosts=self.allowed_hosts, dev_mode=self.dev_mode)
        except TargetRefusedError as exc:
            return AttemptResult(None, f"refused: {exc}", refused=True)
        try:
            # httpx's timeout bounds each phase; this bounds the whole attempt.
            async with asyncio.timeout(self.timeout):
                return await self._post(url, headers, body)
        except TimeoutError:
            return AttemptResult(None, f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, AddressRefusedError):
                return AttemptResult(None, f"refused: {exc.__cause__}", refused=True)
            return AttemptResult(None, f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))

    async def _post(self, url: str, headers: Mapping[str, str], body: str) -> AttemptResult:
        async with self.client.stream(
            "POST", url, content=body.encode(), headers=dict(headers)
        ) as response:
            if 200 <= response.status_code < 300:  # noqa: PLR2004 - the 2xx range
                return AttemptResult(response.status_code, None)
            # A little of the answer helps whoever reads the delivery log; never all of it.
            excerpt = b""
            async for chunk in response.aiter_raw():
                excerpt += chunk
                if len(excerpt) >= _EXCERPT_BYTES:
                    break
            text = excerpt[:_EXCERPT_BYTES].decode("utf-8", errors="replace").strip()
            error = f"HTTP {response.status_code}" + (f": {text}" if text else "")
            return AttemptResult(response.status_code, error)
