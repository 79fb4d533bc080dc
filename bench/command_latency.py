"""From the gateway delivering INTERACTION_CREATE to the bot's callback, for /warn.

Target (issue: latency): the time from the gateway writing INTERACTION_CREATE
to the bot's interaction callback arriving, for /warn on SQLite and PostgreSQL,
p50 and p99 over 1,000 commands through the Discord emulator, reported next to
the floor measured in the same run; p50 within 3x that floor on both backends.

Lockdown runs unmodified as a subprocess (`tests.e2e.harness.BotProcess`) on
a fresh database migrated by Alembic, against an emulator in this process with
a standard guild whose mod-log channel is configured, as in production and the
end-to-end tests. The moderator sends `/warn member reason` to members in turn,
one command at a time (the next goes once the previous one's confirmation has
arrived), after 50 warm-up commands. Measured per command, on the emulator's
monotonic clock:

* callback: INTERACTION_CREATE written to the socket -> the callback request
  (`InteractionRecord.response_latency`). /warn defers first, so this is the
  "thinking" answer and involves no database work;
* final reply: the same start -> the follow-up webhook request carrying the
  confirmation (its `RequestRecord.received_at`). Before sending it the bot
  DMs the member, records the case and posts to the mod-log, so this includes
  the database write; the arrivals of those requests split it into steps.

The floor is (a) + (b), both measured in the same run:

(a) a minimal discord.py client (`bench._floor_bot`: one no-op `/warn` with
    Lockdown's signature and intents that only defers) connected to a second
    emulator in this process, its callback latency measured the same way;
(b) the median of one raw-driver insert + commit of a cases row on the same
    backend and database file (aiosqlite execute + commit; asyncpg execute).

The floor bot runs as a subprocess, not in this process: Lockdown does, and an
in-process client would share the event loop with the emulator, so its figures
would carry the emulator's own work (and scheduling) that Lockdown's do not.
Lockdown, the floor bot and the raw insert take turns command by command, so
that machine noise hits all three alike.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg

from bench.common import BACKENDS, driver_dsn, fresh_database, median, percentile
from db.engine import Database
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator, InteractionHandle, StandardGuild

RAW_GUILD = 800_000_000_000_000_020
MEMBERS = 20
REPLY_TIMEOUT = 15.0


#: The requests Lockdown sends for one /warn, in order, by where they go.
STEPS = ("callback", "dm", "modlog", "reply")


@dataclass
class Samples:
    callback: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    insert: list[float] = field(default_factory=list)
    # Seconds between consecutive STEPS (from dispatch to the callback first).
    phases: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})


# ----------------------------------------------------------------- the floor


@asynccontextmanager
async def raw_insert(backend: str, url: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """One durable insert of a cases row with the bare driver (as bench.record_case)."""
    columns = "guild_id, number, type, target_id, moderator_id, created_at, reason, state"
    number = 0
    now = datetime.now(UTC)
    if backend == "sqlite":
        sqlite = await aiosqlite.connect(driver_dsn(url))
        await sqlite.execute("PRAGMA synchronous=NORMAL")
        await sqlite.execute("PRAGMA busy_timeout=15000")  # the bot has the file open too
        stored_now = now.replace(tzinfo=None).isoformat(" ")

        async def insert() -> None:
            nonlocal number
            number += 1
            await sqlite.execute(
                f"INSERT INTO cases ({columns}) VALUES (?, ?, 'warn', 42, 7, ?, 'bench', 'active')",
                (RAW_GUILD, number, stored_now),
            )
            await sqlite.commit()

        try:
            yield insert
        finally:
            await sqlite.close()
        return
    postgres = await asyncpg.connect(driver_dsn(url))

    async def insert_pg() -> None:
        nonlocal number
        number += 1
        await postgres.execute(
            f"INSERT INTO cases ({columns}) VALUES ($1, $2, 'warn', 42, 7, $3, 'bench', true)",
            RAW_GUILD,
            number,
            now,
        )

    try:
        yield insert_pg
    finally:
        await postgres.close()


# ---------------------------------------------------------------- commands


async def warn(emulator: DiscordEmulator, server: StandardGuild, index: int) -> InteractionHandle:
    member = server.members[index % len(server.members)]
    return await emulator.send_slash_command(
        server.guild,
        server.general,
        server.moderator,
        "warn",
        {"member": member, "reason": f"bench {index}"},
    )


async def lockdown_warn(
    emulator: DiscordEmulator, server: StandardGuild, index: int
) -> dict[str, float]:
    """When each of Lockdown's requests for one /warn arrived, in seconds after dispatch."""
    since = len(emulator.requests)
    handle = await warn(emulator, server, index)
    callback = await handle.wait_response(timeout=REPLY_TIMEOUT)
    reply = await handle.wait_final(timeout=REPLY_TIMEOUT)
    assert callback.type == 5, "Lockdown's /warn defers first"
    assert (reply.content or "").startswith("Warned"), reply.content
    record = handle.record
    assert record.dispatched_at is not None
    assert record.response_latency is not None
    arrived = {"callback": record.response_latency}
    modlog = f"/channels/{server.mod_log.id}/messages"
    for request in emulator.requests[since:]:
        if request.path.startswith("/webhooks/") and record.token in request.path:
            step = "reply"
        elif request.path == modlog:
            step = "modlog"
        elif request.path.startswith("/channels/") and request.method == "POST":
            step = "dm"
        else:
            continue
        arrived.setdefault(step, request.received_at - record.dispatched_at)
    assert set(arrived) == set(STEPS), f"requests seen: {sorted(arrived)}"
    return arrived


async def floor_warn(emulator: DiscordEmulator, server: StandardGuild, index: int) -> float:
    """Callback latency of one /warn to the floor bot, in seconds."""
    handle = await warn(emulator, server, index)
    callback = await handle.wait_response(timeout=REPLY_TIMEOUT)
    assert callback.type == 5, "the floor bot defers"
    latency = handle.record.response_latency
    assert latency is not None
    return latency


async def prepare_database(url: str, server: StandardGuild) -> None:
    """The guild with its mod-log channel (as the end-to-end tests set it up), and the
    raw insert's own guild."""
    database = Database(url)
    now = datetime.now(UTC)
    async with database.transaction() as uow:
        await uow.guilds.record_join(server.guild.id, server.guild.name, now=now)
        await uow.guilds.record_join(RAW_GUILD, "bench raw driver", now=now)
        await uow.settings.set(
            server.guild.id, "modlog_channel_id", server.mod_log.id, actor_id=1, now=now
        )
    await database.dispose()


async def run_backend(backend: str, commands: int, warmup: int) -> dict[str, Samples]:
    lockdown, floor = Samples(), Samples()
    async with (
        fresh_database(backend) as url,
        DiscordEmulator() as emulator,
        DiscordEmulator() as floor_emulator,
    ):
        server = emulator.world.build_standard_guild(regular_members=MEMBERS)
        floor_server = floor_emulator.world.build_standard_guild(regular_members=MEMBERS)
        await prepare_database(url, server)
        # One moderator sends every command: the pace is still checked on each
        # (in-process, as without Redis) but set high enough never to refuse.
        bot = BotProcess(emulator, url, DEV_GUILD_IDS=str(server.guild.id), COMMAND_LIMIT="1000000")
        floor_bot = BotProcess(
            floor_emulator, module="bench._floor_bot", DEV_GUILD_IDS=str(floor_server.guild.id)
        )
        await bot.start()
        try:
            await floor_bot.start()
            await emulator.wait_until(lambda: emulator.synced_commands(server.guild) or None)
            await floor_emulator.wait_until(
                lambda: floor_emulator.synced_commands(floor_server.guild) or None
            )
            async with raw_insert(backend, url) as insert:
                for index in range(warmup + commands):
                    arrived = await lockdown_warn(emulator, server, index)
                    floor_callback = await floor_warn(floor_emulator, floor_server, index)
                    started = time.perf_counter()
                    await insert()
                    inserted = time.perf_counter() - started
                    if index >= warmup:
                        lockdown.callback.append(arrived["callback"])
                        lockdown.final.append(arrived["reply"])
                        for step, previous in zip(STEPS, (None, *STEPS), strict=False):
                            start = 0.0 if previous is None else arrived[previous]
                            lockdown.phases[step].append(arrived[step] - start)
                        floor.callback.append(floor_callback)
                        floor.insert.append(inserted)
        finally:
            codes = await bot.stop(), await floor_bot.stop()
        assert codes == (0, 0), f"exit codes {codes}:\n{bot.output}\n{floor_bot.output}"
        assert "Traceback" not in bot.output, bot.output
        for emu in (emulator, floor_emulator):
            assert emu.internal_errors == [], emu.internal_errors
    return {"lockdown": lockdown, "floor": floor}


def report(backend: str, samples: dict[str, Samples]) -> list[str]:
    lockdown, floor = samples["lockdown"], samples["floor"]
    phases, ms = lockdown.phases, 1e3

    def p50_p99(values: list[float]) -> str:
        return f"p50 {median(values) * ms:.2f} ms p99 {percentile(values, 0.99) * ms:.2f} ms"

    floor_p50 = median(floor.callback) + median(floor.insert)
    ratio = median(lockdown.callback) / floor_p50
    return [
        f"command latency  {backend:8}  floor: no-op bot callback {p50_p99(floor.callback)}"
        f" + raw insert median {median(floor.insert) * ms:.2f} ms = {floor_p50 * ms:.2f} ms",
        f"command latency  {backend:8}  lockdown callback {p50_p99(lockdown.callback)} "
        f"({ratio:.2f}x floor p50; target <= 3x: {'met' if ratio <= 3 else 'MISSED'})",
        f"command latency  {backend:8}  lockdown final reply {p50_p99(lockdown.final)} "
        f"({median(lockdown.final) / floor_p50:.2f}x floor p50)",
        f"command latency  {backend:8}  final reply, median steps: dispatch -> callback "
        f"{median(phases['callback']) * ms:.2f} ms -> DM {median(phases['dm']) * ms:.2f} ms "
        f"-> mod-log post (case recorded) {median(phases['modlog']) * ms:.2f} ms -> reply "
        f"{median(phases['reply']) * ms:.2f} ms",
    ]


async def main(commands: int, warmup: int, backends: list[str]) -> None:
    for backend in backends:
        for line in report(backend, await run_backend(backend, commands, warmup)):
            print(line, flush=True)


def _parse() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1_000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse()
    asyncio.run(main(args.commands, args.warmup, args.backend or list(BACKENDS)))
