"""Case numbers stay gapless and unique when several processes record at once."""

from __future__ import annotations

import asyncio
import sys

import pytest

from db.migrate import ROOT


#: Four processes with two pools of at most 5 each: up to 40 connections to
#: PostgreSQL (of its 100; at 80 the connections other tests' pools still held
#: once pushed a run over the limit) and a burst of CPU, so no other test beside it.
@pytest.mark.alone
async def test_four_processes_share_one_sequence(database_url: str, guild_id: int) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.db.allocate_cases",
            database_url,
            str(guild_id),
            "50",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = [await process.communicate() for process in processes]

    assert [p.returncode for p in processes] == [0, 0, 0, 0], [err for _, err in outputs]
    numbers = [int(n) for out, _ in outputs for n in out.split()]
    assert sorted(numbers) == list(range(1, 201))
