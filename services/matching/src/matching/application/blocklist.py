"""Blocked pairs of a program: ruled out of every run until unblocked."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from matching.adapters import queries
from matching.adapters.pool import load_program
from matching.adapters.queries import BlockView
from matching.application.outcome import Outcome, outcome
from matching.domain import blocklist
from matching.domain.errors import NotFoundError
from mentorship_kit.commands import CommandTransaction, UseCase


async def _require_program(conn: AsyncConnection, program_id: str) -> None:
    if await load_program(conn, program_id) is None:
        raise NotFoundError("program", program_id)


def block_pair(
    program_id: str, employee_a: str, employee_b: str, reason: str | None
) -> UseCase[Outcome[BlockView]]:
    async def use_case(tx: CommandTransaction) -> Outcome[BlockView]:
        await _require_program(tx.conn, program_id)
        stream = blocklist.stream_id(program_id)
        loaded = await tx.load(stream, blocklist.evolve)
        events = blocklist.block(loaded.state, program_id, employee_a, employee_b, reason)
        await tx.append(stream, events, expected_version=loaded.version)
        block_id = blocklist.block_id_for(program_id, employee_a, employee_b)
        view = await queries.get_block(tx.conn, block_id)
        if view is None:
            raise NotFoundError("blocked pair", block_id)
        return outcome(tx, view)

    return use_case


def unblock_pair(program_id: str, block_id: str) -> UseCase[Outcome[str]]:
    async def use_case(tx: CommandTransaction) -> Outcome[str]:
        await _require_program(tx.conn, program_id)
        stream = blocklist.stream_id(program_id)
        loaded = await tx.load(stream, blocklist.evolve)
        events = blocklist.unblock(loaded.state, program_id, block_id)
        await tx.append(stream, events, expected_version=loaded.version)
        return outcome(tx, block_id)

    return use_case
