"""Several bot processes sharing PostgreSQL and Redis behave as one bot.

Every test runs in each shape of the same deployment:

- `redis`: process A runs shards 0-1 and process B shards 2-3 of 4, both with
  REDIS_URL and the same PostgreSQL database;
- `memory`: one process runs all four shards without Redis, so "A" and "B" are
  that process and everything shared lives in it (PostgreSQL);
- `memory-sqlite`: the same on SQLite, the single-process default.

Tests about a second process itself (`redis_only`) run in the redis shape.

Two guilds: G1 on shard 1 (served by A) and G2 on shard 2 (served by B), with
one moderator in both. Discord routes a guild's interactions to the one shard
that owns it, so a guild is served by one process at a time; state set through
one process is seen by another when the guild changes hands (a rolling deploy,
`hand_over`), or when another process of the bot (a script, a dashboard: here
the test itself, `peer`) writes through the shared database and Redis.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.domain.access import Participant
from bot.domain.durations import UNITS, format_duration
from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import Case, NewCase
from bot.domain.permissions import Permission
from bot.infra.clock import SystemClock
from bot.infra.events import CaseCreated
from bot.infra.shared import Shared, shared_state
from bot.services.config import ConfigService
from bot.services.timers import IDLE_POLL
from db import migrate
from db.engine import Database
from tests.conftest import REDIS_URL, PostgresServer, service_missing
from tests.e2e.conftest import Members
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator, InteractionHandle, Message, StandardGuild, User
from tests.helpers import record

SHARD_COUNT = 4
A_SHARDS = (0, 1)
B_SHARDS = (2, 3)
G1_SHARD, G2_SHARD = 1, 2  # G1 is A's, G2 is B's
MAX_CONCURRENCY = 2  # what the emulator's GET /gateway/bot advertises here
IDENTIFY_INTERVAL = 1.0  # IDENTIFY_INTERVAL_SECONDS of every process here (Discord: 5)
TOLERANCE = 0.1  # seconds of timer slack allowed in the identify spacing
#: A temporary ban ends this soon after its expiry (the timer loop is woken, not polled).
ON_TIME = timedelta(seconds=3)

#: Bots on the shared Redis hear every such bot's events (`lockdown:events`): those
#: tests run on one pytest-xdist worker, one after another (tests/parallel.py).
ON_SHARED_REDIS = pytest.mark.xdist_group("bots-on-shared-redis")
SHAPES = [
    pytest.param(
        "redis", marks=[pytest.mark.redis, pytest.mark.postgres, ON_SHARED_REDIS], id="redis"
    ),
    pytest.param("memory", marks=pytest.mark.postgres, id="memory"),
    pytest.param("memory-sqlite", id="memory-sqlite"),
]

F = TypeVar("F", bound=Callable[..., Any])


def redis_only(test: F) -> F:
    """A test about a second process: in the memory shape there is none."""
    test.redis_only = True  # type: ignore[attr-defined]
    return test


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "shape" in metafunc.fixturenames:
        shapes = SHAPES[:1] if getattr(metafunc.function, "redis_only", False) else SHAPES
        metafunc.parametrize("shape", shapes, indirect=True, scope="module")


# ------------------------------------------------------------------ the deployment


@dataclass
class Cluster:
    """The bot's processes, the emulated Discord they serve and their database."""

    shape: str
    emulator: DiscordEmulator
    database: Database
    database_url: str
    g1: StandardGuild
    g2: StandardGuild
    moderator: User  # a moderator in G1 and G2
    night_moderator: User  # a second moderator in G1
    settings: dict[str, str]
    processes: dict[tuple[int, ...], BotProcess] = field(default_factory=dict)
    retired: list[BotProcess] = field(default_factory=list)
    first_identify: dict[int, float] = field(default_factory=dict)  # shard -> monotonic
    _members: dict[int, Members] = field(default_factory=dict)

    @property
    def uses_redis(self) -> bool:
        return self.shape == "redis"

    @property
    def current(self) -> list[BotProcess]:
        return list(self.processes.values())

    @property
    def every_process(self) -> list[BotProcess]:
        return [*self.retired, *self.current]

    def shards_of(self, process: BotProcess) -> tuple[int, ...]:
        return next(shards for shards, p in self.processes.items() if p is process)

    def owner(self, server: StandardGuild) -> BotProcess:
        shard = (server.guild.id >> 22) % SHARD_COUNT
        return next(p for shards, p in self.processes.items() if shard in shards)

    def others(self, process: BotProcess) -> list[BotProcess]:
        return [p for p in self.current if p is not process]

    def take(self, server: StandardGuild) -> User:
        """A member of `server` no other test has touched."""
        return self._members.setdefault(server.guild.id, Members(server)).take()

    def _new_process(self, shards: tuple[int, ...]) -> BotProcess:
        settings = dict(self.settings)
        if self.uses_redis:
            settings["SHARD_IDS"] = ",".join(map(str, shards))
        return BotProcess(self.emulator, self.database_url, **settings)

    async def start(self) -> None:
        layout = [A_SHARDS, B_SHARDS] if self.uses_redis else [(*A_SHARDS, *B_SHARDS)]
        self.processes = {shards: self._new_process(shards) for shards in layout}
        try:
            await asyncio.gather(*(p.start() for p in self.current))
        except BaseException:
            for process in self.current:
                await process.stop()
            raise
        for session in self.emulator.sessions:
            self.first_identify.setdefault(session.shard_id, session.identified_at)

    async def hand_over(self, server: StandardGuild) -> None:
        """A rolling deploy of the process serving `server`: SIGTERM it, start its
        successor on the same shards. Only the redis shape can: in the memory shape a
        restart loses in-process limits and cooldowns by design, so the guild stays
        with the one process."""
        if not self.uses_redis:
            return
        old = self.owner(server)
        shards = self.shards_of(old)
        await stopped_cleanly(old)
        self.retired.append(old)
        successor = self._new_process(shards)
        self.processes[shards] = successor
        await successor.start()

    async def stop(self) -> None:
        processes = self.current
        self.processes = {}
        codes = await asyncio.gather(*(p.stop() for p in processes))
        for process, code in zip(processes, codes, strict=True):
            check_clean_exit(process, code)


def check_clean_exit(process: BotProcess, code: int) -> None:
    assert code == 0, process.output[-8000:]
    assert "Traceback" not in process.output, process.output[-8000:]


async def stopped_cleanly(process: BotProcess) -> None:
    check_clean_exit(process, await process.stop())


def build_world(emulator: DiscordEmulator) -> tuple[StandardGuild, StandardGuild, User, User]:
    world = emulator.world
    g1 = world.build_standard_guild(
        "First server", shard=(G1_SHARD, SHARD_COUNT), regular_members=16
    )
    g2 = world.build_standard_guild(
        "Second server", shard=(G2_SHARD, SHARD_COUNT), regular_members=16
    )
    moderator = g1.moderator
    world.add_member(g2.guild, moderator, [g2.member_role, g2.moderator_role])
    night = world.add_user("first-night-moderator")
    world.add_member(g1.guild, night, [g1.member_role, g1.moderator_role])
    return g1, g2, moderator, night


@pytest.fixture(scope="module")
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass(frozen=True)
class Backing:
    """What a shape's processes run on."""

    shape: str
    redis_url: str | None
    postgres: PostgresServer
    directory: Path  # for SQLite files

    async def new_database(self) -> str:
        """A new database, migrated first as a maintainer must for several processes."""
        if self.shape.endswith("sqlite"):
            url = f"sqlite+aiosqlite:///{self.directory / 'lockdown.db'}"
        else:
            url = await self.postgres.create_database()
        await asyncio.to_thread(migrate.upgrade, url)
        return url


@pytest.fixture(scope="module")
async def backing(
    shape: str, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Backing:
    """The redis shape first checks the shared Redis is there (missing: a skip, or
    with CI=true a failure, like every required service)."""
    if shape != "redis":
        return Backing(shape, None, postgres, tmp_path_factory.mktemp(shape))
    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        service_missing(f"Redis is not reachable at {REDIS_URL}: {error}")
    finally:
        await client.aclose()
    return Backing(shape, REDIS_URL, postgres, tmp_path_factory.mktemp(shape))


@asynccontextmanager
async def running_cluster(backing: Backing, **settings: str) -> AsyncIterator[Cluster]:
    """An emulator, a new database and the shape's processes, all started; at the
    end every process must stop with exit code 0 and no traceback."""
    shape, redis_url = backing.shape, backing.redis_url
    database_url = await backing.new_database()
    database = Database(database_url)
    async with DiscordEmulator(max_concurrency=MAX_CONCURRENCY) as emulator:
        g1, g2, moderator, night = build_world(emulator)
        every = {
            "DEV_GUILD_IDS": f"{g1.guild.id},{g2.guild.id}",
            "SHARD_COUNT": str(SHARD_COUNT),
            "IDENTIFY_INTERVAL_SECONDS": str(IDENTIFY_INTERVAL),
            **({"REDIS_URL": redis_url} if redis_url else {}),
            **settings,
        }
        cluster = Cluster(shape, emulator, database, database_url, g1, g2, moderator, night, every)
        await cluster.start()
        try:
            yield cluster
        finally:
            await cluster.stop()
            await database.dispose()
        assert emulator.internal_errors == [], "the emulator itself failed"


@pytest.fixture(scope="module")
async def cluster(backing: Backing) -> AsyncIterator[Cluster]:
    """Shared by the module's tests, which act on different members. Commands are
    fired faster than a person would, so the per-user pace is set high here."""
    async with running_cluster(backing, COMMAND_LIMIT="1000") as built:
        yield built


@dataclass
class Peer:
    """Another process of the same bot that is not serving Discord (a dashboard, a
    script): its own connection to the shared Redis and the database."""

    shared: Shared
    config: ConfigService


@pytest.fixture
async def peer(cluster: Cluster, backing: Backing) -> AsyncIterator[Peer]:
    assert backing.redis_url is not None
    shared = shared_state(backing.redis_url)
    await shared.start()
    try:
        yield Peer(shared, ConfigService(cluster.database, shared.config_cache, SystemClock()))
    finally:
        await shared.close()


# ---------------------------------------------------------------------- helpers


async def command(
    cluster: Cluster,
    server: StandardGuild,
    user: User,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    subcommand: str | None = None,
) -> InteractionHandle:
    return await cluster.emulator.send_slash_command(
        server.guild, server.general, user, name, options or {}, subcommand=subcommand
    )


async def run(
    cluster: Cluster,
    server: StandardGuild,
    user: User,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    subcommand: str | None = None,
) -> Message:
    """Invoke a command and return its settled (ephemeral) reply."""
    handle = await command(cluster, server, user, name, options, subcommand=subcommand)
    reply = await handle.wait_final(timeout=15)
    assert reply.ephemeral
    return reply


WAIT = re.compile(r"try again in ((?:\d+[smhdw])+)\.")


def wait_named(text: str) -> int:
    """The seconds a refusal tells the user to wait."""
    match = WAIT.search(text)
    assert match is not None, text
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", match[1]))


STATUS_CACHE = re.compile(
    r"^Config cache: (\d+) in-process hits, (\d+) Redis hits, (\d+) misses \(\d+% hit ratio\)$"
)
STATUS_EVENTS = re.compile(r"^Events from other processes: (\d+)$")


@dataclass(frozen=True)
class Status:
    lines: list[str]
    l1_hits: int
    l2_hits: int
    misses: int
    events: int


async def status(cluster: Cluster, server: StandardGuild) -> Status:
    """`/status` as the guild's admin: answered by the process serving the guild."""
    reply = await run(cluster, server, server.admin, "status")
    lines = reply.content.splitlines()
    assert len(lines) == 4, reply.content
    cache, events = STATUS_CACHE.match(lines[2]), STATUS_EVENTS.match(lines[3])
    assert cache is not None, reply.content
    assert events is not None, reply.content
    l1, l2, misses = map(int, cache.groups())
    return Status(lines, l1, l2, misses, int(events[1]))


async def history(cluster: Cluster, server: StandardGuild, user: User) -> list[Case]:
    async with cluster.database.autocommit() as uow:
        return await uow.cases.history(server.guild.id, user.id)


async def lifted(cluster: Cluster, server: StandardGuild, user: User, timeout: float) -> datetime:  # noqa: ASYNC109
    """When the ban on `user` was lifted (waits for it)."""
    await cluster.emulator.wait_until(
        lambda: user.id not in cluster.emulator.bans(server.guild) or None,
        timeout=timeout,
        what=f"the ban of {user.username} to be lifted",
    )
    return datetime.now(UTC)


def unban_calls(cluster: Cluster, server: StandardGuild, user: User) -> int:
    return len(cluster.emulator.calls("DELETE", rf"/guilds/{server.guild.id}/bans/{user.id}"))


async def ended_once_by_its_owner(
    cluster: Cluster, server: StandardGuild, user: User, ban: Case
) -> None:
    """One unban on Discord, one UNBAN case, and only the owner says it expired."""
    assert unban_calls(cluster, server, user) == 1
    newest, *_ = cases = await history(cluster, server, user)
    assert [(c.type, c.active) for c in cases] == [(Action.UNBAN, False), (Action.BAN, False)]
    assert (newest.related_number, newest.moderator_id) == (
        ban.number,
        cluster.emulator.world.bot.id,
    )
    line = f"case #{ban.number} in guild {server.guild.id} expired"
    owner = cluster.owner(server)
    assert owner.output.count(line) == 1, owner.output[-8000:]
    for other in cluster.others(owner):
        assert line not in other.output


# ------------------------------------------------------------------------ tests


async def test_identifies_take_turns_per_bucket_across_processes(cluster: Cluster) -> None:
    """Discord allows one IDENTIFY per bucket (shard_id % max_concurrency) per
    interval. The processes started together; shards of one bucket (0 and 2, 1 and
    3) identified at least an interval apart, whichever process ran them, while the
    two buckets went in parallel."""
    times = cluster.first_identify
    assert sorted(times) == list(range(SHARD_COUNT))
    for bucket in range(MAX_CONCURRENCY):
        turns = sorted(at for shard, at in times.items() if shard % MAX_CONCURRENCY == bucket)
        assert len(turns) == SHARD_COUNT // MAX_CONCURRENCY
        gaps = [later - earlier for earlier, later in pairwise(turns)]
        assert min(gaps) >= IDENTIFY_INTERVAL - TOLERANCE, (bucket, gaps)
    first, second = sorted(times, key=times.__getitem__)[:2]
    assert first % MAX_CONCURRENCY != second % MAX_CONCURRENCY
    assert times[second] - times[first] < IDENTIFY_INTERVAL - TOLERANCE, "buckets took turns"
    logs = "\n".join(p.output for p in cluster.every_process)
    for shard in range(SHARD_COUNT):
        bucket = shard % MAX_CONCURRENCY
        assert f"identifying shard {shard} (bucket {bucket} of {MAX_CONCURRENCY})" in logs


async def test_the_command_pace_counts_a_user_in_every_guild_and_process(
    backing: Backing, tmp_path: Path
) -> None:
    """COMMAND_LIMIT=3 per 60 s, per user: two commands in G1 (A) and one in G2 (B)
    use up the moderator's pace, so the next one in G2 is refused with the wait, and
    does nothing. Other users keep theirs. A deployment of its own: the module's
    other tests need a high limit."""
    own = Backing(backing.shape, backing.redis_url, backing.postgres, tmp_path)
    async with running_cluster(own, COMMAND_LIMIT="3", COMMAND_WINDOW_SECONDS="60") as paced:
        g1, g2, moderator = paced.g1, paced.g2, paced.moderator
        if paced.uses_redis:
            assert paced.owner(g1) is not paced.owner(g2)
        for server in (g1, g1, g2):
            target = paced.take(server)
            reply = await run(
                paced, server, moderator, "warn", {"member": target, "reason": "spam"}
            )
            assert reply.content.startswith(f"Warned {target.username}"), reply.content

        target = paced.take(g2)
        start = len(paced.emulator.requests)
        handle = await command(paced, g2, moderator, "warn", {"member": target, "reason": "spam"})
        refused = await handle.wait_final(timeout=15)
        wait = wait_named(refused.content)
        assert 0 < wait <= 60
        assert refused.ephemeral
        assert refused.content == (
            "You are using commands too fast; "
            f"try again in {format_duration(timedelta(seconds=wait))}."
        )
        requests = [
            f"{r.method} {r.path}"
            for r in paced.emulator.requests[start:]
            if not r.path.endswith("/audit-logs")  # start-up catch-up, if still going
        ]
        assert requests == [f"POST /interactions/{handle.id}/{handle.token}/callback"]
        assert paced.emulator.dms_to(target) == []
        assert await history(paced, g2, target) == []

        by_admin = await run(paced, g2, g2.admin, "warn", {"member": target, "reason": "spam"})
        assert by_admin.content.startswith(f"Warned {target.username}"), by_admin.content


async def test_cooldown_config_and_anti_nuke_survive_a_handover(cluster: Cluster) -> None:
    """State set through A holds in A's successor. A guild is served by one process
    at a time, so "set on A, seen on B" happens when a guild changes hands: in a
    rolling deploy A is stopped and A2 takes its shards (redis shape). In G1, on A:
    the anti-nuke limit becomes 3 per 10 minutes, kick DMs are switched off, a
    /massban starts its 30 s cooldown and the moderator kicks twice. Then on A2: the
    mass ban is still cooling down, the third kick sends no DM, and the fourth is
    refused by the anti-nuke limit. In the memory shape the same process keeps G1
    (restarting it would forget limits and cooldowns, which is expected there)."""
    g1, moderator = cluster.g1, cluster.night_moderator
    first, second, third, fourth = (cluster.take(g1) for _ in range(4))

    reply = await run(
        cluster, g1, g1.admin, "config", {"actions": 3, "window": "10m"}, subcommand="anti-nuke"
    )
    assert reply.content == "A moderator may now ban or kick 3 members per 10m."
    kicked = await run(cluster, g1, moderator, "kick", {"member": first})
    assert kicked.content.startswith(f"Kicked {first.username}"), kicked.content
    assert len(cluster.emulator.dms_to(first)) == 1  # the default: kicked members are told
    reply = await run(
        cluster, g1, g1.admin, "config", {"action": "kick", "enabled": False},
        subcommand="dm-notify",
    )  # fmt: skip
    assert reply.content == "Members will not get a DM when they get a kick."
    kicked = await run(cluster, g1, moderator, "kick", {"member": second})
    assert kicked.content.startswith(f"Kicked {second.username}"), kicked.content
    assert cluster.emulator.dms_to(second) == []
    prompt = await run(cluster, g1, moderator, "massban", {"users": str(fourth.id)})
    assert prompt.content.startswith("Ban **1** users?"), prompt.content
    await cluster.emulator.click_button(prompt, prompt.custom_ids()[1], moderator)  # Cancel
    await cluster.emulator.wait_until(
        lambda: cluster.emulator.world.messages[prompt.id].content == "Mass ban cancelled.",
        timeout=10,
    )

    before = cluster.owner(g1)
    await cluster.hand_over(g1)
    if cluster.uses_redis:
        assert cluster.owner(g1) is not before

    refused = await run(cluster, g1, moderator, "massban", {"users": str(fourth.id)})
    wait = wait_named(refused.content)
    assert 0 < wait <= 30
    assert refused.content == (
        "`/massban` is cooling down for you in this server; "
        f"try again in {format_duration(timedelta(seconds=wait))}."
    )
    assert refused.custom_ids() == []  # no confirmation offered
    kicked = await run(cluster, g1, moderator, "kick", {"member": third})
    assert kicked.content.startswith(f"Kicked {third.username}"), kicked.content
    assert cluster.emulator.dms_to(third) == []

    start = len(cluster.emulator.requests)
    refused = await run(cluster, g1, moderator, "kick", {"member": fourth})
    wait = wait_named(refused.content)
    assert 0 < wait <= 600
    assert refused.content == (
        "You have reached the limit of 3 bans and kicks in 10m; "
        f"try again in {format_duration(timedelta(seconds=wait))}. "
        "The other moderators were alerted."
    )
    assert fourth.id in g1.guild.members
    assert fourth.id not in cluster.emulator.bans(g1.guild)
    assert not [r for r in cluster.emulator.requests[start:] if str(fourth.id) in r.path]
    assert cluster.emulator.dms_to(fourth) == []
    assert await history(cluster, g1, fourth) == []
    async with cluster.database.autocommit() as uow:
        [entry] = await uow.changes.recent(g1.guild.id, limit=1)
    assert (entry.action, entry.actor_id, entry.entity_id) == (
        "antinuke.refused",
        moderator.id,
        str(fourth.id),
    )

    seen = await status(cluster, g1)
    if cluster.uses_redis:
        assert seen.l2_hits >= 1, seen.lines  # A2 read G1's configuration from Redis
    else:
        assert (seen.l1_hits >= 1, seen.l2_hits) == (True, 0), seen.lines


@redis_only
async def test_a_config_write_elsewhere_reaches_the_owners_next_command(
    cluster: Cluster, peer: Peer
) -> None:
    """B holds G2's configuration in its in-process cache (for a minute). Another
    process writes a change through the shared cache; B's next command honours it."""
    g2 = cluster.g2
    told, quiet = cluster.take(g2), cluster.take(g2)
    warned = await run(cluster, g2, cluster.moderator, "warn", {"member": told, "reason": "spam"})
    assert warned.content.endswith("DM delivered"), warned.content
    assert len(cluster.emulator.dms_to(told)) == 1
    owner = cluster.owner(g2)

    admin = Participant(g2.admin.id, 4, Permission.ADMINISTRATOR)
    await peer.config.set(g2.guild.id, "dm_on_warn", False, actor=admin)
    try:
        warned = await run(
            cluster, g2, cluster.moderator, "warn", {"member": quiet, "reason": "spam"}
        )
        assert warned.content.startswith(f"Warned {quiet.username}"), warned.content
        assert "DM" not in warned.content
        assert cluster.emulator.dms_to(quiet) == []
    finally:
        await peer.config.reset(g2.guild.id, "dm_on_warn", actor=admin)
    assert cluster.owner(g2) is owner  # the same process served both commands
    assert (await status(cluster, g2)).events >= 1


async def test_expiries_end_once_in_the_owning_process(cluster: Cluster) -> None:
    """Ten-second bans in G1 and G2 at once: each ends once, by the process that owns
    its guild (one unban on Discord, one UNBAN case, and only the owner logs it)."""
    servers = (cluster.g1, cluster.g2)
    targets = [cluster.take(server) for server in servers]

    async def temp_ban(server: StandardGuild, target: User) -> Case:
        reply = await run(
            cluster, server, cluster.moderator, "ban", {"user": target, "duration": "10s"}
        )
        assert reply.content.startswith(f"Banned {target.username}"), reply.content
        async with cluster.database.autocommit() as uow:
            case = await uow.cases.active(server.guild.id, target.id, Action.BAN)
        assert case is not None
        return case

    bans = await asyncio.gather(*map(temp_ban, servers, targets))
    await asyncio.gather(
        *(
            lifted(cluster, server, target, timeout=25)
            for server, target in zip(servers, targets, strict=True)
        )
    )
    await asyncio.sleep(1)  # room for a second attempt, if anything would make one
    for server, target, ban in zip(servers, targets, bans, strict=True):
        await ended_once_by_its_owner(cluster, server, target, ban)


async def test_escalations_apply_once_under_concurrent_warnings(cluster: Cluster) -> None:
    """A rung at 2 warnings (mute 1 h) in each guild, then four warnings at once on
    one member of each: one escalation each, applied once on Discord."""

    async def escalate(server: StandardGuild) -> None:
        target = cluster.take(server)
        added = await run(
            cluster, server, server.admin, "policy",
            {"threshold": 2, "action": "mute", "duration": "1h"}, subcommand="add",
        )  # fmt: skip
        assert "at 2 warnings: mute for 1h" in added.content, added.content
        replies = await asyncio.gather(
            *(
                run(
                    cluster, server, cluster.moderator, "warn", {"member": target, "reason": str(i)}
                )
                for i in range(4)
            )
        )
        assert sum("Escalated: mute" in r.content for r in replies) == 1, [
            r.content for r in replies
        ]
        cases = await history(cluster, server, target)
        warnings = sorted(c.number for c in cases if c.type is Action.WARN)
        [mute] = [c for c in cases if c.type is Action.MUTE]
        assert len(warnings) == 4
        assert len(cases) == 5
        # The rung belongs to the second warning in commit order, whichever came first.
        assert (mute.related_number, mute.moderator_id) == (
            warnings[1],
            cluster.emulator.world.bot.id,
        )
        timeouts = [
            r
            for r in cluster.emulator.calls(
                "PATCH", rf"/guilds/{server.guild.id}/members/{target.id}"
            )
            if (r.json or {}).get("communication_disabled_until")
        ]
        assert len(timeouts) == 1
        assert cluster.emulator.timeout_until(server.guild, target) is not None

    await asyncio.gather(escalate(cluster.g1), escalate(cluster.g2))


@redis_only
async def test_a_case_recorded_elsewhere_ends_on_time_in_its_owner(
    cluster: Cluster, peer: Peer
) -> None:
    """Another process records a temporary ban for G2 in the database, bans on
    Discord, and announces the case on the event bus: B ends it on time, not at its
    next idle poll (5 minutes); A does nothing. A case nobody announces waits: the
    owner's timer loop sleeps until told."""
    g2 = cluster.g2
    owner = cluster.owner(g2)

    async def banned_elsewhere(target: User, expires_in: timedelta) -> Case:
        now = datetime.now(UTC)
        case = await record(
            cluster.database,
            g2.guild.id,
            NewCase(
                type=Action.BAN,
                target_id=target.id,
                moderator_id=g2.admin.id,
                created_at=now,
                reason="banned from the dashboard",
                expires_at=now + expires_in,
                state=CaseState.ACTIVE,
            ),
        )
        g2.guild.members.pop(target.id)  # what the dashboard's ban did on Discord
        g2.guild.bans[target.id] = "banned from the dashboard"
        return case

    announced, unannounced = cluster.take(g2), cluster.take(g2)
    case = await banned_elsewhere(announced, timedelta(seconds=2))
    await peer.shared.bus.publish(CaseCreated.of(case))
    ended = await lifted(cluster, g2, announced, timeout=10)
    assert case.expires_at is not None
    assert ended - case.expires_at < ON_TIME < IDLE_POLL

    # Once B has finished with that case its timer loop sleeps until its idle poll,
    # unless told; a case recorded while it was still looking would be seen anyway.
    await owner.wait_for_log(f"case #{case.number} in guild {g2.guild.id} expired")
    await asyncio.sleep(1)
    quiet = await banned_elsewhere(unannounced, timedelta(seconds=1))
    assert quiet.expires_at is not None
    await asyncio.sleep((quiet.expires_at - datetime.now(UTC)).total_seconds() + 2)
    assert unannounced.id in cluster.emulator.bans(g2.guild), "ended without being told"
    told = datetime.now(UTC)
    await peer.shared.bus.publish(CaseCreated.of(quiet))
    assert await lifted(cluster, g2, unannounced, timeout=10) - told < ON_TIME

    await asyncio.sleep(1)  # room for a second attempt, if anything would make one
    await ended_once_by_its_owner(cluster, g2, announced, case)
    await ended_once_by_its_owner(cluster, g2, unannounced, quiet)
    assert owner is cluster.owner(g2)


async def test_status_reports_each_process(cluster: Cluster) -> None:
    """`/status` answers from the process serving the guild: its shards, where shared
    state lives, and plausible counters after a few commands."""
    for server in (cluster.g1, cluster.g2):
        target = cluster.take(server)
        await run(cluster, server, cluster.moderator, "warn", {"member": target, "reason": "spam"})
        for _ in range(2):
            await run(cluster, server, server.admin, "config", subcommand="show")
    where = "Redis (shared by every process)" if cluster.uses_redis else "this process"
    for server in (cluster.g1, cluster.g2):
        shards = cluster.shards_of(cluster.owner(server))
        seen = await status(cluster, server)
        assert seen.lines[0] == f"Shards {', '.join(map(str, shards))} of {SHARD_COUNT}"
        assert seen.lines[1] == f"Rate limits, cooldowns, cache and events: {where}"
        assert seen.l1_hits >= 1, seen.lines  # the second /config show at least
        if cluster.uses_redis:
            assert seen.events >= 1, seen.lines  # the other process's warning
        else:
            assert (seen.l2_hits, seen.events) == (0, 0), seen.lines
