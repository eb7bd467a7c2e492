"""The external SCIM compliance checker (scim2-tester, through scim2-cli) finds no error.

The service runs as it does in production, under uvicorn on a port of its own, with a
real nats-server; the checker creates, reads, lists, filters, replaces, patches and
deletes users and checks the discovery endpoints.
"""

import asyncio
import re
import sys
from pathlib import Path

from conftest import bearer
from enrollment_server import uvicorn_service

SCIM_CLI = Path(sys.executable).with_name("scim2")
_RESULT = re.compile(
    r"^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) (\S+)", re.MULTILINE
)


async def run_checker(base_url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(SCIM_CLI),
        "--url",
        f"{base_url}/scim/v2",
        "--header",
        f"Authorization: {bearer('hris')['Authorization']}",
        "test",
        "--verbose",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"NO_COLOR": "1", "TERM": "dumb"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    return process.returncode or 0, re.sub(r"\x1b\[[0-9;]*m", "", output.decode())


async def test_scim2_tester_reports_no_error(tmp_path, nats_server):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'enrollment.db'}"
    async with uvicorn_service(database_url, nats_server.url, tmp_path) as base_url:
        code, output = await run_checker(base_url)

    statuses = [status for status, _ in _RESULT.findall(output)]
    assert len(statuses) > 40, output
    assert "ERROR" not in statuses, output
    assert "CRITICAL" not in statuses, output
    # Every check passed outright (the CLI exits 1 on anything else, skips included).
    assert set(statuses) == {"SUCCESS"}, output
    assert code == 0, output
