"""One rate-limit check against a bare EVALSHA round trip and the `limits` library.

Target (issue: rate limiting): `RedisRateLimiter.hit` costs at most 1.2x a bare
EVALSHA through the same client in the same run, and less than the `limits`
library's moving-window limiter on its redis-py asyncio implementation
(`RedisStorage(..., implementation="redispy")`) against the same Redis.

- The floor is `evalsha` of `return 1` with the limiter's own arguments (one
  key, limit, window, member) on the client `redis_for_commands` builds: the
  same round trip and encoding, none of the limiter's work.
- `limits` gets that client's connection pool, so all three use the same
  connections to the same Redis.
- Limit 10 per 600 s, like a moderator's anti-nuke budget. Each key takes
  exactly 10 hits, so windows range from empty to full and every call is
  allowed: a refusal is a shorter path in both limiters and would flatter
  neither. Refusals are counted and must stay at zero.

Every op is awaited alone (one in flight): the round trip is what a command
pays. Rounds interleave the contenders, alternating their order. Figures are
medians over rounds of the mean per op, in wall time and in this process's CPU
time (the event loop's share); a ratio is the median of per-round ratios.

`--compare-clients` measures the floor and the limiter under several redis-py
versions, each in a throw-away venv (cached under `--venv-dir`) with the repo
on PYTHONPATH. One worker process per version waits on a pipe while the
others run, so the versions are interleaved round by round too, in a new
random order each round.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis
from redis.exceptions import NoScriptError

from bot.infra.limits import RedisRateLimiter
from bot.infra.redis_client import redis_for_commands

REDIS_URL = os.environ.get("LOCKDOWN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT, WINDOW = 10, 600.0
WARMUP = 100
#: The last one is the reference for the others (the newest line; the project pins 6.x).
CLIENT_VERSIONS = ("5.2.1", "5.3.1", "6.4.0", "7.4.1", "8.1.0")
VENV_DIR = Path("/tmp/lockdown-bench-redis")
REPO = Path(__file__).resolve().parent.parent

Step = Callable[[], Awaitable[bool]]
Round = dict[str, dict[str, float]]  # contender -> {"wall", "cpu"}: seconds per op


def keys(prefix: str) -> Iterator[str]:
    """LIMIT hits per key: every hit is allowed, the last one fills the window."""
    return (f"{prefix}{n // LIMIT}" for n in itertools.count())


@asynccontextmanager
async def contenders(url: str, *, with_limits: bool) -> AsyncIterator[dict[str, Step]]:
    """The floor, Lockdown's limiter and (optionally) `limits`, warmed up."""
    client = redis_for_commands(url)
    token = secrets.token_hex(4)
    refused = 0
    try:
        noop = await client.script_load("return 1")
        floor_keys = keys(f"lockdown:bench:{token}:floor:")
        members = (f"{token}:{n}" for n in itertools.count())

        async def floor() -> bool:
            nonlocal noop
            args = (next(floor_keys), LIMIT, int(WINDOW * 1000), next(members))
            try:
                return bool(await client.evalsha(noop, 1, *args))
            except NoScriptError:  # a test run flushed the shared script cache
                noop = await client.script_load("return 1")
                return bool(await client.evalsha(noop, 1, *args))

        limiter = RedisRateLimiter(client, prefix=f"lockdown:bench:{token}:")
        lockdown_keys = keys("guild:1:moderator:")

        async def lockdown() -> bool:
            nonlocal refused
            allowed = (await limiter.hit(next(lockdown_keys), limit=LIMIT, window=WINDOW)).allowed
            refused += not allowed
            return allowed

        steps: dict[str, Step] = {"floor": floor, "lockdown": lockdown}
        if with_limits:
            from limits import RateLimitItemPerSecond
            from limits.aio.storage import RedisStorage
            from limits.aio.strategies import MovingWindowRateLimiter

            # `limits` types its options as scalars but passes the pool on as is.
            storage = RedisStorage(
                "async+" + url,
                implementation="redispy",
                key_prefix=f"lockdown:bench:{token}:limits",
                connection_pool=client.connection_pool,  # type: ignore[arg-type]
            )
            moving = MovingWindowRateLimiter(storage)
            item = RateLimitItemPerSecond(LIMIT, int(WINDOW))
            limits_keys = keys("guild:1:moderator:")

            async def limits() -> bool:
                nonlocal refused
                allowed = await moving.hit(item, next(limits_keys))
                refused += not allowed
                return allowed

            steps["limits"] = limits
        for step in steps.values():  # connections, script caches, code paths
            for _ in range(WARMUP):
                await step()
        yield steps
    finally:
        stale = [key async for key in client.scan_iter(match=f"lockdown:bench:{token}:*")]
        if stale:
            await client.delete(*stale)
        await client.aclose()
    if refused:
        raise AssertionError(f"{refused} hits were refused: the comparison is not like for like")


async def calls_per_op(step: Step, ops: int = 100) -> float:
    """Python and C function calls per op, event loop included.

    A measure of the client's work that machine load barely moves (only through
    how often the loop has to wait), unlike CPU time on a shared VM.
    """
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(count)
    try:
        for _ in range(ops):
            await step()
    finally:
        sys.setprofile(None)
    return calls / ops


async def one_round(steps: dict[str, Step], per_round: int, order: list[str]) -> Round:
    result: Round = {}
    for name in order:
        step = steps[name]
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(per_round):
            await step()
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        result[name] = {"wall": wall / per_round, "cpu": cpu / per_round}
    return result


def summarize(rounds: list[Round], reference: list[Round] | None = None) -> Round:
    """Medians per contender, and of its ratios to the same round's floor.

    With `reference` (rounds run alongside, one for one), the ratios are to
    the same contender there instead.
    """
    summary: Round = {}
    for name in rounds[0]:
        bases = [r["floor"] for r in rounds] if reference is None else [r[name] for r in reference]
        figures = {}
        for kind in ("wall", "cpu"):
            figures[kind] = statistics.median(r[name][kind] for r in rounds)
            ratios = [r[name][kind] / b[kind] for r, b in zip(rounds, bases, strict=True)]
            figures[f"{kind}_ratio"] = statistics.median(ratios)
        summary[name] = figures
    return summary


async def run(url: str, rounds: int, per_round: int) -> Round:
    async with contenders(url, with_limits=True) as steps:
        order = list(steps)
        results = []
        for _ in range(rounds):
            results.append(await one_round(steps, per_round, order))
            order.reverse()
        summary = summarize(results)
        for name, step in steps.items():
            summary[name]["calls"] = await calls_per_op(step)
    return summary


def report(summary: Round) -> list[str]:
    labels = {
        "floor": "bare EVALSHA",
        "lockdown": "RedisRateLimiter",
        "limits": "limits moving window",
    }
    lines = [
        f"ratelimit  {labels[name]:21} {f['wall'] * 1e6:6.1f} us ({f['wall_ratio']:.2f}x)"
        f"   cpu {f['cpu'] * 1e6:6.1f} us ({f['cpu_ratio']:.2f}x)   {f['calls']:3.0f} calls"
        for name, f in summary.items()
    ]
    ratio = summary["lockdown"]["wall_ratio"]
    faster = summary["lockdown"]["wall_ratio"] < summary["limits"]["wall_ratio"]
    lines.append(
        f"ratelimit  redis-py {redis.__version__}: {ratio:.2f}x floor, target <= 1.2x "
        f"{'met' if ratio <= 1.2 else 'NOT met'}; {'faster' if faster else 'NOT faster'}"
        " than limits"
    )
    return lines


async def main(rounds: int, per_round: int, url: str = REDIS_URL) -> None:
    for line in report(await run(url, rounds, per_round)):
        print(line, flush=True)


async def worker(url: str, per_round: int) -> None:
    """One round per line on stdin, its figures as one JSON line on stdout."""
    async with contenders(url, with_limits=False) as steps:
        order = list(steps)
        calls = {name: await calls_per_op(step) for name, step in steps.items()}
        print(json.dumps({"redis": redis.__version__, "calls": calls}), flush=True)
        while sys.stdin.readline():  # blocking on purpose: nothing else runs meanwhile
            print(json.dumps(await one_round(steps, per_round, order)), flush=True)
            order.reverse()


def client_venv(version: str, venv_dir: Path) -> Path:
    """The python of a venv holding redis==version and nothing else; made once."""
    venv = venv_dir / f"redis-{version}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet", f"redis=={version}"]
        subprocess.run(install, check=True)
        (venv / ".installed").touch()
    return python


class Worker:
    """`--worker` under one venv's python: one round per request."""

    def __init__(self, python: Path, per_round: int, url: str) -> None:
        command = [str(python), "-m", "bench.ratelimit", "--worker"]
        command += ["--per-round", str(per_round), "--url", url]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self._python = python
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        hello = self._reply()
        self.version: str = hello["redis"]
        self.calls: dict[str, float] = hello["calls"]

    def _reply(self) -> Any:
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line:
            raise RuntimeError(f"the worker under {self._python} ended early")
        return json.loads(line)

    def round(self) -> Round:
        if self._process.stdin:
            self._process.stdin.write("go\n")
            self._process.stdin.flush()
        figures: Round = self._reply()
        return figures

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=30)


def compare_clients(
    versions: list[str], rounds: int, per_round: int, venv_dir: Path, url: str
) -> None:
    """Floor and limiter under each redis-py version, versions interleaved round by round."""
    workers: dict[str, Worker] = {}
    results: dict[str, list[Round]] = {version: [] for version in versions}
    try:
        for version in versions:
            workers[version] = Worker(client_venv(version, venv_dir), per_round, url)
            if workers[version].version != version:
                raise RuntimeError(f"the venv for redis {version} holds another version")
        shuffler = random.Random(0)  # no version always follows another
        order = list(versions)
        for _ in range(rounds):
            shuffler.shuffle(order)
            for version in order:
                results[version].append(workers[version].round())
    finally:
        for worker in workers.values():
            worker.close()

    reference = versions[-1]
    print(f"client           per op; in brackets against redis-py {reference} in the same round")
    for version in versions:
        floor, hit = summarize(results[version], results[reference]).values()
        hit_ratio = summarize(results[version])["lockdown"]["wall_ratio"]
        calls = workers[version].calls
        print(
            f"redis-py {version:6}  EVALSHA cpu {floor['cpu'] * 1e6:5.1f} us"
            f" ({floor['cpu_ratio']:.2f}x) wall {floor['wall'] * 1e6:5.1f} us"
            f" ({floor['wall_ratio']:.2f}x) {calls['floor']:3.0f} calls"
            f"   hit cpu {hit['cpu'] * 1e6:5.1f} us ({hit['cpu_ratio']:.2f}x)"
            f" wall {hit['wall'] * 1e6:5.1f} us ({hit['wall_ratio']:.2f}x)"
            f" {calls['lockdown']:3.0f} calls, {hit_ratio:.2f}x its floor",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--url", default=REDIS_URL)
    parser.add_argument("--compare-clients", action="store_true")
    parser.add_argument("--version", action="append", help="a redis-py version to compare")
    parser.add_argument("--venv-dir", type=Path, default=VENV_DIR)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.url, args.per_round))
    elif args.compare_clients:
        versions = args.version or list(CLIENT_VERSIONS)
        compare_clients(versions, args.rounds, args.per_round, args.venv_dir, args.url)
    else:
        asyncio.run(main(args.rounds, args.per_round, args.url))
