"""Private texts: notes, topics, titles and comments, written beside the events.

They never enter an event (events are published), so they live only here, written in
the command's transaction and read only for the pair's members. Each is keyed by the id
of the session, goal, milestone or feedback it belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from mentorship_kit.rows import Shape, write_rows
from sessions.adapters.tables import feedback_texts, goal_texts, milestone_texts, session_texts


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def save_session_texts(
    conn: AsyncConnection,
    session_id: str,
    topics: Sequence[str],
    notes: str | None,
    *,
    replace: bool = False,
) -> None:
    """Topics and notes of a session; ``replace``: logging a planned session replaces
    its agenda (a new session has none, and a plain insert is cheaper)."""
    if not topics and notes is None:
        return
    row = {"session_id": session_id, "topics": list(topics), "notes": notes}
    if not replace:
        await write_rows(conn, session_texts, _SESSION_TEXTS, [row])
        return
    stmt = _insert(conn)(session_texts)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["session_id"],
            set_={"topics": stmt.excluded.topics, "notes": stmt.excluded.notes},
        ),
        row,
    )


_SESSION_TEXTS = Shape("session_texts", "session_id", ("topics", "notes"), insert=True)


async def save_goal_texts(
    conn: AsyncConnection, goal_id: str, title: str, description: str | None
) -> None:
    await conn.execute(
        goal_texts.insert().values(goal_id=goal_id, title=title, description=description)
    )


async def save_milestone_titles(conn: AsyncConnection, titles: dict[str, str]) -> None:
    if titles:
        await conn.execute(
            milestone_texts.insert(),
            [{"milestone_id": key, "title": title} for key, title in titles.items()],
        )


async def save_comment(conn: AsyncConnection, feedback_id: str, comment: str | None) -> None:
    if comment:
        await conn.execute(feedback_texts.insert().values(feedback_id=feedback_id, comment=comment))
