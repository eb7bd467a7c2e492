"""Who may act on a pair: the first step of every use case and query."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_contracts.common import Role
from sessions.adapters.registry import load_pair_context
from sessions.domain.errors import NotAPairMemberError, NotFoundError
from sessions.domain.pairs import Actor, PairContext, authorize


async def require_pair(
    conn: AsyncConnection,
    pair_id: str,
    actor: Actor,
    *,
    admin_allowed: bool,
    for_write: bool = False,
) -> tuple[PairContext, Role | None]:
    """The pair and the actor's role in it (None: an admin from outside the pair).

    Unknown pair -> NotFoundError (404); not a member (nor an allowed admin) ->
    NotAPairMemberError (403).
    """
    context = await load_pair_context(conn, pair_id, for_write=for_write)
    if context is None:
        raise NotFoundError("pair", pair_id)
    return context, authorize(context.pair, actor, admin_allowed=admin_allowed)


def require_member(role: Role | None, pair_id: str) -> Role:
    """The member's role; for commands only the pair's members may give."""
    if role is None:
        raise NotAPairMemberError(pair_id)
    return role
