"""Discord's REST rate limits: per-route buckets, the global limit, headers and 429s.

Off by default, so tests that do not care keep today's speed and request
interleaving; turn it on per test with ``DiscordEmulator(rate_limits=True)`` or
``emu.rate_limits.enable()``, and shrink a bucket to keep the test fast::

    async with DiscordEmulator(rate_limits=True) as emu:
        emu.rate_limits.override("bans", limit=2, per=0.3)  # instead of 5 per 5 s
        ...  # the bot mass-bans
        assert emu.rate_limits.hits == []  # not one request sent into a 429
        assert emu.rate_limits.counter("bans", std.guild).requests == 10

What the emulator does when enabled, following Discord's rate-limit docs:

* A bucket is a bucket hash (``X-RateLimit-Bucket``, opaque, shared by the routes
  grouped below) plus the route's major parameter: ``channel_id``, ``guild_id``,
  or the webhook/interaction id with its token. Windows are fixed: the first
  request opens one for ``per`` seconds, at most ``limit`` requests are admitted
  in it, and it ends all at once (discord.py's model, too).
* Every response on a route (2xx and 4xx alike) carries ``X-RateLimit-Limit``,
  ``-Remaining`` (after this request), ``-Reset`` (epoch seconds, 3 decimals),
  ``-Reset-After`` (seconds, 3 decimals) and ``-Bucket``. Times are rounded *up*
  to the millisecond, so a client sleeping exactly ``Reset-After`` never arrives
  early.
* A request over its bucket gets 429 ``{"message": "You are being rate
  limited.", "retry_after": s, "global": false, "code": 0}`` with ``Retry-After``
  (whole seconds, rounded up, as in Discord's example), the bucket headers
  (remaining 0), ``X-RateLimit-Scope: user`` (or ``shared`` for a bucket
  configured so) and ``Via: 1.1 google`` (discord.py only trusts 429s with Via).
* The global limit counts every request authenticated with the bot token, across
  all routes. Over it: 429 ``{"message": ..., "retry_after": s, "global": true}``
  with ``Retry-After``, ``X-RateLimit-Global: true`` and ``X-RateLimit-Scope:
  global``. Interaction endpoints (``/interactions/{id}/{token}/callback`` and
  the ``/webhooks/{application_id}/{token}`` follow-up routes), which carry no
  bot token, are exempt, as Discord documents; so is the unauthenticated
  ``GET /gateway``. Each still has its own per-route bucket.
* The global limit is checked first. A request answered 429 consumes nothing.
  Requests that never reach a route (404/405 paths, 401 bad token, injected
  faults) are neither counted nor given headers.
* Not modelled: Cloudflare's invalid-request ban (10,000 401/403/429 in 10 min),
  sub-limits that change a route's hash (e.g. deleting old messages), and
  per-resource "shared" limits unless a bucket is configured with that scope.

When disabled the emulator sends no rate-limit headers at all, as before this
module existed. discord.py then keeps its initial one-request-at-a-time bucket
per route and major parameter (limit 1, reset after 0 s: no sleeping), exactly
as before. Real headers with a never-zero ``Remaining`` would instead let
discord.py send up to that many requests concurrently per bucket, changing the
order in which concurrent calls reach the emulator in tests that did not ask
for rate limiting.

Default buckets. Discord publishes no per-route numbers (they are only ever
learnt from the headers and may change); these are chosen to be plausible: a
handful of writes per few seconds per channel or guild, about one write per
second sustained, reads generous:

=================== ======================================================= ========= =========
bucket              routes                                                  limit/per major
=================== ======================================================= ========= =========
messages.create     POST /channels/{c}/messages (DMs too: per DM channel)   5 / 5 s   channel
messages.edit       PATCH /channels/{c}/messages/{m}                        5 / 5 s   channel
messages.delete     DELETE /channels/{c}/messages/{m} (Discord's fast one)  5 / 1 s   channel
dm.open             POST /users/@me/channels                                10 / 10 s none (bot)
bans                PUT and DELETE /guilds/{g}/bans/{u} (one resource)      5 / 5 s   guild
bulk-ban            POST /guilds/{g}/bulk-ban (up to 200 users each)        2 / 10 s  guild
members.edit        PATCH /guilds/{g}/members/{u} (timeouts, nick, roles)   10 / 10 s guild
members.kick        DELETE /guilds/{g}/members/{u}                          5 / 5 s   guild
members.roles       PUT and DELETE /guilds/{g}/members/{u}/roles/{r}        10 / 10 s guild
audit-logs          GET /guilds/{g}/audit-logs                              10 / 10 s guild
commands.sync       PUT /applications/{a}/commands and .../guilds/{g}/...   5 / 20 s  guild/none
interaction.reply   POST /interactions/{i}/{token}/callback                 5 / 5 s   i+token
webhook.execute     POST /webhooks/{a}/{token} (follow-ups)                 5 / 2 s   a+token
webhook.messages    GET, PATCH, DELETE /webhooks/{a}/{token}/messages/{m}   5 / 2 s   a+token
(any other route)   its own bucket, named "METHOD /template"                50 / 1 s  as above
global              every bot-token request, all routes together            50 / 1 s  bot token
=================== ======================================================= ========= =========

Why: 5/5 s per channel is the commonly reported figure for posting; deleting
is commonly reported faster (5/1 s) while editing is not. Bans, kicks and role
changes are per guild so a raid cannot be answered faster by spreading targets;
ban and unban share one hash like other create/remove pairs on one resource
(as do role add/remove), and the bulk-ban endpoint is slow per request but bans
up to 200 users each (a 400-user raid goes in one window). Member edits get
10/10 s since timeouts are the bulk of moderation. Webhook routes use the
commonly reported 5 per 2 s per webhook; an interaction accepts one callback anyway,
so its bucket only has to exist (a remaining of 0 there would make discord.py's
webhook adapter sleep inside ``send_message``). Reads go to the default.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import ApiError

GLOBAL = "global"
RATE_LIMITED_MESSAGE = "You are being rate limited."
SCOPES = ("user", "shared")


@dataclass(frozen=True)
class BucketSpec:
    """A bucket's numbers: `limit` requests per fixed window of `per` seconds."""

    limit: int
    per: float
    # X-RateLimit-Scope of this bucket's 429s: "user" (per bot) or "shared" (per resource).
    scope: str = "user"


DEFAULT_GLOBAL = BucketSpec(50, 1.0)
DEFAULT_ROUTE_BUCKET = BucketSpec(50, 1.0)

DEFAULT_BUCKETS: Mapping[str, BucketSpec] = {
    "messages.create": BucketSpec(5, 5.0),
    "messages.edit": BucketSpec(5, 5.0),
    "messages.delete": BucketSpec(5, 1.0),
    "dm.open": BucketSpec(10, 10.0),
    "bans": BucketSpec(5, 5.0),
    "bulk-ban": BucketSpec(2, 10.0),
    "members.edit": BucketSpec(10, 10.0),
    "members.kick": BucketSpec(5, 5.0),
    "members.roles": BucketSpec(10, 10.0),
    "audit-logs": BucketSpec(10, 10.0),
    "commands.sync": BucketSpec(5, 20.0),
    "interaction.reply": BucketSpec(5, 5.0),
    "webhook.execute": BucketSpec(5, 2.0),
    "webhook.messages": BucketSpec(5, 2.0),
}

_G = "/guilds/{guild_id}"
_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
_HOOK = "/webhooks/{application_id}/{token}"

# (method, route template as in rest.RestApi) -> bucket name.
ROUTE_BUCKETS: Mapping[tuple[str, str], str] = {
    ("POST", "/channels/{channel_id}/messages"): "messages.create",
    ("PATCH", _MESSAGE): "messages.edit",
    ("DELETE", _MESSAGE): "messages.delete",
    ("POST", "/users/@me/channels"): "dm.open",
    ("PUT", _G + "/bans/{user_id}"): "bans",
    ("DELETE", _G + "/bans/{user_id}"): "bans",
    ("POST", _G + "/bulk-ban"): "bulk-ban",
    ("PATCH", _G + "/members/{user_id}"): "members.edit",
    ("DELETE", _G + "/members/{user_id}"): "members.kick",
    ("PUT", _G + "/members/{user_id}/roles/{role_id}"): "members.roles",
    ("DELETE", _G + "/members/{user_id}/roles/{role_id}"): "members.roles",
    ("GET", _G + "/audit-logs"): "audit-logs",
    ("PUT", "/applications/{application_id}/commands"): "commands.sync",
    ("PUT", "/applications/{application_id}" + _G + "/commands"): "commands.sync",
    ("POST", "/interactions/{interaction_id}/{token}/callback"): "interaction.reply",
    ("POST", _HOOK): "webhook.execute",
    ("GET", _HOOK + "/messages/{message_id}"): "webhook.messages",
    ("PATCH", _HOOK + "/messages/{message_id}"): "webhook.messages",
    ("DELETE", _HOOK + "/messages/{message_id}"): "webhook.messages",
}


def bucket_hash(name: str) -> str:
    """The opaque X-RateLimit-Bucket value of a bucket (32 hex digits, like Discord's)."""
    return hashlib.sha256(f"emulator-bucket:{name}".encode()).hexdigest()[:32]


def major_parameter(params: Mapping[str, str]) -> str:
    """The route's major parameter as the path gave it: a channel or guild id, or
    the webhook (application) / interaction id joined to its token with "+"."""
    for name in ("channel_id", "guild_id"):
        if name in params:
            return params[name]
    if "token" in params:
        owner = params.get("application_id") or params.get("interaction_id") or ""
        return f"{owner}+{params['token']}"
    return ""


def _ceil_ms(seconds: float) -> float:
    # round() first so that 0.2 s stays 0.200 despite binary floating point.
    return max(0.0, math.ceil(round(seconds * 1000, 6)) / 1000)


@dataclass
class BucketCounter:
    """One bucket instance (bucket hash + major parameter): its window and totals."""

    bucket: str
    bucket_hash: str
    major: str
    limit: int
    per: float
    # Requests admitted (answered normally) and answered 429 because of this bucket.
    requests: int = 0
    limited: int = 0
    # Admitted in the current window, which ends at `reset_at` (monotonic; None: none open).
    used: int = 0
    reset_at: float | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def reset_after(self, now: float) -> float:
        """Seconds until the current window ends, rounded up to the millisecond."""
        return 0.0 if self.reset_at is None else _ceil_ms(self.reset_at - now)

    def _roll(self, now: float) -> None:
        if self.reset_at is not None and now >= self.reset_at:
            self.used, self.reset_at = 0, None

    def _full(self, now: float) -> bool:
        self._roll(now)
        return self.used >= self.limit

    def _admit(self, now: float) -> None:
        if self.reset_at is None:
            self.reset_at = now + self.per
        self.used += 1
        self.requests += 1


@dataclass(frozen=True)
class RateLimitHit:
    """A 429 the emulator's rate limiter answered."""

    method: str
    path: str
    # "METHOD /template" of the route, e.g. "PUT /guilds/{guild_id}/bans/{user_id}".
    route: str
    # Bucket name, or "global" for the global limit.
    bucket: str
    bucket_hash: str | None
    major: str
    # time.monotonic() when answered.
    at: float
    retry_after: float
    is_global: bool
    scope: str


class RateLimited(ApiError):
    """A 429 from the rate limiter, with Discord's body and headers."""

    def __init__(self, retry_after: float, is_global: bool, headers: dict[str, str]) -> None:
        super().__init__(429, 0, RATE_LIMITED_MESSAGE)
        self.retry_after = retry_after
        self.is_global = is_global
        self.headers = headers

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message": self.message,
            "retry_after": self.retry_after,
            "global": self.is_global,
        }
        if not self.is_global:
            data["code"] = 0
        return data


class RateLimits:
    """The emulator's rate limiter, its settings and its record (`DiscordEmulator.rate_limits`)."""

    def __init__(
        self,
        enabled: bool = False,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.enabled = enabled
        # Windows use `clock` (discord.py's loop clock is time.monotonic too);
        # X-RateLimit-Reset is `wall_clock()` + the time left.
        self.clock = clock
        self.wall_clock = wall_clock
        self.specs: dict[str, BucketSpec] = dict(DEFAULT_BUCKETS)
        self.global_spec = DEFAULT_GLOBAL
        # Every 429 the limiter answered, in order.
        self.hits: list[RateLimitHit] = []
        # (method, template) of every route served; filled in by the REST layer.
        self.routes: set[tuple[str, str]] = set()
        self._counters: dict[tuple[str, str], BucketCounter] = {}
        self._global = self._new_global()

    # --------------------------------------------------------------- settings

    def enable(self) -> None:
        """Start enforcing (windows start with the next request)."""
        self.enabled = True

    def disable(self) -> None:
        """Stop enforcing and sending headers; the record is kept."""
        self.enabled = False

    def bucket_of(self, method: str, template: str) -> str:
        """The bucket name of a route: from the table, else "METHOD /template"."""
        return ROUTE_BUCKETS.get((method, template), f"{method} {template}")

    def spec(self, bucket: str) -> BucketSpec:
        if bucket == GLOBAL:
            return self.global_spec
        return self.specs.get(bucket, DEFAULT_ROUTE_BUCKET)

    def override(
        self,
        bucket: str,
        limit: int | None = None,
        per: float | None = None,
        *,
        scope: str | None = None,
    ) -> BucketSpec:
        """Change a bucket's numbers for this emulator: `bucket` is a name from the
        table, "global", or a route as "METHOD /template" (which overrides the
        bucket that route belongs to). Windows of that bucket start afresh."""
        name = self._resolve(bucket)
        current = self.spec(name)
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
        new = replace(
            current,
            limit=current.limit if limit is None else limit,
            per=current.per if per is None else per,
            scope=current.scope if scope is None else scope,
        )
        if new.limit < 1 or new.per <= 0:
            raise ValueError(f"a bucket needs limit >= 1 and per > 0, not {new}")
        if name == GLOBAL:
            self.global_spec = new
            counters = [self._global]
        else:
            self.specs[name] = new
            counters = [c for c in self._counters.values() if c.bucket == name]
        for counter in counters:
            counter.limit, counter.per, counter.used, counter.reset_at = new.limit, new.per, 0, None
        return new

    def restore_defaults(self) -> None:
        """Undo every override (windows start afresh)."""
        self.specs = dict(DEFAULT_BUCKETS)
        self.global_spec = DEFAULT_GLOBAL
        self.reset()

    def reset(self) -> None:
        """Forget windows, counters and hits; overrides stay."""
        self.hits.clear()
        self._counters.clear()
        self._global = self._new_global()

    # ----------------------------------------------------------------- record

    @property
    def global_hits(self) -> list[RateLimitHit]:
        return [hit for hit in self.hits if hit.is_global]

    @property
    def global_counter(self) -> BucketCounter:
        """Requests counted against the global limit (its `limited`: global 429s)."""
        return self._global

    def counters(self, bucket: str | None = None) -> list[BucketCounter]:
        """Bucket instances seen so far (of one bucket name or route), first use first."""
        name = None if bucket is None else self._resolve(bucket)
        return [c for c in self._counters.values() if name is None or c.bucket == name]

    def counter(self, bucket: str, major: Any = "") -> BucketCounter:
        """One bucket instance: `major` is the channel/guild (object or id) or
        "id+token" for webhook and interaction routes; "" for routes without one.
        An instance no request reached yet reads as all zeros."""
        name = self._resolve(bucket)
        key = str(major if isinstance(major, str | int) else getattr(major, "id", major))
        found = self._counters.get((name, key))
        if found is None:
            spec = self.spec(name)
            return BucketCounter(name, bucket_hash(name), key, spec.limit, spec.per)
        return found

    # -------------------------------------------------------------- enforcing

    def admit(
        self,
        method: str,
        path: str,
        template: str,
        params: Mapping[str, str],
        *,
        counts_globally: bool,
    ) -> dict[str, str]:
        """Count a request that reached a route: the headers to answer with, or
        `RateLimited` if it is over its bucket or the global limit."""
        if not self.enabled:
            return {}
        now = self.clock()
        name = self.bucket_of(method, template)
        major = major_parameter(params)
        counter = self._counter(name, major)
        route = f"{method} {template}"
        if counts_globally and self._global._full(now):
            retry_after = self._global.reset_after(now)
            self._global.limited += 1
            self.hits.append(
                RateLimitHit(method, path, route, GLOBAL, None, "", now, retry_after, True, GLOBAL)
            )
            raise RateLimited(
                retry_after,
                True,
                {
                    "Retry-After": str(math.ceil(retry_after)),
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                    "Via": "1.1 google",
                },
            )
        if counter._full(now):
            retry_after = counter.reset_after(now)
            counter.limited += 1
            scope = self.spec(name).scope
            self.hits.append(
                RateLimitHit(
                    method,
                    path,
                    route,
                    name,
                    counter.bucket_hash,
                    major,
                    now,
                    retry_after,
                    False,
                    scope,
                )
            )
            raise RateLimited(
                retry_after,
                False,
                {
                    **self._headers(counter, now),
                    "Retry-After": str(math.ceil(retry_after)),
                    "X-RateLimit-Scope": scope,
                    "Via": "1.1 google",
                },
            )
        counter._admit(now)
        if counts_globally:
            self._global._admit(now)
        return self._headers(counter, now)

    def _headers(self, counter: BucketCounter, now: float) -> dict[str, str]:
        reset_after = counter.reset_after(now)
        reset = _ceil_ms(self.wall_clock() + reset_after)
        return {
            "X-RateLimit-Limit": str(counter.limit),
            "X-RateLimit-Remaining": str(counter.remaining),
            "X-RateLimit-Reset": f"{reset:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": counter.bucket_hash,
        }

    def _counter(self, name: str, major: str) -> BucketCounter:
        counter = self._counters.get((name, major))
        if counter is None:
            spec = self.spec(name)
            counter = BucketCounter(name, bucket_hash(name), major, spec.limit, spec.per)
            self._counters[(name, major)] = counter
        return counter

    def _new_global(self) -> BucketCounter:
        spec = self.global_spec
        return BucketCounter(GLOBAL, "", "", spec.limit, spec.per)

    def _resolve(self, bucket: str) -> str:
        """A bucket name from a name, "global", or "METHOD /template"."""
        if bucket == GLOBAL or bucket in DEFAULT_BUCKETS:
            return bucket
        method, _, template = bucket.partition(" ")
        if (method, template) in ROUTE_BUCKETS:
            return ROUTE_BUCKETS[(method, template)]
        if (method, template) in self.routes:
            return bucket
        raise KeyError(
            f"unknown rate-limit bucket {bucket!r}: use 'global', a name from "
            f"{sorted(DEFAULT_BUCKETS)} or 'METHOD /template' of a served route"
        )
