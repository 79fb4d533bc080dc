"""`python -m bench` (or `make bench`) runs every benchmark with its defaults."""

import asyncio

from bench import backup, cache, command_latency, history, ratelimit, record_case, soak, timers
from bench.common import BACKENDS


async def main() -> None:
    backends = list(BACKENDS)
    await record_case.main(rounds=15, per_round=200, backends=backends)
    await history.main(rows=1_000_000, queries=2_000, backends=backends)
    await timers.main(
        guilds=1_000, pending=100_000, history=100_000, overdue=1_000, backends=backends
    )
    await command_latency.main(commands=1_000, warmup=50, backends=backends)
    await ratelimit.main(rounds=30, per_round=200)
    await cache.main(calls=100_000, rounds=9, writes=2_000)
    await soak.main(soak.SoakPlan(actions=1_000, seed=1202), backends)
    await backup.main(cases=1_000_000, backends=backends, rounds=3)


asyncio.run(main())
