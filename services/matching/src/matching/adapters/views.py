"""The views of matching's own events, kept in each command's transaction (inline).

Runs (with every proposal and unmatched mentee), pairs, mentor requests and blocked
pairs. Like every projection of the kit it can be dropped and rebuilt from the event
store. A command that appends thousands of events (publishing a large run) wraps the
append in :func:`deferred`: the events are then written together at the end of the
block, a few ``executemany`` statements for all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from matching.adapters import tables
from matching.domain.runs import PROPOSALS_PER_PART, UNMATCHED_PER_PART
from mentorship_contracts import CloudEvent, EventContract, registry
from mentorship_contracts.matching import (
    MatchRunCompleted,
    MatchRunProposalsRecorded,
    MatchRunPublished,
    MentorRequestAccepted,
    MentorRequestCancelled,
    MentorRequestDeclined,
    MentorRequested,
    MentorRequestExhausted,
    MentorRequestExpired,
    PairAccepted,
    PairBlocked,
    PairDeclined,
    PairEnded,
    PairFormed,
    PairProposed,
    PairUnblocked,
)
from mentorship_kit.projection import Projection

_DEFERRED: Final = "matching.deferred_views"
Params = dict[str, Any]
_ACCEPTED: Final = {"mentor": "pair_mentor_accepted", "mentee": "pair_mentee_accepted"}


@dataclass(frozen=True, slots=True)
class _Write:
    """One statement's parameters; writes of the same `kind` share one statement.

    Every statement touches one row; `key` says which (see `_row_key`).
    """

    kind: str
    params: Params

    @property
    def key(self) -> tuple[object, ...]:
        return _row_key(self.kind, self.params)


# Which parameter names the row a statement touches, per statement kind prefix.
_KEYS: Final = {
    "run": ("run_id", "b_run_id"),
    "proposal": ("run_id", "seq"),
    "unmatched": ("run_id", "seq"),
    "pair": ("pair_id", "b_pair_id"),
    "request": ("request_id", "b_request_id"),
    "block": ("block_id", "b_block_id"),
}


def _row_key(kind: str, params: Params) -> tuple[object, ...]:
    table = kind.split("_", 1)[0]
    names = _KEYS[table]
    if table in {"proposal", "unmatched"}:
        return (table, *(params[name] for name in names))
    return (table, next(params[name] for name in names if name in params))


def _writes(event: EventContract, envelope: CloudEvent) -> list[_Write]:  # noqa: C901, PLR0911, PLR0912 - one case per event type reads best
    at = envelope.time
    match event:
        case MatchRunCompleted():
            return [
                _Write(
                    "run_insert",
                    {
                        "run_id": event.run_id,
                        "program_id": event.program_id,
                        "kind": event.kind,
                        "status": "completed",
                        "dry_run": event.dry_run,
                        "objective": event.objective,
                        "format": event.format,
                        "algorithm_version": event.algorithm_version,
                        "record": event.to_data(),
                        # Listing order: when it was recorded (completed_at is the
                        # service clock's time, shown in the run itself).
                        "created_at": at,
                    },
                )
            ]
        case MatchRunProposalsRecorded():
            first_proposal = (event.part - 1) * PROPOSALS_PER_PART
            first_unmatched = (event.part - 1) * UNMATCHED_PER_PART
            return [
                *(
                    _Write(
                        "proposal_insert",
                        {
                            "run_id": event.run_id,
                            "seq": first_proposal + i,
                            "mentor_id": p.mentor_id,
                            "mentee_id": p.mentee_id,
                            "group_id": p.group_id,
                            "score": p.score,
                            "explanation": [f.model_dump(mode="json") for f in p.explanation],
                        },
                    )
                    for i, p in enumerate(event.proposals)
                ),
                *(
                    _Write(
                        "unmatched_insert",
                        {
                            "run_id": event.run_id,
                            "seq": first_unmatched + i,
                            "employee_id": u.employee_id,
                            "reason": u.reason,
                            "detail": u.detail,
                            "excluded_by": dict(u.excluded_by),
                        },
                    )
                    for i, u in enumerate(event.unmatched)
                ),
            ]
        case MatchRunPublished():
            return [
                _Write(
                    "run_published",
                    {
                        "b_run_id": event.run_id,
                        "published_at": event.published_at or at,
                        "auto_accept": event.auto_accept,
                    },
                )
            ]
        case PairProposed():
            return [
                _Write(
                    "pair_insert",
                    {
                        "pair_id": event.pair_id,
                        "program_id": event.program_id,
                        "run_id": event.run_id,
                        "request_id": event.request_id,
                        "mentor_id": event.mentor_id,
                        "mentee_id": event.mentee_id,
                        "format": event.format,
                        "group_id": event.group_id,
                        "score": event.score,
                        "explanation": [f.model_dump(mode="json") for f in event.explanation],
                        "algorithm_version": event.algorithm_version,
                        "status": "proposed",
                        "mentor_accepted": False,
                        "mentee_accepted": False,
                        "proposed_on": event.proposed_on,
                        "proposed_at": at,
                    },
                )
            ]
        case PairAccepted():
            kind = _ACCEPTED.get(event.side, "pair_both_accepted")
            return [_Write(kind, {"b_pair_id": event.pair_id})]
        case PairFormed():
            return [
                _Write(
                    "pair_formed",
                    {"b_pair_id": event.pair_id, "formed_on": event.formed_on, "formed_at": at},
                )
            ]
        case PairDeclined():
            return [
                _Write(
                    "pair_declined",
                    {
                        "b_pair_id": event.pair_id,
                        "declined_on": event.declined_on,
                        "decline_reason": event.reason,
                    },
                )
            ]
        case PairEnded():
            return [
                _Write(
                    "pair_ended",
                    {
                        "b_pair_id": event.pair_id,
                        "ended_on": event.ended_on,
                        "ended_at": at,
                        "end_reason": event.reason,
                    },
                )
            ]
        case MentorRequested():
            return [
                _Write(
                    "request_asked",
                    {
                        "request_id": event.request_id,
                        "program_id": event.program_id,
                        "mentee_id": event.mentee_id,
                        "mentor_id": event.mentor_id,
                        "choices": list(event.choices) or [event.mentor_id],
                        "choice_rank": event.choice_rank,
                        "status": "pending",
                        "expires_at": event.expires_at,
                        "pair_id": None,
                        "created_at": at,
                        "updated_at": at,
                    },
                )
            ]
        case MentorRequestDeclined() | MentorRequestExpired():
            return [_Write("request_touched", {"b_request_id": event.request_id, "updated_at": at})]
        case MentorRequestAccepted():
            return [
                _Write(
                    "request_closed",
                    {
                        "b_request_id": event.request_id,
                        "status": "accepted",
                        "pair_id": event.pair_id,
                        "updated_at": at,
                    },
                )
            ]
        case MentorRequestExhausted() | MentorRequestCancelled():
            status = "exhausted" if isinstance(event, MentorRequestExhausted) else "cancelled"
            return [
                _Write(
                    "request_closed",
                    {
                        "b_request_id": event.request_id,
                        "status": status,
                        "pair_id": None,
                        "updated_at": at,
                    },
                )
            ]
        case PairBlocked():
            first, second = event.employee_ids
            return [
                _Write(
                    "block_insert",
                    {
                        "block_id": event.block_id,
                        "program_id": event.program_id,
                        "employee_a": first,
                        "employee_b": second,
                        "reason": event.reason,
                        "created_at": at,
                    },
                )
            ]
        case PairUnblocked():
            return [_Write("block_delete", {"b_block_id": event.block_id})]
    return []


def _statements(t: Callable[[str], sa.Table], dialect: str) -> dict[str, Any]:
    runs, pairs, requests = t("match_runs"), t("pairs"), t("mentor_requests")
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    asked = insert(requests)
    # The first MentorRequested creates the row; each later one (the next choice)
    # moves it to the mentor now asked.
    asked = asked.on_conflict_do_update(
        index_elements=["request_id"],
        set_={
            name: asked.excluded[name]
            for name in ("mentor_id", "choice_rank", "status", "expires_at", "updated_at")
        },
    )
    blocked = t("blocked_pairs")
    pair = pairs.c.pair_id == sa.bindparam("b_pair_id")
    request = requests.c.request_id == sa.bindparam("b_request_id")
    return {
        "run_insert": runs.insert(),
        "proposal_insert": t("match_run_proposals").insert(),
        "unmatched_insert": t("match_run_unmatched").insert(),
        "run_published": runs.update()
        .where(runs.c.run_id == sa.bindparam("b_run_id"))
        .values(status="published"),
        "pair_insert": pairs.insert(),
        "pair_mentor_accepted": pairs.update().where(pair).values(mentor_accepted=True),
        "pair_mentee_accepted": pairs.update().where(pair).values(mentee_accepted=True),
        "pair_both_accepted": pairs.update()
        .where(pair)
        .values(mentor_accepted=True, mentee_accepted=True),
        "pair_formed": pairs.update()
        .where(pair)
        .values(status="active", mentor_accepted=True, mentee_accepted=True),
        "pair_declined": pairs.update().where(pair).values(status="declined"),
        "pair_ended": pairs.update().where(pair).values(status="ended"),
        "request_asked": asked,
        "request_touched": requests.update().where(request),
        "request_closed": requests.update().where(request),
        "block_insert": blocked.insert(),
        "block_delete": blocked.delete().where(blocked.c.block_id == sa.bindparam("b_block_id")),
    }


class MatchingViews(Projection):
    """Runs, proposals, unmatched mentees, pairs, mentor requests, blocked pairs."""

    name: ClassVar[str] = "matching_views"

    def __init__(self) -> None:
        super().__init__(
            tables.match_runs,
            tables.match_run_proposals,
            tables.match_run_unmatched,
            tables.pairs,
            tables.mentor_requests,
            tables.blocked_pairs,
        )

    async def handle(self, conn: AsyncConnection, event: CloudEvent) -> None:
        pending: list[CloudEvent] | None = conn.info.get(_DEFERRED)
        if pending is not None:
            pending.append(event)
            return
        await self.apply(conn, [event])

    async def handle_batch(self, conn: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        await self.apply(conn, events)

    async def apply(self, conn: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        """Write `events` in order; consecutive writes of one kind go as one executemany."""
        statements = _statements(self.table, conn.dialect.name)
        kind, batch = "", list[Params]()
        for write in _all_writes(events):
            if write.kind != kind and batch:
                await conn.execute(statements[kind], batch)
                batch = []
            kind = write.kind
            batch.append(write.params)
        if batch:
            await conn.execute(statements[kind], batch)

    async def apply_by_row(self, conn: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        """Write `events` in levels: a row's first write in level 0, its second in level
        1, ...; each level one executemany per kind. Every statement touches one row, so
        each row still sees its writes in order — but rows are no longer written in event
        order, so only for events whose rows have no constraint between them (the new
        pairs of one publish: distinct, unpaired mentees). Publishing a run thus costs
        two statements: every pair's insert, then every pair's formation."""
        statements = _statements(self.table, conn.dialect.name)
        levels: list[dict[str, list[Params]]] = []
        writes_of: dict[tuple[object, ...], int] = {}
        for write in _all_writes(events):
            depth = writes_of.get(write.key, 0)
            writes_of[write.key] = depth + 1
            if depth == len(levels):
                levels.append({})
            levels[depth].setdefault(write.kind, []).append(write.params)
        for level in levels:
            for kind, batch in level.items():
                await conn.execute(statements[kind], batch)


def _all_writes(events: Sequence[CloudEvent]) -> list[_Write]:
    writes: list[_Write] = []
    for envelope in events:
        event = registry().parse(envelope.eventtype, envelope.schemaversion, envelope.data)
        writes.extend(_writes(event, envelope))
    return writes


@asynccontextmanager
async def deferred(conn: AsyncConnection) -> AsyncIterator[None]:
    """Collect the events appended inside the block and write them together at its end
    (see `MatchingViews.apply_by_row` for what the block may append)."""
    if _DEFERRED in conn.info:
        yield
        return
    pending: list[CloudEvent] = []
    conn.info[_DEFERRED] = pending
    try:
        yield
    finally:
        del conn.info[_DEFERRED]
    await MatchingViews().apply_by_row(conn, pending)
