"""The HTTP side of a command: who asks, the Idempotency-Key, and the answer.

An endpoint parses its body, then hands one use case to :class:`CommandEndpoint`::

    @router.post("/v1/programs", status_code=201)
    async def create_program(body: CreateProgram, command: CommandDep) -> ProgramOut:
        return await command.execute(use_cases.create_program(body), present=ProgramOut.of,
                                     status_code=201)

With an ``Idempotency-Key`` header the answer is rendered inside the command's
transaction and stored with its events; a retry with the same key and body gets the
same bytes back (``Idempotent-Replayed: true``), a different body gets 422.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar

import orjson
from fastapi import Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_kit.auth import CurrentPrincipal, Principal
from mentorship_kit.commands import CommandTransaction, UseCase
from mentorship_kit.context import ContextDep, ServiceContext, request_metadata
from mentorship_kit.idempotency import (
    IdempotencyKeyReusedError,
    IdempotencyStore,
    StoredResponse,
    is_duplicate_key,
    request_fingerprint,
)
from mentorship_kit.problems import ProblemError

T = TypeVar("T")

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"


class CommandEndpoint:
    """Runs one command on behalf of one HTTP request."""

    def __init__(
        self,
        request: Request,
        context: ServiceContext,
        principal: Principal,
        idempotency_key: str | None,
    ) -> None:
        self.request = request
        self.context = context
        self.principal = principal
        self.idempotency_key = idempotency_key
        self._keys = IdempotencyStore(context.store.metadata)

    async def execute(
        self,
        use_case: UseCase[T],
        *,
        present: Callable[[T], BaseModel],
        status_code: int = 200,
        role: str | None = None,
    ) -> Any:
        """Run ``use_case`` and answer with ``present(result)`` as JSON."""
        metadata = request_metadata(self.request, self.principal, role=role)
        runner = self.context.runner
        if self.idempotency_key is None:
            done = await runner.run(use_case, metadata=metadata)
            return _json_response(status_code, _render(present(done)), {})
        key = self.idempotency_key
        fingerprint = request_fingerprint(
            self.request.method, self.request.url.path, await self.request.body()
        )
        scope = self.principal.subject
        answer: list[StoredResponse] = []

        async def replay_or_run(tx: CommandTransaction) -> T | _Replay:
            # Looked up in the command's own transaction: a retry costs no extra
            # connection or round trips, and a first request only one SELECT.
            stored = await self._find(tx.conn, scope, key, fingerprint)
            return _Replay(stored) if stored is not None else await use_case(tx)

        async def remember(tx: CommandTransaction, result: T | _Replay) -> None:
            if isinstance(result, _Replay):
                return
            response = StoredResponse(status_code, _render(present(result)), {})
            await self._keys.save(
                tx.conn, scope=scope, key=key, fingerprint=fingerprint, response=response
            )
            answer.append(response)

        try:
            result: T | _Replay = await runner.run(
                replay_or_run, metadata=metadata, before_commit=remember
            )
        except IntegrityError as exc:
            if not is_duplicate_key(exc):
                raise
            # A concurrent request with the same key committed first: answer as it did.
            async with self.context.engine.connect() as conn:
                stored = await self._find(conn, scope, key, fingerprint)
            if stored is None:
                raise
            return _replay(stored)
        if isinstance(result, _Replay):
            return _replay(result.stored)
        return _json_response(answer[-1].status_code, answer[-1].body, answer[-1].headers)

    async def _find(
        self, conn: AsyncConnection, scope: str, key: str, fingerprint: str
    ) -> StoredResponse | None:
        try:
            return await self._keys.find(conn, scope=scope, key=key, fingerprint=fingerprint)
        except IdempotencyKeyReusedError as exc:
            raise ProblemError(
                422,
                f"{IDEMPOTENCY_HEADER} {key!r} was already used with a different request",
                title="Idempotency key reused",
                type_uri="urn:mentorship:problem:idempotency-key-reused",
                extensions={
                    "errors": [
                        {
                            "field": f"header/{IDEMPOTENCY_HEADER}",
                            "message": "already used with a different request body",
                        }
                    ]
                },
            ) from exc


@dataclass(frozen=True, slots=True)
class _Replay:
    """The answer stored for an Idempotency-Key already used with the same request."""

    stored: StoredResponse


def _render(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))


def _json_response(status_code: int, body: bytes, headers: dict[str, str]) -> Response:
    return Response(
        content=body, status_code=status_code, media_type="application/json", headers=headers
    )


def _replay(stored: StoredResponse) -> Response:
    return _json_response(
        stored.status_code, stored.body, {**stored.headers, REPLAYED_HEADER: "true"}
    )


async def command_endpoint(
    request: Request,
    context: ContextDep,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            min_length=1,
            max_length=255,
            description=(
                "Makes the POST safe to retry: the same key with the same body returns the "
                "first answer; with a different body it is refused with 422."
            ),
        ),
    ] = None,
) -> CommandEndpoint:
    return CommandEndpoint(request, context, principal, idempotency_key)


CommandDep = Annotated[CommandEndpoint, Depends(command_endpoint)]
