"""The emulator's Discord rate limits, checked against raw HTTP and discord.py's own handling.

Buckets are shrunk per test (`emu.rate_limits.override`) so that nothing waits
for long; the default numbers are only checked where no waiting is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord.ext import commands

from tests.emulator import BucketSpec, DiscordEmulator
from tests.emulator.ratelimits import (
    DEFAULT_BUCKETS,
    DEFAULT_ROUTE_BUCKET,
    ROUTE_BUCKETS,
    bucket_hash,
)

RouteTo = Callable[[DiscordEmulator], None]
LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Reset-After",
    "X-RateLimit-Bucket",
)


@pytest.fixture
def route_to(monkeypatch: pytest.MonkeyPatch) -> RouteTo:
    def apply(emu: DiscordEmulator) -> None:
        monkeypatch.setattr(discord.http.Route, "BASE", emu.api_base_url)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(emu.gateway_url)
        )

    return apply


@contextlib.asynccontextmanager
async def emulator(route_to: RouteTo, **options: Any) -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(**options) as emu:
        route_to(emu)
        yield emu
        assert emu.internal_errors == []


@contextlib.asynccontextmanager
async def http_client(emu: DiscordEmulator) -> AsyncIterator[discord.http.HTTPClient]:
    """discord.py's own REST client, logged in (one GET /users/@me)."""
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    await http.static_login(emu.token)
    try:
        yield http
    finally:
        await http.close()


class Raw:
    """Plain aiohttp requests as the bot, returning (status, headers, json body)."""

    def __init__(self, emu: DiscordEmulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session

    async def __call__(
        self, method: str, path: str, body: Any = None, *, auth: bool = True
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Authorization": f"Bot {self.emu.token}"} if auth else {}
        url = self.emu.api_base_url + path
        async with self.session.request(method, url, json=body, headers=headers) as response:
            data = await response.json() if response.status != 204 else None
            return response.status, dict(response.headers), data


@contextlib.asynccontextmanager
async def raw_client(emu: DiscordEmulator) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as session:
        yield Raw(emu, session)


def limit_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("x-ratelimit")}


# ------------------------------------------------------------ route buckets


async def test_headers_count_down_per_channel_and_429_body(route_to: RouteTo) -> None:
    async with emulator(route_to, rate_limits=True) as emu, raw_client(emu) as raw:
        std = emu.world.build_standard_guild()
        post = f"/channels/{std.general.id}/messages"
        expected_hash = bucket_hash("messages.create")
        resets = []
        for remaining in (4, 3, 2, 1, 0):
            status, headers, _ = await raw("POST", post, {"content": "hi"})
            assert status == 200
            assert headers["X-RateLimit-Limit"] == "5"
            assert headers["X-RateLimit-Remaining"] == str(remaining)
            assert headers["X-RateLimit-Bucket"] == expected_hash
            reset_after = float(headers["X-RateLimit-Reset-After"])
            assert 0 < reset_after <= 5
            assert abs(float(headers["X-RateLimit-Reset"]) - (time.time() + reset_after)) < 1
            resets.append(float(headers["X-RateLimit-Reset"]))
        assert max(resets) - min(resets) < 0.01  # one fixed window

        status, headers, body = await raw("POST", post, {"content": "one too many"})
        assert status == 429
        assert set(body) == {"message", "retry_after", "global", "code"}
        assert body["message"] == "You are being rate limited."
        assert (body["global"], body["code"]) == (False, 0)
        assert 0 < body["retry_after"] <= 5
        assert headers["Retry-After"] == str(math.ceil(body["retry_after"]))
        assert headers["X-RateLimit-Scope"] == "user"
        assert headers["X-RateLimit-Remaining"] == "0"
        assert headers["X-RateLimit-Bucket"] == expected_hash
        assert float(headers["X-RateLimit-Reset-After"]) == body["retry_after"]
        assert "X-RateLimit-Global" not in headers
        assert headers["Via"] == "1.1 google"  # discord.py ignores 429s without it

        # Same bucket hash, another major parameter (channel): its own window.
        # Error answers carry the headers and count too.
        other = f"/channels/{std.mod_log.id}/messages"
        status, headers, _ = await raw("POST", other, {"content": "elsewhere"})
        assert (status, headers["X-RateLimit-Remaining"]) == (200, "4")
        assert headers["X-RateLimit-Bucket"] == expected_hash
        status, headers, refusal = await raw("POST", other, {})
        assert (status, refusal["code"], headers["X-RateLimit-Remaining"]) == (400, 50006, "3")

        [hit] = emu.rate_limits.hits
        assert emu.rate_limit_hits == [hit]
        assert (hit.method, hit.path, hit.route) == (
            "POST",
            post,
            "POST /channels/{channel_id}/messages",
        )
        assert (hit.bucket, hit.bucket_hash, hit.major) == (
            "messages.create",
            expected_hash,
            str(std.general.id),
        )
        assert (hit.is_global, hit.scope, hit.retry_after) == (False, "user", body["retry_after"])
        general = emu.rate_limits.counter("messages.create", std.general)
        assert (general.requests, general.limited, general.remaining) == (5, 1, 0)
        assert len(emu.rate_limits.counters("messages.create")) == 2
        assert [r.status for r in emu.calls("POST", rf"/channels/{std.general.id}/messages")] == [
            *[200] * 5,
            429,
        ]
        assert len(emu.messages_in(std.general)) == 5


async def test_discord_py_obeys_a_429_then_never_sends_early(route_to: RouteTo) -> None:
    async with emulator(route_to, rate_limits=True) as emu, raw_client(emu) as raw:
        std = emu.world.build_standard_guild()
        guild = std.guild.id
        targets = [emu.world.add_user(f"raider{i}").id for i in range(7)]
        emu.rate_limits.override("bans", limit=2, per=0.3)

        async with http_client(emu) as http:
            # Someone else (here: raw unbans) empties the ban bucket, which PUT and
            # DELETE share; 404s count and carry the headers like any answer.
            for remaining in ("1", "0"):
                status, headers, _ = await raw("DELETE", f"/guilds/{guild}/bans/{targets[0]}")
                assert (status, headers["X-RateLimit-Remaining"]) == (404, remaining)

            # discord.py, not knowing the bucket yet, runs into the 429, sleeps
            # retry_after and retries successfully.
            started = time.monotonic()
            await http.ban(targets[0], guild, 0, reason="raid")
            [hit] = emu.rate_limits.hits
            assert time.monotonic() - started >= hit.retry_after
            assert (hit.route, hit.bucket, hit.is_global) == (
                "PUT /guilds/{guild_id}/bans/{user_id}",
                "bans",
                False,
            )

            # Now it knows the bucket: one ban after another is paced by discord.py
            # itself (it sleeps when Remaining hits 0), and no request hits a 429.
            started = time.monotonic()
            for target in targets[1:]:
                await http.ban(target, guild, 0, reason="raid")
            elapsed = time.monotonic() - started

        assert emu.rate_limits.hits == [hit]
        puts = emu.calls("PUT", rf"/guilds/{guild}/bans/\d+")
        assert [r.status for r in puts] == [429, *[204] * 7]
        assert set(emu.bans(std.guild)) == set(targets)
        counter = emu.rate_limits.counter("bans", std.guild)
        assert (counter.requests, counter.limited) == (2 + 7, 1)
        # 6 bans at 2 per 0.3 s, the first window already half used: >= 2 waits.
        assert elapsed >= 2 * 0.3 - 0.05


async def test_concurrent_discord_py_requests_are_retried_after_retry_after(
    route_to: RouteTo,
) -> None:
    """asyncio.gather on one bucket: everything succeeds, but discord.py 2.7 may send
    early. Waiters whose wait timed out at the bucket's expiry each queue a refresh;
    a queued refresh that runs after the new window's first answer resets the
    bucket to `limit - outgoing` and lets one more request out, which the emulator
    (like Discord) answers 429. discord.py then obeys retry_after."""
    async with emulator(route_to, rate_limits=True) as emu:
        std = emu.world.build_standard_guild()
        targets = [emu.world.add_user(f"raider{i}").id for i in range(7)]
        emu.rate_limits.override("bans", limit=2, per=0.3)
        async with http_client(emu) as http:
            await asyncio.gather(*(http.ban(t, std.guild.id, 0) for t in targets))
        assert set(emu.bans(std.guild)) == set(targets)
        puts = emu.calls("PUT", rf"/guilds/{std.guild.id}/bans/\d+")
        assert sum(r.status == 204 for r in puts) == 7
        limited = [r for r in puts if r.status == 429]
        assert len(limited) == len(emu.rate_limits.hits)
        assert all(h.bucket == "bans" and not h.is_global for h in emu.rate_limits.hits)
        for index, refused in enumerate(puts):
            if refused.status == 429:
                retry = next(r for r in puts[index + 1 :] if r.path == refused.path)
                wait = refused.response["retry_after"]
                assert retry.received_at >= refused.received_at + wait


# ------------------------------------------------------------ global limit


async def test_global_limit_with_raw_requests_and_discord_py(route_to: RouteTo) -> None:
    async with emulator(route_to, rate_limits=True) as emu, raw_client(emu) as raw:
        std = emu.world.build_standard_guild()
        assert emu.rate_limits.spec("global") == BucketSpec(50, 1.0)
        # Keep Discord's 50 but stretch the window so a slow machine cannot let
        # the second fall between requests.
        emu.rate_limits.override("global", per=30.0)
        paths = ["/users/@me", f"/guilds/{std.guild.id}", f"/channels/{std.general.id}"]
        answers = [await raw("GET", paths[i % 3]) for i in range(51)]
        assert [status for status, _, _ in answers] == [*[200] * 50, 429]
        _, headers, body = answers[-1]
        assert body["message"] == "You are being rate limited."
        assert body["global"] is True
        assert "code" not in body
        assert 0 < body["retry_after"] <= 30
        assert headers["X-RateLimit-Global"] == "true"
        assert headers["X-RateLimit-Scope"] == "global"
        assert headers["Retry-After"] == str(math.ceil(body["retry_after"]))
        assert headers["Via"] == "1.1 google"
        assert "X-RateLimit-Bucket" not in headers  # no route bucket was exceeded
        [hit] = emu.rate_limits.global_hits
        assert (hit.bucket, hit.is_global, hit.scope, hit.path) == (
            "global",
            True,
            "global",
            paths[50 % 3],
        )
        counted = emu.rate_limits.global_counter
        assert (counted.requests, counted.limited, counted.remaining) == (50, 1, 0)
        # The route buckets only saw their 17 each, well within 50/1 s.
        assert all(c.limited == 0 for c in emu.rate_limits.counters())

        emu.rate_limits.override("global", limit=3, per=0.3)  # and a fresh window
        async with http_client(emu) as http:  # logging in uses one
            for _ in range(2):
                assert (await raw("GET", "/users/@me"))[0] == 200
            # discord.py stops every request on a global 429, sleeps, then retries.
            started = time.monotonic()
            fetched = await http.get_guild(std.guild.id)
            assert time.monotonic() - started >= emu.rate_limits.hits[-1].retry_after
        assert fetched["id"] == str(std.guild.id)
        assert emu.rate_limits.hits[-1].is_global
        gets = emu.calls("GET", rf"/guilds/{std.guild.id}")
        assert [r.status for r in gets[-2:]] == [429, 200]


async def test_interactions_bypass_the_global_limit_and_followups_are_paced(
    route_to: RouteTo,
) -> None:
    """A real bot answers a slash command while the bot token is globally limited
    for 30 s: the callback and follow-ups (interaction endpoints) go through at
    once; the follow-ups exceed the webhook bucket, and discord.py's webhook
    adapter waits for it instead of running into 429s."""
    async with emulator(route_to, rate_limits=True) as emu, raw_client(emu) as raw:
        std = emu.world.build_standard_guild()
        emu.rate_limits.override("webhook.execute", limit=2, per=0.3)
        bot = commands.Bot(
            command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05
        )

        @bot.tree.command(name="report", description="Defer, then several follow-ups")
        async def report(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            for part in range(5):
                await interaction.followup.send(f"part {part}")

        await bot.login(emu.token)
        task = asyncio.create_task(bot.connect())
        try:
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            guild = discord.Object(std.guild.id)
            bot.tree.copy_global_to(guild=guild)
            await bot.tree.sync(guild=guild)

            emu.rate_limits.override("global", limit=1, per=30.0)
            assert [(await raw("GET", "/users/@me"))[0] for _ in range(2)] == [200, 429]
            counted = emu.rate_limits.global_counter.requests
            started = time.monotonic()
            handle = await emu.send_slash_command(std.guild, std.general, std.moderator, "report")
            await emu.wait_until(lambda: len(handle.messages) == 5, timeout=10)
            elapsed = time.monotonic() - started
        finally:
            await bot.close()
            await asyncio.wait_for(task, 10)

        assert [m.content for m in handle.messages] == [f"part {i}" for i in range(5)]
        assert elapsed < 10  # nobody waited for the 30 s global window
        [hit] = emu.rate_limits.hits  # only the raw request above
        assert (hit.path, hit.is_global) == ("/users/@me", True)
        assert emu.rate_limits.global_counter.requests == counted
        callback = f"/interactions/{handle.id}/{handle.token}/callback"
        assert [r.status for r in emu.calls("POST", callback)] == [200]  # with_response
        followups = emu.calls("POST", rf"/webhooks/\d+/{handle.token}")
        assert [r.status for r in followups] == [200] * 5
        # 5 follow-ups at 2 per 0.3 s span at least two windows.
        assert followups[-1].received_at - followups[0].received_at >= 2 * 0.3 - 0.05

        # The exempt routes have their own buckets and headers...
        app = emu.world.application_id
        hook = f"/webhooks/{app}/{handle.token}"
        status, headers, message = await raw(
            "PATCH", hook + "/messages/@original", {"content": "edited"}, auth=False
        )
        assert (status, message["content"]) == (200, "edited")
        assert headers["X-RateLimit-Bucket"] == bucket_hash("webhook.messages")
        status, headers, body = await raw("POST", callback, {"type": 5}, auth=False)
        assert (status, body["code"]) == (400, 40060)  # already acknowledged: counted
        assert headers["X-RateLimit-Bucket"] == bucket_hash("interaction.reply")
        # ... which they can exceed (per-route 429, not global).
        emu.rate_limits.override("interaction.reply", limit=1, per=30.0)
        assert (await raw("POST", callback, {"type": 5}, auth=False))[0] == 400
        status, headers, body = await raw("POST", callback, {"type": 5}, auth=False)
        assert (status, body["global"], headers["X-RateLimit-Scope"]) == (429, False, "user")
        hit = emu.rate_limits.hits[-1]
        assert (hit.bucket, hit.major) == ("interaction.reply", f"{handle.id}+{handle.token}")
        # The bot token is still over the global limit.
        assert (await raw("GET", f"/guilds/{std.guild.id}"))[0] == 429


# ------------------------------------------------------------------ switches


async def test_off_by_default_no_429_and_no_headers(route_to: RouteTo) -> None:
    async with emulator(route_to) as emu, raw_client(emu) as raw:
        std = emu.world.build_standard_guild()
        assert not emu.rate_limits.enabled
        post = f"/channels/{std.general.id}/messages"
        answers = await asyncio.gather(*(raw("POST", post, {"content": "x"}) for _ in range(60)))
        assert {status for status, _, _ in answers} == {200}
        assert all(limit_headers(headers) == {} for _, headers, _ in answers)
        assert emu.rate_limit_hits == []
        assert emu.rate_limits.counters() == []

        # Switched on mid-test: windows start with the next request.
        emu.rate_limits.enable()
        _, headers, _ = await raw("POST", post, {"content": "counted"})
        assert set(limit_headers(headers)) == set(LIMIT_HEADERS)
        assert headers["X-RateLimit-Remaining"] == "4"
        emu.rate_limits.disable()
        _, headers, _ = await raw("POST", post, {"content": "not counted"})
        assert limit_headers(headers) == {}


def test_bucket_table_overrides_and_defaults() -> None:
    emu = DiscordEmulator()
    limits = emu.rate_limits
    served = {(r.method, r.template) for r in emu.rest.routes}
    assert set(ROUTE_BUCKETS) <= served
    assert set(ROUTE_BUCKETS.values()) == set(DEFAULT_BUCKETS)
    assert limits.spec("messages.create") == BucketSpec(5, 5.0)
    assert limits.spec("bans") == BucketSpec(5, 5.0)
    assert limits.spec("GET /guilds/{guild_id}") == DEFAULT_ROUTE_BUCKET

    # A route names its bucket: ban and unban share "bans".
    assert limits.override("DELETE /guilds/{guild_id}/bans/{user_id}", 2, 1.0) == BucketSpec(2, 1.0)
    assert limits.spec("bans") == BucketSpec(2, 1.0)
    limits.override("GET /guilds/{guild_id}", per=0.5, scope="shared")
    assert limits.spec("GET /guilds/{guild_id}") == BucketSpec(50, 0.5, "shared")
    assert limits.counter("bans", 123).requests == 0
    with pytest.raises(KeyError):
        limits.override("GET /nope", 1)
    with pytest.raises(ValueError, match="limit"):
        limits.override("bans", limit=0)
    with pytest.raises(ValueError, match="scope"):
        limits.override("bans", scope="guild")
    limits.restore_defaults()
    assert limits.spec("bans") == BucketSpec(5, 5.0)
    assert limits.spec("GET /guilds/{guild_id}") == DEFAULT_ROUTE_BUCKET
