"""Identify turns: one per bucket per interval, shared by every process through Redis."""

from __future__ import annotations

import asyncio
import secrets
import time

from redis.asyncio import Redis

from bot.infra.clock import Monotonic
from bot.infra.identify import MemoryIdentifyGate, RedisIdentifyGate
from bot.infra.redis_client import redis_for_commands
from tests.conftest import REDIS_URL
from tests.fake_clock import FakeMonotonic
from tests.redis_server import PrivateRedis, ready


async def turns(
    gate: MemoryIdentifyGate | RedisIdentifyGate, buckets: list[int], clock: Monotonic
) -> list[float]:
    """When each identify of `buckets` (started together) got its turn, on `clock`."""
    start = clock()

    async def one(bucket: int) -> float:
        await gate.wait_turn(bucket)
        return clock() - start

    return list(await asyncio.gather(*(one(b) for b in buckets)))


def fake_gate(clock: FakeMonotonic) -> MemoryIdentifyGate:
    return MemoryIdentifyGate(0.3, monotonic=clock, sleep=clock.sleep)


async def test_in_one_process_a_bucket_waits_its_interval_and_others_do_not() -> None:
    clock = FakeMonotonic()
    same = await turns(fake_gate(clock), [0, 0], clock)
    assert sorted(same)[1] - sorted(same)[0] >= 0.29
    other = await turns(fake_gate(clock), [0, 1], clock)
    assert max(other) < 0.2


async def test_processes_take_turns_through_redis(redis_client: Redis) -> None:
    namespace = secrets.token_hex(4)
    clients = [redis_for_commands(REDIS_URL) for _ in range(3)]
    gates = [RedisIdentifyGate(c, namespace, interval=0.3) for c in clients]
    try:
        start = time.monotonic()

        async def identify(gate: RedisIdentifyGate, bucket: int) -> tuple[int, float]:
            await gate.wait_turn(bucket)
            return bucket, time.monotonic() - start

        done = await asyncio.gather(
            *(identify(g, b) for g, b in zip(gates, [0, 0, 1], strict=True))
        )
        bucket_zero = sorted(t for b, t in done if b == 0)
        assert bucket_zero[1] - bucket_zero[0] >= 0.25  # one process waited for the other
        assert next(t for b, t in done if b == 1) < 0.2  # another bucket did not wait
        assert 0 < await clients[0].pttl(f"lockdown:identify:{namespace}:0") <= 300
    finally:
        for client in clients:
            await client.aclose()


async def test_without_redis_a_process_keeps_its_own_turns(private_redis: PrivateRedis) -> None:
    client = redis_for_commands(private_redis.url)
    await ready(client)
    clock = FakeMonotonic()
    gate = RedisIdentifyGate(client, "bot", interval=0.3, monotonic=clock, sleep=clock.sleep)
    try:
        private_redis.stop()
        times = await turns(gate, [0, 0], clock)  # no hang, no error: spaced in this process
        assert sorted(times)[1] - sorted(times)[0] >= 0.29
    finally:
        await client.aclose()
