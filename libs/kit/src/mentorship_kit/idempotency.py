"""Idempotency keys for POST commands: the first answer is stored with the events.

Same key + same request → the stored answer is replayed, and the command is not run
again. Same key + a different request → refused (the API maps it to 422). The record is
written inside the command's own transaction, so an answer is stored exactly when its
events are; a crash in between leaves neither. Only successful answers are stored: a
refused command changed nothing, and retrying it is harmless.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_KEY_LENGTH = 255


class IdempotencyKeyReusedError(Exception):
    """The key was already used for a different request."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """A hash of what makes two requests "the same": method, path and JSON body."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, metadata: sa.MetaData) -> None:
        self.table = metadata.tables["idempotency_keys"]

    async def find(
        self, conn: AsyncConnection, *, scope: str, key: str, fingerprint: str
    ) -> StoredResponse | None:
        """The stored answer for this key, None when unused; raises when reused."""
        row = (
            await conn.execute(
                sa.select(self.table).where(self.table.c.scope == scope, self.table.c.key == key)
            )
        ).first()
        if row is None:
            return None
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReusedError(key)
        return StoredResponse(int(row.status_code), bytes(row.response_body), row.response_headers)

    async def save(
        self,
        conn: AsyncConnection,
        *,
        scope: str,
        key: str,
        fingerprint: str,
        response: StoredResponse,
    ) -> None:
        """Record the answer. A concurrent duplicate surfaces as IntegrityError on commit."""
        await conn.execute(
            sa.insert(self.table).values(
                scope=scope,
                key=key,
                request_hash=fingerprint,
                status_code=response.status_code,
                response_body=response.body,
                response_headers=response.headers,
                created_at=datetime.now(UTC),
            )
        )

    async def forget_answers_naming(self, conn: AsyncConnection, value: str) -> int:
        """Delete every stored answer holding the JSON string ``value``; how many.

        For erasure: an answer may quote personal data of the subject it names. A key
        whose answer is forgotten runs its command again when it is replayed, which the
        commands that name an employee (upserts, departures) treat as unchanged.
        """
        needle = orjson.dumps(value)
        body = self.table.c.response_body
        naming = (
            sa.text("position(CAST(:needle AS bytea) IN response_body) > 0").bindparams(
                sa.bindparam("needle", needle, type_=sa.LargeBinary)
            )
            if conn.dialect.name == "postgresql"
            else sa.func.instr(body, needle) > 0
        )
        result = await conn.execute(sa.delete(self.table).where(naming))
        return int(result.rowcount)


def is_duplicate_key(exc: IntegrityError) -> bool:
    """Whether an IntegrityError came from the idempotency table's primary key."""
    text = str(exc.orig).lower()
    return "idempotency_keys" in text or "pk_idempotency_keys" in text
