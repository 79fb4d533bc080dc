"""`python -m bench` (or `make bench`) runs every benchmark with its defaults."""

import asyncio

from bench import history, record_case
from bench.common import BACKENDS


async def main() -> None:
    await record_case.main(rounds=15, per_round=200, backends=list(BACKENDS))
    await history.main(rows=1_000_000, queries=2_000, backends=list(BACKENDS))


asyncio.run(main())
