"""Pair use cases: accept, decline, end — by the pair's members or the staff.

A pair only becomes active while both members are still enrolled (and employed): a
departure that has not been applied to the pair yet must not be overtaken by an accept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from matching.adapters import queries, tables
from matching.adapters.queries import PairView
from matching.application.outcome import Outcome, outcome
from matching.domain import pairs
from matching.domain.actors import Actor
from matching.domain.errors import NotFoundError, UnavailableError
from matching.domain.pairs import Pair
from mentorship_contracts import EventContract
from mentorship_contracts.matching import EndReason, PairFormed
from mentorship_kit.commands import CommandTransaction, UseCase

Decide = Callable[[Pair | None], Sequence[EventContract]]


async def _member_enrolled(
    conn: AsyncConnection, program_id: str, employee_id: str, roles: Sequence[str]
) -> bool:
    p, e = tables.pool_participants, tables.pool_employees
    query = (
        sa.select(sa.func.count())
        .select_from(p.outerjoin(e, e.c.employee_id == p.c.employee_id))
        .where(
            p.c.program_id == program_id,
            p.c.employee_id == employee_id,
            p.c.role.in_(list(roles)),
            p.c.status == "enrolled",
            sa.func.coalesce(e.c.active, sa.true()),
        )
    )
    return bool((await conn.execute(query)).scalar_one())


async def require_members(conn: AsyncConnection, pair: Pair) -> None:
    """Both members still enrolled in their role (either role for peers) and employed."""
    peer = pair.format == "peer"
    for field, employee_id, role in (
        ("mentor_id", pair.mentor_id, "mentor"),
        ("mentee_id", pair.mentee_id, "mentee"),
    ):
        roles = ("mentor", "mentee") if peer else (role,)
        if not await _member_enrolled(conn, pair.program_id, employee_id, roles):
            raise UnavailableError(field, employee_id, "is no longer enrolled in the program")


def _change(pair_id: str, decide: Decide) -> UseCase[Outcome[PairView]]:
    async def use_case(tx: CommandTransaction) -> Outcome[PairView]:
        stream = pairs.stream_id(pair_id)
        loaded = await tx.load(stream, pairs.evolve)
        events = decide(loaded.state)
        if loaded.state is not None and any(isinstance(e, PairFormed) for e in events):
            await require_members(tx.conn, loaded.state)
        await tx.append(stream, events, expected_version=loaded.version)
        view = await queries.get_pair(tx.conn, pair_id)
        if view is None:
            raise NotFoundError("pair", pair_id)
        return outcome(tx, view)

    return use_case


def accept_pair(pair_id: str, actor: Actor, today: date) -> UseCase[Outcome[PairView]]:
    return _change(pair_id, lambda state: pairs.accept(state, pair_id, actor, today))


def decline_pair(pair_id: str, actor: Actor, today: date) -> UseCase[Outcome[PairView]]:
    return _change(pair_id, lambda state: pairs.decline(state, pair_id, actor, today))


def end_pair(
    pair_id: str, actor: Actor, reason: EndReason, today: date
) -> UseCase[Outcome[PairView]]:
    return _change(pair_id, lambda state: pairs.end(state, pair_id, actor, reason, today))
