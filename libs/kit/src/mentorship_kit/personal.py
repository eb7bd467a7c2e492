"""Personal data sealed with a key per data subject, and erased by destroying that key.

Crypto-shredding: events are immutable and copied everywhere (the event store, NATS
JetStream, consumers' dead letters, webhook deliveries, backups), so personal data
cannot be deleted from them. Instead every personal field (``personal_paths()`` of the
contract) is encrypted with a data key of its data subject before the event is stored.
The keys live in one table of the producing service's database, wrapped by a master
key from the environment, and never in an event. Erasing a subject deletes their key:
every copy of every sealed value becomes unreadable at once, and opens as ``None``.

Cipher: AES-256-GCM from ``cryptography``, a random 96-bit nonce per value, and the
subject id plus field path as associated data, so a sealed value cannot be moved to
another person or field. A sealed value is the string ``pd1.<base64url(nonce|ct)>``.

Keys are fetched once per subject per call (one query for a whole batch) and are not
cached between transactions: an erasure takes effect for the next transaction of every
process, with nothing to invalidate.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from opentelemetry import trace
from prometheus_client import Counter
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_contracts import EventContract, EventRegistry, registry
from mentorship_contracts.base import FieldPath
from mentorship_kit.db import transaction_driver

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)

PREFIX: Final = "pd1."
KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
KEYS_TABLE: Final = "personal_data_keys"
_PG_DIALECT: Final = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's own

ERASURES = Counter(
    "mentorship_personal_data_erasures_total",
    "Erasure requests of a data subject's personal data, by outcome.",
    ["service", "outcome"],
)
KEYS_CREATED = Counter(
    "mentorship_personal_data_keys_created_total",
    "Data keys created for new data subjects.",
    ["service"],
)


class PersonalDataError(RuntimeError):
    """A sealed value cannot be opened with a live key: wrong master key or tampering."""


class SubjectErasedError(RuntimeError):
    """Personal data of an erased subject was to be sealed again."""

    def __init__(self, subject_id: str) -> None:
        self.subject_id = subject_id
        super().__init__(f"the personal data of {subject_id!r} was erased")


def define_keys_table(metadata: sa.MetaData) -> sa.Table:
    """The key table, in the database of a service whose events carry personal data.

    ``wrapped_key`` is NULL once the subject is erased: the row stays as a tombstone
    so that no new key is ever made for an erased subject.
    """
    return sa.Table(
        KEYS_TABLE,
        metadata,
        sa.Column("subject_id", sa.String(200), primary_key=True),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
    )


def decode_master_key(text: str) -> bytes:
    """The master key from its base64 (url-safe or standard) form; 32 bytes."""
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        key = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        msg = "the personal-data master key is not base64"
        raise ValueError(msg) from exc
    if len(key) != KEY_BYTES:
        msg = f"the personal-data master key must be {KEY_BYTES} bytes, not {len(key)}"
        raise ValueError(msg)
    return key


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(subject_id: str, path: FieldPath) -> bytes:
    return "\x00".join((subject_id, *path)).encode()


class _Nonces:
    """Random 96-bit nonces, drawn from the OS in one call for a whole batch.

    A system call per value cost more than the encryption itself on a 10,000-row
    import; the bytes are the same kind (``os.urandom``), only fetched together.
    """

    def __init__(self, count: int) -> None:
        self._pool = os.urandom(_NONCE_BYTES * max(count, 1))
        self._next = 0

    def take(self) -> bytes:
        if self._next + _NONCE_BYTES > len(self._pool):
            self._pool, self._next = os.urandom(_NONCE_BYTES * 64), 0
        nonce = self._pool[self._next : self._next + _NONCE_BYTES]
        self._next += _NONCE_BYTES
        return nonce


def _encrypt(cipher: AESGCM, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return nonce + cipher.encrypt(nonce, plaintext, aad)


def _decrypt(cipher: AESGCM, blob: bytes, aad: bytes) -> bytes:
    try:
        return cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
    except InvalidTag as exc:
        msg = "a sealed value does not open with its key (wrong master key, or tampered)"
        raise PersonalDataError(msg) from exc


@dataclass(frozen=True, slots=True)
class Erasure:
    subject_id: str
    erased_at: datetime
    # False when the subject had been erased before (the call changed nothing).
    now: bool


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


class PersonalDataVault:
    """Seals and opens the personal fields of events; erases a subject's key."""

    def __init__(
        self,
        keys: sa.Table,
        master_key: bytes,
        *,
        service: str,
        events: EventRegistry | None = None,
    ) -> None:
        if len(master_key) != KEY_BYTES:
            msg = f"the master key must be {KEY_BYTES} bytes"
            raise ValueError(msg)
        self.keys = keys
        self._master = AESGCM(master_key)
        name = _PG_DIALECT.identifier_preparer.format_table(keys)
        self._pg_select = (
            f"SELECT subject_id, wrapped_key FROM {name} WHERE subject_id = ANY($1::text[])"  # noqa: S608 - our table's name, quoted
        )
        self._pg_insert = (
            f"INSERT INTO {name} (subject_id, wrapped_key, created_at)"  # noqa: S608 - as above
            " SELECT s, k, $3::timestamptz FROM unnest($1::text[], $2::bytea[]) AS u(s, k)"
            " ON CONFLICT (subject_id) DO NOTHING RETURNING subject_id"
        )
        self.service = service
        self.events = events or registry()

    # -- keys ------------------------------------------------------------------------

    async def _load_keys(
        self, conn: AsyncConnection, subjects: Iterable[str]
    ) -> dict[str, bytes | None]:
        """subject -> data key, None for an erased subject; unknown subjects are absent."""
        wanted = sorted(set(subjects))
        found: dict[str, bytes | None] = {}
        if not wanted:
            return found
        for subject_id, wrapped in await self._wrapped_keys(conn, wanted):
            found[subject_id] = (
                None
                if wrapped is None
                else _decrypt(self._master, bytes(wrapped), _aad(subject_id, ()))
            )
        return found

    async def _wrapped_keys(
        self, conn: AsyncConnection, wanted: list[str]
    ) -> list[tuple[str, bytes | None]]:
        # On PostgreSQL one array parameter through the driver, whatever the number of
        # subjects: an IN list of 10,000 bound values cost SQLAlchemy more CPU than the
        # query cost the database (a directory import seals 10,000 subjects at once).
        if conn.dialect.name == "postgresql":
            driver = await transaction_driver(conn)
            rows = await driver.fetch(self._pg_select, wanted)
            return [(row[0], row[1]) for row in rows]
        c = self.keys.c
        found: list[tuple[str, bytes | None]] = []
        for start in range(0, len(wanted), 5000):
            rows = await conn.execute(
                sa.select(c.subject_id, c.wrapped_key).where(
                    c.subject_id.in_(wanted[start : start + 5000])
                )
            )
            found.extend((subject_id, wrapped) for subject_id, wrapped in rows)
        return found

    async def _insert_keys(
        self, conn: AsyncConnection, wrapped: dict[str, bytes], now: datetime
    ) -> set[str]:
        """Store new wrapped keys; the subjects whose key is ours (not a concurrent one)."""
        # A concurrent transaction may create the same subject's key first; its key is
        # then the one (the caller reads it back). The rows inserted here hold ours.
        if conn.dialect.name == "postgresql":
            driver = await transaction_driver(conn)
            rows = await driver.fetch(self._pg_insert, list(wrapped), list(wrapped.values()), now)
            return {row[0] for row in rows}
        created = await conn.execute(
            _insert(conn)(self.keys)
            .on_conflict_do_nothing(index_elements=["subject_id"])
            .returning(self.keys.c.subject_id),
            [
                {"subject_id": subject, "wrapped_key": key, "created_at": now}
                for subject, key in wrapped.items()
            ],
        )
        return set(created.scalars())

    async def _keys_for_sealing(
        self, conn: AsyncConnection, subjects: Iterable[str]
    ) -> dict[str, AESGCM]:
        """A cipher per subject, with a new key for each subject that has none yet."""
        wanted = set(subjects)
        keys = await self._load_keys(conn, wanted)
        missing = sorted(wanted - keys.keys())
        if missing:
            now = datetime.now(UTC)
            # Random keys drawn from the OS in one call, like the nonces (see _Nonces).
            pool = os.urandom(KEY_BYTES * len(missing))
            fresh = {
                subject: pool[i * KEY_BYTES : (i + 1) * KEY_BYTES]
                for i, subject in enumerate(missing)
            }
            nonces = _Nonces(len(fresh))
            wrapped = {
                subject: _encrypt(self._master, nonces.take(), key, _aad(subject, ()))
                for subject, key in fresh.items()
            }
            ours = await self._insert_keys(conn, wrapped, now)
            KEYS_CREATED.labels(self.service).inc(len(ours))
            keys.update({subject: fresh[subject] for subject in ours})
            keys.update(await self._load_keys(conn, set(missing) - ours))
        ciphers: dict[str, AESGCM] = {}
        for subject in wanted:
            key = keys.get(subject)
            if key is None:
                raise SubjectErasedError(subject)
            ciphers[subject] = AESGCM(key)
        return ciphers

    # -- events ----------------------------------------------------------------------

    def _paths(self, event_type: str) -> tuple[FieldPath, ...]:
        if not self.events.knows(event_type):
            return ()
        return self.events.get(event_type).personal_paths()

    def _subject(self, event_type: str, data: Mapping[str, Any]) -> str:
        field = self.events.get(event_type).data_subject_field
        assert field is not None  # noqa: S101 - the registry refuses personal data without one
        return str(data[field])

    async def seal(
        self,
        conn: AsyncConnection,
        events: Sequence[EventContract],
        clear: Sequence[Mapping[str, Any]],
    ) -> list[Mapping[str, Any]]:
        """Each event's data with its personal fields sealed (a new key per new subject).

        ``clear`` holds the events' ``to_data()``; it is not changed: sealed values go
        into copies made along the personal paths.
        """
        personal = [
            (index, self._subject(event.event_type(), data), event.personal_paths())
            for index, (event, data) in enumerate(zip(events, clear, strict=True))
            if event.personal_paths()
        ]
        if not personal:
            return list(clear)
        ciphers = await self._keys_for_sealing(conn, (subject for _, subject, _ in personal))
        nonces = _Nonces(sum(len(paths) for _, _, paths in personal))
        sealed = list(clear)
        for index, subject, paths in personal:
            data = _copy_along(clear[index], paths)
            for path in paths:
                parent = _parent(data, path)
                if parent is not None and parent.get(path[-1]) is not None:
                    parent[path[-1]] = _seal_with(
                        ciphers[subject], nonces.take(), parent[path[-1]], _aad(subject, path)
                    )
            sealed[index] = data
        return sealed

    async def open(
        self, conn: AsyncConnection, items: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[Mapping[str, Any]]:
        """``(event type, stored data)`` pairs with personal fields opened.

        A field of an erased subject opens as ``None``, whatever it holds; a value
        stored in clear (an event version older than sealing) is left as it is.
        """
        subjects = {
            self._subject(event_type, data) for event_type, data in items if self._paths(event_type)
        }
        if not subjects:
            return [data for _, data in items]
        keys = await self._load_keys(conn, subjects)
        ciphers = {subject: AESGCM(key) for subject, key in keys.items() if key is not None}
        opened: list[Mapping[str, Any]] = []
        for event_type, data in items:
            paths = self._paths(event_type)
            if not paths:
                opened.append(data)
                continue
            subject = self._subject(event_type, data)
            erased = subject in keys and keys[subject] is None
            cipher = ciphers.get(subject)
            copy = _copy_along(data, paths)
            for path in paths:
                parent = _parent(copy, path)
                if parent is not None and path[-1] in parent:
                    value = parent[path[-1]]
                    parent[path[-1]] = (
                        None if erased else _open_value(cipher, value, _aad(subject, path))
                    )
            opened.append(copy)
        return opened

    async def erase(self, conn: AsyncConnection, subject_id: str) -> Erasure:
        """Destroy the subject's key, leaving a tombstone; repeating it changes nothing."""
        with tracer.start_as_current_span(
            "personal_data.erase", attributes={"service": self.service}
        ) as span:
            c = self.keys.c
            now = datetime.now(UTC)
            inserted = await conn.execute(
                _insert(conn)(self.keys)
                .values(subject_id=subject_id, wrapped_key=None, created_at=now, erased_at=now)
                .on_conflict_do_nothing(index_elements=["subject_id"])
            )
            destroyed = await conn.execute(
                self.keys.update()
                .where(c.subject_id == subject_id, c.erased_at.is_(None))
                .values(wrapped_key=None, erased_at=now)
            )
            first = inserted.rowcount > 0 or destroyed.rowcount > 0
            erased_at = (
                await conn.execute(sa.select(c.erased_at).where(c.subject_id == subject_id))
            ).scalar_one()
            span.set_attribute("personal_data.first_erasure", first)
        ERASURES.labels(self.service, "erased" if first else "already_erased").inc()
        log.info("personal_data.erased", subject_id=subject_id, first=first)
        return Erasure(subject_id, _as_utc(erased_at), now=first)


def _as_utc(moment: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _seal_with(cipher: AESGCM, nonce: bytes, value: object, aad: bytes) -> str:
    """The sealed form of a personal value (text)."""
    if not isinstance(value, str):
        msg = f"personal fields hold text, not {type(value).__name__}"
        raise TypeError(msg)
    blob = _encrypt(cipher, nonce, value.encode(), aad)
    return PREFIX + base64.urlsafe_b64encode(blob).rstrip(b"=").decode()


def _open_value(cipher: AESGCM | None, value: object, aad: bytes) -> object:
    if not is_sealed(value):
        return value
    if cipher is None:
        msg = "a sealed value of a subject without a key"
        raise PersonalDataError(msg)
    text = str(value)[len(PREFIX) :]
    blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return _decrypt(cipher, blob, aad).decode()


def _copy_along(data: Mapping[str, Any], paths: tuple[FieldPath, ...]) -> dict[str, Any]:
    """A copy of ``data`` whose mappings along ``paths`` are fresh, safe to change."""
    copy = dict(data)
    for prefix in _inner_prefixes(paths):
        holder = _parent(copy, prefix)  # fresh already: shorter prefixes come first
        child = None if holder is None else holder.get(prefix[-1])
        if holder is not None and isinstance(child, Mapping):
            holder[prefix[-1]] = dict(child)
    return copy


@functools.cache
def _inner_prefixes(paths: tuple[FieldPath, ...]) -> tuple[FieldPath, ...]:
    """The paths of the mappings that hold personal fields, shortest first."""
    prefixes = {path[:depth] for path in paths for depth in range(1, len(path))}
    return tuple(sorted(prefixes, key=len))


def _parent(data: dict[str, Any], path: FieldPath) -> dict[str, Any] | None:
    """The mapping that holds the field at ``path``, None when the path is absent."""
    node: object = data
    for name in path[:-1]:
        node = node.get(name) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None
