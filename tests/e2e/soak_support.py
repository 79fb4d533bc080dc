"""A soak of moderation actions through crashes and database outages (issue "never half-done").

The real bot (`BotProcess`) runs against the Discord emulator in this process.
Workers fire /ban, /unban, /kick, /mute, /unmute and /warn at random members of
one standard guild, several at once (members who left or were kicked come back
now and then; after a command that was cut short or refused for the database, a
worker often retries or undoes it on the same member, as a moderator would).
Meanwhile a chaos task, at points drawn from the seed, SIGKILLs the bot (see
KILL_MODES) and starts it again, or makes the database unavailable for a stretch:

* PostgreSQL: the bot reaches the server through `TcpProxy`, which stops
  listening (new connections are refused) and cuts every open connection;
* SQLite: another connection holds the write lock (`BEGIN EXCLUSIVE`; in WAL
  mode readers carry on). The bot's busy timeout is 15 s, so a stretch longer
  than that makes writes fail with "database is locked"; a shorter one only
  makes them wait.

Commands flow as soon as a new process's gateway session is ready, racing its
start-up catch-up and sweep. Members whose lease a dead process (or an outage)
left behind are left alone until it runs out (90 s), as a command on them would
wait 30 s and be refused; `warp_leases` expires dead processes' leases at each
restart instead, as if it came 90 s later.

Afterwards the bot runs once more until its sweep has settled every pending
case and its start-up catch-up has read the audit log, is stopped, and `verify`
checks every member: banned on Discord iff an active ban case, timed out iff an
active mute case, at most one of each, nothing pending; every command's Discord
action recorded by at most one confirmed case; every DM naming a case names one
that did not fail, or was deleted.

Every command carries a reason `soak#<index>`, which Discord's audit log keeps
(behind the moderator's name), so each of the bot's Discord actions can be
traced to the command that asked for it and to the cases recorded for it.
The choice of each command (action, target) is drawn from `Random(f"{seed}:{index}")`,
and the chaos schedule from `Random(f"{seed}:chaos")`; timing still varies between
runs (five commands are in flight at once), so a seed fixes the plan, not the
interleaving.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import make_url, select, update

from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import Case
from db.engine import Database
from db.models import MemberLockRow, table_of
from tests.e2e.harness import BotProcess, preset_guild
from tests.emulator import AuditAction, ChannelType, DiscordEmulator, StandardGuild, User

#: The bot's member lease (bot.services.locks.LEASE): a dead holder's lease runs out
#: after this long.
LEASE_SECONDS = 90.0
#: The bot's SQLite busy timeout (db.engine.SQLITE_BUSY_TIMEOUT_MS).
SQLITE_BUSY_SECONDS = 15.0

COMMANDS = ("ban", "unban", "kick", "mute", "unmute", "warn")
WEIGHTS = (20, 15, 8, 22, 15, 20)
MUTE_DURATIONS = ("2h", "6h", "1d", "3d")
BAN_DURATIONS = ("1d", "7d")

#: Ways to die, in the order kills take them (so a small soak gets the sharpest ones):
#: - after a Discord call: the action is done on Discord, its case not yet confirmed;
#: - after a DM: the member was told of a ban or kick not yet done; once restarted,
#:   the sweep marks that case failed and looks for the DM to take it back, and the
#:   bot is killed again right there ("taking back a DM"): two kills;
#: - anytime;
#: - during start-up: killed, started, killed again while it catches up and sweeps.
KILL_MODES = ("after a Discord call", "after a DM", "anytime", "during start-up")

MODERATION_CALL = re.compile(r"/guilds/\d+/(bans|members)/\d+")
DM_BEFORE_ACTING = ("banned from", "kicked from")  # the DMs sent before the action
DM_POST = re.compile(r"/channels/(\d+)/messages")
CASE_IN_DM = re.compile(r"\(case #(\d+)\)")
DONE = re.compile(r"^(Banned|Unbanned|Kicked|Timed out|Removed the timeout of|Warned) .*case #\d+")
TOKEN = re.compile(r"soak#(\d+)")


# --------------------------------------------------------------------- outages


async def expire_leases(database: Database) -> None:
    """Let every member lease run out now, as if LEASE_SECONDS had passed: only while
    no bot process runs (then every lease is a dead process's)."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with database.transaction() as uow:
        await uow.execute(update(table_of(MemberLockRow)).values(expires_at=past))


class TcpProxy:
    """A bounded TCP proxy on 127.0.0.1 in front of one server (PostgreSQL), that can
    refuse new connections (it stops listening) and cut the open ones."""

    def __init__(self, upstream_host: str, upstream_port: int, *, max_connections: int = 64):
        self.upstream = (upstream_host, upstream_port)
        self.max_connections = max_connections
        self.port = 0
        self.connections_cut = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def url(self, database_url: str) -> str:
        """The same database URL, through the proxy."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    async def refuse(self) -> None:
        """Stop listening (connections are refused) and cut every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.connections_cut += len(self._pipes)
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def resume(self) -> None:
        """Listen again on the same port."""
        for _ in range(50):
            try:
                await self.start()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError(f"could not listen on 127.0.0.1:{self.port} again")

    async def close(self) -> None:
        await self.refuse()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None or len(self._pipes) >= self.max_connections:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), 5
            )
            upstream_writer = upstream
            self._writers.add(upstream)
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        except (OSError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            for each in (writer, upstream_writer):
                if each is not None:
                    self._writers.discard(each)
                    each.transport.abort()
            self._pipes.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()  # one side gone: so is the other


class SqliteLock:
    """Another connection holding SQLite's write lock on the bot's file."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def hold(self, seconds: float) -> float:
        """Hold the lock for `seconds` once taken; how long it was held."""
        connection = sqlite3.connect(
            self.path, timeout=120, isolation_level=None, check_same_thread=False
        )
        try:
            await asyncio.to_thread(connection.execute, "BEGIN EXCLUSIVE")
            taken = time.monotonic()
            await asyncio.sleep(seconds)
            await asyncio.to_thread(connection.execute, "ROLLBACK")
            return time.monotonic() - taken
        finally:
            connection.close()


# ------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class SoakPlan:
    actions: int = 1_000
    seed: int = 1
    concurrency: int = 5
    members: int = 60
    kills: int | None = None  # default: one per 60 actions
    outages: int | None = None  # default: one per 120 actions
    settle_seconds: float = 4.0  # PENDING_SETTLE_SECONDS
    #: Expire the leases of killed processes at each restart, as if the restart came
    #: LEASE_SECONDS later (tests: no 90 s waits); otherwise members whose action was
    #: cut short are left alone until their lease runs out by itself.
    warp_leases: bool = False
    kill_modes: tuple[str, ...] = KILL_MODES  # taken in turn
    think: tuple[float, float] = (0.02, 0.25)  # a worker's pause between commands
    reply_timeout: float = 150.0
    final_timeout: float = 300.0

    @property
    def kill_count(self) -> int:
        return self.kills if self.kills is not None else max(1, self.actions // 60)

    @property
    def outage_count(self) -> int:
        return self.outages if self.outages is not None else max(1, self.actions // 120)


@dataclass(frozen=True)
class ChaosEvent:
    at: int  # after this many commands were sent
    kind: str  # "kill" or "outage"
    mode: str  # a KILL_MODES entry, or "refused" / "locked, writes fail" / "locked, writes wait"
    seconds: float = 0.0
    pause: float = 0.0  # during start-up: how long the new process lives


def chaos_schedule(plan: SoakPlan, backend: str) -> list[ChaosEvent]:
    rng = random.Random(f"{plan.seed}:chaos")
    events: list[ChaosEvent] = []
    kills, outages = plan.kill_count, plan.outage_count
    for k in range(kills):
        at = int((k + rng.uniform(0.15, 0.85)) * plan.actions / (kills + 0.5))
        mode = plan.kill_modes[k % len(plan.kill_modes)]
        events.append(ChaosEvent(at, "kill", mode, pause=rng.uniform(0.3, 3.0)))
    for k in range(outages):
        at = int((k + rng.uniform(0.15, 0.85)) * plan.actions / (outages + 0.5))
        if backend == "postgres":
            events.append(ChaosEvent(at, "outage", "refused", rng.uniform(3, 8)))
        elif k % 2 == 0:
            seconds = rng.uniform(SQLITE_BUSY_SECONDS + 2, SQLITE_BUSY_SECONDS + 7)
            events.append(ChaosEvent(at, "outage", "locked, writes fail", seconds))
        else:
            events.append(ChaosEvent(at, "outage", "locked, writes wait", rng.uniform(3, 8)))
    return sorted(events, key=lambda e: (e.at, e.kind))


# --------------------------------------------------------------- the results


@dataclass
class Command:
    index: int
    name: str
    target: User
    options: dict[str, Any]
    generation: int
    sent_at: float = 0.0
    answered_at: float = 0.0
    outcome: str = ""
    text: str = ""


@dataclass
class SoakResult:
    backend: str
    plan: SoakPlan
    commands: list[Command] = field(default_factory=list)
    chaos: list[tuple[float, str]] = field(default_factory=list)  # (seconds in, what)
    kills: Counter[str] = field(default_factory=Counter)
    outages: list[tuple[str, float]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    cases: Counter[str] = field(default_factory=Counter)
    disagreements: list[str] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)
    tracebacks: list[str] = field(default_factory=list)
    exit_codes: list[int | None] = field(default_factory=list)
    duration: float = 0.0
    settle_wait: float = 0.0
    stories: list[str] = field(default_factory=list)  # of the members that disagreed
    remarks: list[str] = field(default_factory=list)  # of members behind odd observations
    bot_outputs: list[str] = field(default_factory=list)  # every process's, in order

    @property
    def unexplained_tracebacks(self) -> list[str]:
        """Tracebacks that are not outage noise (OUTAGE_TRACEBACKS)."""
        return [t for t in self.tracebacks if not any(k in t for k in OUTAGE_TRACEBACKS)]

    def disagreement_summary(self) -> str:
        return str(len(self.disagreements))

    def table(self) -> str:
        rows = [
            ("backend", self.backend),
            ("seed", str(self.plan.seed)),
            ("actions", str(len(self.commands))),
            ("kills", _counts(self.kills)),
            ("outages", _outages(self.outages)),
            ("outcomes", _counts(self.outcomes)),
            ("refused (other)", _counts(self.refusals, limit=6)),
            ("cases by state", _counts(self.cases)),
            ("observed (not disagreements)", _counts(self.notes) or "none"),
            (
                "tracebacks in bot output",
                f"{len(self.tracebacks)} ({len(self.unexplained_tracebacks)} unexplained)",
            ),
            (
                "bot exit codes",
                ", ".join("killed" if c is None else str(c) for c in self.exit_codes),
            ),
            ("final settle wait", f"{self.settle_wait:.1f} s"),
            ("disagreements", self.disagreement_summary()),
            ("duration", f"{self.duration:.0f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"soak  {name:<{width}}  {value}" for name, value in rows]
        lines += [f"soak  DISAGREEMENT {d}" for d in self.disagreements]
        lines += [f"soak  traceback: {t}" for t in self.tracebacks]
        return "\n".join(lines)


def _counts(counter: Counter[str], limit: int | None = None) -> str:
    items = counter.most_common(limit)
    text = ", ".join(f"{name} {count}" for name, count in items)
    if limit is not None and len(counter) > limit:
        text += f", ... ({len(counter) - limit} more kinds)"
    return text


def _outages(outages: list[tuple[str, float]]) -> str:
    kinds = Counter(kind for kind, _ in outages)
    return ", ".join(
        f"{count} {kind} ({', '.join(f'{s:.1f}' for k, s in outages if k == kind)} s)"
        for kind, count in kinds.items()
    )


def classify(text: str) -> str:
    if "The database is unavailable right now" in text:
        return "refused: database unavailable"
    if "is still pending; it will be confirmed" in text:
        return "recorded later"
    if DONE.match(text):
        return "done"
    return "refused: other"


def refusal_kind(text: str) -> str:
    """A refusal's text with names, ids and numbers blanked, to count kinds of them."""
    text = re.sub(r"\S*member\d+", "<member>", text)
    text = re.sub(r"\d+", "N", text)
    return text.splitlines()[0][:80] if text else "(empty)"


# ------------------------------------------------------------------- the soak


class Soak:
    def __init__(
        self,
        emulator: DiscordEmulator,
        backend: str,
        database_url: str,
        plan: SoakPlan,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.emulator = emulator
        self.backend = backend
        self.database_url = database_url
        self.plan = plan
        self.progress = progress or (lambda _line: None)
        self.server: StandardGuild = emulator.world.build_standard_guild(
            regular_members=plan.members
        )
        self.result = SoakResult(backend, plan)
        self.database = Database(database_url)
        self.proxy: TcpProxy | None = None
        self.lock: SqliteLock | None = None
        self.bots: list[BotProcess] = []
        self.bot: BotProcess | None = None
        self.generation = 0
        self.deaths: dict[int, asyncio.Event] = {}
        self.up = asyncio.Event()
        self.next_index = 0
        self.sent = 0
        self.done = 0
        self.sending = asyncio.Event()  # set at every command sent
        self.limit = plan.actions  # commands from this index wait for the chaos
        self.limit_moved = asyncio.Event()
        self.in_flight: dict[int, Command] = {}
        self.quarantine: dict[int, float] = {}  # member id -> monotonic time it ends
        self.ready_logs: set[asyncio.Future[None]] = set()
        self.remarkable: set[int] = set()  # members whose story is worth printing
        self.rejoins: list[tuple[int, datetime, float]] = []  # member, when, seconds in
        self.started = time.monotonic()

    # ------------------------------------------------------------ set-up

    async def prepare(self) -> None:
        await preset_guild(
            self.database_url,
            self.database,
            self.server,
            modlog_channel_id=self.server.mod_log.id,
            antinuke_actions=1_000_000,  # a soak bans and kicks far more than a person would
        )
        if self.backend == "postgres":
            url = make_url(self.database_url)
            self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
            await self.proxy.start()
        else:
            path = make_url(self.database_url).database
            assert path
            self.lock = SqliteLock(path)

    def bot_url(self) -> str:
        return self.proxy.url(self.database_url) if self.proxy else self.database_url

    def new_bot(self) -> BotProcess:
        bot = BotProcess(
            self.emulator,
            self.bot_url(),
            DEV_GUILD_IDS=str(self.server.guild.id),
            COMMAND_LIMIT="1000000",
            PENDING_SETTLE_SECONDS=str(self.plan.settle_seconds),
        )
        self.bots.append(bot)
        return bot

    async def start_bot(self, *, wait: bool = True) -> None:
        """Start a new process; with `wait`, open the gate to commands as soon as its
        gateway session is ready, as Discord would deliver them (before discord.py's
        on_ready, and while the start-up catch-up and sweep run)."""
        self.generation += 1
        self.deaths[self.generation] = asyncio.Event()
        earlier = {id(s) for s in self.emulator.sessions}
        bot = self.bot = self.new_bot()
        await bot.start(wait_ready=False)
        if not wait:
            return
        logged = asyncio.ensure_future(bot.wait_for_log("connected as", timeout=90))
        ready = asyncio.ensure_future(
            self.emulator.wait_until(
                lambda: any(
                    s.ready and s.connected and id(s) not in earlier
                    for s in self.emulator.gateway.live_sessions()
                ),
                timeout=90,
                what="the new process's gateway session",
            )
        )
        await asyncio.wait({logged, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():  # it exited, or never got ready: say why
            ready.cancel()
            await logged
        await ready
        self.ready_logs.add(logged)  # it still has to log it; nobody waits for that
        await self.emulator.wait_until(
            lambda: self.emulator.synced_commands(self.server.guild) or None, timeout=30
        )
        self.up.set()

    async def kill_bot(self) -> None:
        self.up.clear()
        assert self.bot is not None
        await self.bot.kill()
        self.result.exit_codes.append(None)
        self.deaths[self.generation].set()
        for task in self.ready_logs:
            task.cancel()
        await asyncio.gather(*self.ready_logs, return_exceptions=True)
        self.ready_logs.clear()
        self.note(f"killed ({len(self.in_flight)} in flight)")

    async def warp_leases(self) -> None:
        """No process runs: every lease is a dead one; let them run out now."""
        await expire_leases(self.database)
        self.quarantine.clear()

    async def watch_leases(self) -> None:
        """Keep off members whose lease nobody in flight holds (a killed process's, or
        one the database outage kept from being released) until it runs out: a
        command on them would wait 30 s and be refused as busy."""
        locks = table_of(MemberLockRow)
        while True:
            rows: list[tuple[int, datetime]] = []
            with contextlib.suppress(Exception):  # its connection is never cut; be safe anyway
                async with self.database.autocommit() as uow:
                    result = await uow.execute(select(locks.c.target_id, locks.c.expires_at))
                    rows = [(m["target_id"], m["expires_at"]) for m in result.mappings().all()]
            now, clock = datetime.now(UTC), time.monotonic()
            busy = {c.target.id for c in self.in_flight.values()}
            quarantine = {}
            for target_id, expires_at in rows:
                left = (expires_at - now).total_seconds()
                if 0 < left < LEASE_SECONDS - 1 and target_id not in busy:
                    quarantine[target_id] = clock + left
            self.quarantine = quarantine
            await asyncio.sleep(0.5)

    def note(self, what: str) -> None:
        self.result.chaos.append((time.monotonic() - self.started, what))

    # ---------------------------------------------------------- commands

    def present(self, user: User) -> bool:
        return user.id in self.server.guild.members

    def banned(self, user: User) -> bool:
        return user.id in self.server.guild.bans

    def free(self, users: list[User]) -> list[User]:
        now = time.monotonic()
        return [u for u in users if self.quarantine.get(u.id, 0) <= now]

    def choose(self, index: int, previous: Command | None) -> Command:
        """The command at `index`: mostly a random one; after one that was cut short
        or left pending, often a retry or an undo on the same member, as a moderator
        would do (and what races the sweep that settles the first one)."""
        rng = random.Random(f"{self.plan.seed}:{index}")
        members = self.server.members
        absent = [u for u in members if not self.present(u) and not self.banned(u)]
        if absent and rng.random() < 0.35:  # someone who left or was kicked comes back
            back = rng.choice(absent)
            self.emulator.moderation.member_join(self.server.guild.id, back.id)
            self.rejoins.append((back.id, datetime.now(UTC), time.monotonic() - self.started))
        name = rng.choices(COMMANDS, WEIGHTS)[0]
        everyone = self.free(members) or members
        here = self.free([u for u in members if self.present(u)]) or everyone
        again = rng.random() < 0.6
        if previous is not None and again and self.free([previous.target]):
            pairs = {"ban": "unban", "unban": "ban", "mute": "unmute", "unmute": "mute"}
            name = rng.choice((previous.name, pairs.get(previous.name, previous.name)))
            pool = [previous.target]
        elif name == "unban":
            banned = self.free([u for u in members if self.banned(u)])
            pool = banned if banned and rng.random() < 0.8 else everyone
        elif name == "unmute":
            muted = self.free(
                [u for u in members if self.emulator.timeout_until(self.server.guild, u)]
            )
            pool = muted if muted and rng.random() < 0.8 else here
        elif name == "ban":
            pool = everyone
        else:
            pool = here
        target = rng.choice(pool)
        reason = f"soak#{index}"
        options: dict[str, Any]
        if name in ("ban", "unban"):
            options = {"user": target, "reason": reason}
            if name == "ban" and rng.random() < 0.3:
                options["duration"] = rng.choice(BAN_DURATIONS)
        else:
            options = {"member": target, "reason": reason}
            if name == "mute":
                options["duration"] = rng.choice(MUTE_DURATIONS)
        return Command(index, name, target, options, self.generation)

    async def worker(self) -> None:
        previous: Command | None = None  # the last command, if it was cut short
        while self.next_index < self.plan.actions:
            index = self.next_index
            self.next_index += 1
            while index >= self.limit:  # the chaos is behind: let it catch up
                self.limit_moved.clear()
                await self.limit_moved.wait()
            await self.up.wait()
            command = self.choose(index, previous)
            self.result.commands.append(command)
            self.in_flight[index] = command
            try:
                await self.run(command)
            finally:
                del self.in_flight[index]
                command.answered_at = time.monotonic() - self.started
            self.result.outcomes[command.outcome] += 1
            cut_short = ("interrupted", "recorded later", "refused: database unavailable")
            previous = command if command.outcome in cut_short else None
            if command.outcome == "refused: other":
                self.result.refusals[refusal_kind(command.text)] += 1
            self.done += 1
            if self.done % 100 == 0:
                self.progress(
                    f"soak  {self.backend:8}  {self.done} actions, "
                    f"{time.monotonic() - self.started:.0f} s"
                )
            rng = random.Random(f"{self.plan.seed}:{index}:think")
            pause = rng.uniform(*self.plan.think)
            if command.outcome == "refused: database unavailable":
                pause += 1.0  # "try again in a moment"
            await asyncio.sleep(pause)

    async def run(self, command: Command) -> None:
        server, emulator = self.server, self.emulator
        died = self.deaths[command.generation]
        command.sent_at = time.monotonic() - self.started
        self.sent += 1
        self.sending.set()
        try:
            handle = await emulator.send_slash_command(
                server.guild, server.general, server.moderator, command.name, command.options
            )
        except TimeoutError:  # INTERACTION_CREATE never written: the bot just died
            command.outcome = "interrupted" if died.is_set() else "unanswered"
            return
        # Polled rather than awaited through `wait_final`: cancelling a wait that is
        # inside `asyncio.wait_for` can be lost on Python 3.11 (it then runs on to its
        # timeout), and a reply must stop being awaited the moment its process dies.
        deadline = time.monotonic() + self.plan.reply_timeout
        record = handle.record
        while record.final_message_id is None and not died.is_set():
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        message_id = handle.record.final_message_id
        if message_id is None:
            command.outcome = "interrupted" if died.is_set() else "unanswered"
            return
        command.text = emulator.world.messages[message_id].content
        command.outcome = classify(command.text)

    # ------------------------------------------------------------- chaos

    async def chaos(self, events: list[ChaosEvent]) -> None:
        """Each event once `at` commands were sent. Commands go on while one runs, but
        none goes past the next event's `at` before that event has begun: the chaos
        keeps pace with the commands, however long a restart or an outage takes."""
        for number, event in enumerate(events):
            self.limit = event.at
            self.limit_moved.set()
            while self.sent < event.at:
                self.sending.clear()
                await self.sending.wait()
            self.limit = events[number + 1].at if number + 1 < len(events) else self.plan.actions
            self.limit_moved.set()
            if event.kind == "kill":
                await self.kill(event)
            else:
                await self.outage(event)
        self.limit = self.plan.actions
        self.limit_moved.set()

    async def kill(self, event: ChaosEvent) -> None:
        if event.mode == "after a Discord call":
            await self.kill_after(self.is_moderation_call, event.mode, 20)
        elif event.mode == "after a DM":
            await self.kill_after(self.is_dm_before_acting, event.mode, 20)
            await self.restart()
            # The sweep settles the intent once stale and its member's lease is free.
            patience = 30 if self.plan.warp_leases else LEASE_SECONDS + 40
            await self.kill_after(self.is_dm_search, "taking back a DM", patience)
        elif event.mode == "during start-up":
            await self.kill_after(None, "anytime (before one during start-up)", 0)
            if self.plan.warp_leases:
                await self.warp_leases()
            await self.start_bot(wait=False)
            await asyncio.sleep(event.pause)
            await self.kill_after(None, event.mode, 0)
        else:
            await self.kill_after(None, event.mode, 0)
        await self.restart()

    async def kill_after(
        self, wanted: Callable[[Any], bool] | None, label: str, patience: float
    ) -> None:
        """SIGKILL once the emulator has answered a request `wanted` picks (or now)."""
        requests = self.emulator.requests
        seen = len(requests)
        if wanted is not None:
            try:
                await self.emulator.wait_until(
                    lambda: any(wanted(r) for r in requests[seen:]), timeout=patience
                )
            except TimeoutError:
                label = f"{label} (none came: anytime)"
        await self.kill_bot()
        self.result.kills[label] += 1
        self.note(f"kill: {label}")

    async def restart(self) -> None:
        if self.plan.warp_leases:
            await self.warp_leases()
        await self.start_bot()
        self.note(f"restarted (generation {self.generation})")

    def is_moderation_call(self, request: Any) -> bool:
        return (
            request.method in ("PUT", "DELETE", "PATCH")
            and request.status is not None
            and request.status < 300
            and MODERATION_CALL.fullmatch(request.path) is not None
        )

    def _dm_channel(self, path: str) -> bool:
        match = DM_POST.fullmatch(path)
        if match is None:
            return False
        channel = self.emulator.world.channels.get(int(match[1]))
        return channel is not None and channel.type == ChannelType.DM

    def is_dm(self, request: Any) -> bool:
        return request.method == "POST" and request.status == 200 and self._dm_channel(request.path)

    def is_dm_before_acting(self, request: Any) -> bool:
        content = str((request.json or {}).get("content", ""))
        return self.is_dm(request) and any(phrase in content for phrase in DM_BEFORE_ACTING)

    def is_dm_search(self, request: Any) -> bool:
        return request.method == "GET" and request.status == 200 and self._dm_channel(request.path)

    async def outage(self, event: ChaosEvent) -> None:
        self.note(f"database {event.mode} for {event.seconds:.1f} s")
        if self.proxy is not None:
            await self.proxy.refuse()
            await asyncio.sleep(event.seconds)
            await self.proxy.resume()
            held = event.seconds
        else:
            assert self.lock is not None
            held = await self.lock.hold(event.seconds)
        self.result.outages.append((event.mode, held))
        cut = f" ({self.proxy.connections_cut} connections cut so far)" if self.proxy else ""
        self.note(f"database back{cut}")

    # ----------------------------------------------------------- the end

    async def settle(self) -> None:
        """Stop, start once more, wait until nothing is pending, the audit log has been
        caught up with and every mute in force is in place, stop."""
        assert self.bot is not None
        self.note("every command answered; stopping (SIGTERM)")
        self.result.exit_codes.append(await self.bot.stop())
        self.note("stopped")
        if self.plan.warp_leases:
            await self.warp_leases()
        entries = self.emulator.audit_log(self.server.guild)
        last_entry = max((e.id for e in entries), default=None)
        await self.start_bot()
        self.note("started for the final settle")
        started = time.monotonic()
        deadline = started + self.plan.final_timeout
        while time.monotonic() < deadline:
            async with self.database.autocommit() as uow:
                cases = await uow.cases.all(self.server.guild.id)
                cursor = await uow.guilds.audit_cursor(self.server.guild.id)
            pending = [c for c in cases if c.state is CaseState.PENDING]
            caught_up = last_entry is None or (cursor is not None and cursor >= last_entry)
            if not pending and caught_up and self.mutes_in_place():
                break
            await asyncio.sleep(0.5)
        self.result.settle_wait = time.monotonic() - started
        self.note("nothing pending, audit log caught up, mutes in place")
        await self.quiet()
        self.result.exit_codes.append(await self.bot.stop())
        self.note("stopped")

    def mutes_in_place(self) -> bool:
        """The bot's last word on the guild's mutes is that every one is in place (not
        that some were put off: a dead process's lease, a case awaiting the sweep)."""
        assert self.bot is not None
        said = [
            line
            for line in self.bot.lines
            if "every mute in force is in place" in line or "catching up again" in line
        ]
        return bool(said) and "every mute in force is in place" in said[-1]

    async def quiet(self, seconds: float = 2.0, limit: float = 30.0) -> None:
        """Until the bot has sent nothing for `seconds` (a DM being taken back)."""
        deadline = time.monotonic() + limit
        count = len(self.emulator.requests)
        calm_since = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            if len(self.emulator.requests) != count:
                count, calm_since = len(self.emulator.requests), time.monotonic()
            elif time.monotonic() - calm_since >= seconds:
                return

    async def run_all(self) -> SoakResult:
        await self.prepare()
        try:
            await self.start_bot()
            self.started = time.monotonic()
            events = chaos_schedule(self.plan, self.backend)
            self.limit = events[0].at if events else self.plan.actions
            workers = [asyncio.ensure_future(self.worker()) for _ in range(self.plan.concurrency)]
            chaos = asyncio.ensure_future(self.chaos(events))
            watcher = asyncio.ensure_future(self.watch_leases())
            try:
                await asyncio.gather(*workers, chaos)
            finally:
                for task in (*workers, chaos, watcher):
                    task.cancel()
                await asyncio.gather(*workers, chaos, watcher, return_exceptions=True)
            await self.settle()
            await verify(self)
        finally:
            for bot in self.bots:
                with contextlib.suppress(Exception):
                    await bot.kill()
            if self.proxy is not None:
                await self.proxy.close()
            await self.database.dispose()
        self.result.duration = time.monotonic() - self.started
        self.result.tracebacks = tracebacks(self.bots)
        self.result.bot_outputs = [bot.output for bot in self.bots]
        return self.result


# --------------------------------------------------------------- verifying

#: What a traceback in the bot's output may carry without being a bug: logged while
#: the database was down (a command refused, a sweep put off).
OUTAGE_TRACEBACKS = ("DatabaseUnavailable",)

Disagree = Callable[[int, str], None]  # (member id, what disagrees)


async def verify(soak: Soak) -> None:
    """Discord and the case log agree for every member; see the module docstring."""
    server, result = soak.server, soak.result
    async with soak.database.autocommit() as uow:
        cases = await uow.cases.all(server.guild.id)
    result.cases = Counter(c.state.value for c in cases)
    troubled: set[int] = set()

    def disagree(member_id: int, text: str) -> None:
        troubled.add(member_id)
        result.disagreements.append(text)

    for member in server.members:
        check_member(soak, member, [c for c in cases if c.target_id == member.id], disagree)
    check_duplicates(soak, cases, disagree)
    check_dms(soak, {c.number: c for c in cases}, disagree)
    for command in result.commands:
        if command.outcome == "unanswered":
            disagree(command.target.id, f"command {command.index} /{command.name} got no reply")
    for member in server.members:
        if member.id in troubled:
            result.stories.append(story(soak, member, cases))
        elif member.id in soak.remarkable:
            result.remarks.append(story(soak, member, cases))


def check_member(soak: Soak, member: User, own: list[Case], disagree: Disagree) -> None:
    """Banned on Discord iff an active ban; timed out iff an active mute; one of each
    at most; nothing pending."""
    guild, result = soak.server.guild, soak.result
    now = datetime.now(UTC)
    for action in (Action.BAN, Action.MUTE):
        in_force = [c for c in own if c.type is action and c.state is CaseState.ACTIVE]
        if len(in_force) > 1:
            disagree(member.id, f"{member.username}: {len(in_force)} active {action} cases")
    bans = [c for c in own if c.type is Action.BAN and c.state is CaseState.ACTIVE]
    banned = member.id in guild.bans
    if banned != bool(bans):
        disagree(
            member.id,
            f"{member.username}: Discord {'bans' if banned else 'does not ban'} them, "
            f"active ban cases {[c.number for c in bans]}",
        )
    mutes = [
        c
        for c in own
        if c.type is Action.MUTE
        and c.state is CaseState.ACTIVE
        and (c.expires_at is None or c.expires_at > now)
    ]
    if member.id not in guild.members:  # Discord keeps no timeout; a rejoin is re-muted
        if mutes:
            result.notes["active mute of a member not in the guild"] += 1
    else:
        until = soak.emulator.timeout_until(guild, member)
        if (until is not None) != bool(mutes):
            disagree(
                member.id,
                f"{member.username}: Discord timeout until {until}, "
                f"active mute cases {[c.number for c in mutes]}",
            )
        elif until is not None and abs(until - (mutes[0].expires_at or until)).total_seconds() > 5:
            result.notes["timeout end differs from the mute case's"] += 1
    for case in own:
        if case.state is CaseState.PENDING:
            disagree(member.id, f"{member.username}: case #{case.number} still pending")


def check_duplicates(soak: Soak, cases: list[Case], disagree: Disagree) -> None:
    """Each command's Discord action is recorded by at most one confirmed case."""
    guild, result = soak.server.guild, soak.result
    bot_id = soak.emulator.world.bot.id
    confirmed: dict[int, list[Case]] = {}
    for case in cases:
        match = TOKEN.fullmatch(case.reason or "")
        if match and case.state in (CaseState.ACTIVE, CaseState.CLOSED):
            confirmed.setdefault(int(match[1]), []).append(case)
    acted: Counter[int] = Counter()
    for entry in guild.audit_log:
        match = TOKEN.search(entry.reason or "")
        if entry.user_id == bot_id and match:
            acted[int(match[1])] += 1
    for token, found in confirmed.items():
        if len(found) > 1:
            disagree(
                found[0].target_id,
                f"command {token}: {len(found)} confirmed cases {[c.number for c in found]}",
            )
    touches = {"ban", "unban", "kick", "mute", "unmute"}
    for command in result.commands:
        found = confirmed.get(command.index, [])
        if acted[command.index] and not found:
            result.notes[f"{command.name} done on Discord, its case failed"] += 1
            soak.remarkable.add(command.target.id)
        if found and not acted[command.index] and command.name in touches:
            result.notes[f"{command.name} confirmed, no Discord entry"] += 1
        if found and found[0].type.value != command.name:
            disagree(
                command.target.id,
                f"command {command.index} /{command.name} recorded as {found[0].type}",
            )
    unknown = [
        e for e in guild.audit_log if e.user_id == bot_id and not TOKEN.search(e.reason or "")
    ]
    for entry in unknown:
        result.notes[f"bot's own audit entry {AuditAction(entry.action_type).name}"] += 1


def check_dms(soak: Soak, by_number: dict[int, Case], disagree: Disagree) -> None:
    """Every DM naming a case names a case that was not failed, or was taken back."""
    world, result = soak.emulator.world, soak.result
    for message in world.messages.values():
        if message.guild_id is not None or message.author_id != world.bot.id:
            continue
        recipient = world.channel(message.channel_id).recipient_id
        match = CASE_IN_DM.search(message.content)
        if match is None or recipient is None:
            continue
        case = by_number.get(int(match[1]))
        result.notes["DMs sent"] += 1
        if case is None or case.target_id != recipient:
            disagree(recipient, f"DM {message.id} names case #{match[1]}, not theirs")
        elif case.state is CaseState.FAILED and not message.deleted:
            disagree(recipient, f"DM {message.id} about failed case #{case.number} not taken back")
        elif message.deleted and case.state is CaseState.FAILED:
            result.notes["DMs taken back (case failed)"] += 1
        elif message.deleted:
            result.notes["DM deleted though its case was confirmed"] += 1


def story(soak: Soak, member: User, cases: list[Case]) -> str:
    """Everything that happened to one member, for a disagreement's report."""
    started = soak.started
    lines = [f"--- {member.username} ({member.id})"]
    for command in soak.result.commands:
        if command.target.id == member.id:
            lines.append(
                f"  t={command.sent_at:7.2f}s cmd {command.index} /{command.name} "
                f"{ {k: v for k, v in command.options.items() if k not in ('user', 'member')} } "
                f"gen {command.generation} -> {command.outcome} at {command.answered_at:.2f}s: "
                f"{command.text[:120]!r}"
            )
    for who, _, at in soak.rejoins:
        if who == member.id:
            lines.append(f"  t={at:7.2f}s came back (member_join)")
    for at, what in soak.result.chaos:
        lines.append(f"  t={at:7.2f}s chaos: {what}")
    for case in cases:
        if case.target_id == member.id:
            lines.append(
                f"  case #{case.number} {case.type.value} {case.state.value} reason={case.reason} "
                f"created={case.created_at:%H:%M:%S.%f} entry={case.audit_log_entry_id} "
                f"related={case.related_number} dm={case.dm_message_id}"
            )
    for entry in soak.server.guild.audit_log:
        if entry.target_id == member.id:
            lines.append(
                f"  audit {entry.id} {AuditAction(entry.action_type).name} by {entry.user_id}: "
                f"{entry.reason} {entry.changes or ''}"
            )
    for message in soak.emulator.world.messages.values():
        channel = soak.emulator.world.channels.get(message.channel_id)
        if channel is not None and channel.recipient_id == member.id:
            lines.append(f"  DM {message.id} deleted={message.deleted}: {message.content[:80]!r}")
    lines.append(f"  (t=0 at {started:.1f} monotonic)")
    return "\n".join(lines)


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: |$)")


def tracebacks(bots: list[BotProcess]) -> list[str]:
    """One line per logged traceback (chained ones count once): the log record that
    carried it and the error it ended with."""
    found = []
    for number, bot in enumerate(bots, 1):
        record, block = "", None
        for line in [*bot.lines, "0000-00-00 00:00 (end)"]:
            if LOG_RECORD.match(line):
                if block is not None:
                    found.append(f"process {number}: {record[-110:]} | {block[:1000]}")
                record, block = line, None
            elif line.startswith("Traceback"):
                block = block or "?"
            elif block is not None and EXCEPTION_LINE.match(line):
                # every exception of a chained traceback, the last one first
                block = line[:300] if block == "?" else f"{line[:300]} <- {block}"
    return found


async def run_soak(
    emulator: DiscordEmulator,
    backend: str,
    database_url: str,
    plan: SoakPlan,
    progress: Callable[[str], None] | None = None,
) -> SoakResult:
    """One soak on a migrated database (its direct URL; PostgreSQL is proxied)."""
    return await Soak(emulator, backend, database_url, plan, progress).run_all()
