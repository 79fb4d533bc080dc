"""Counting Discord's REST answers by route template and status, 429s apart.

discord.py sends every request through one aiohttp session, and retries on a
429 or a 5xx by itself, so the count comes from an aiohttp trace on that
session: it sees each answer, retried ones included. The route label is the
template discord.py's `Route` was built from (`PUT /guilds/{guild_id}/bans/{user_id}`),
passed to the trace in a context variable by `name_routes`; requests that do
not go through `HTTPClient.request` (interaction replies and follow-ups use
discord.py's webhook adapter) get theirs from `template_of`. Ids and tokens
never become labels.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import aiohttp
from discord.http import HTTPClient, Route

from bot.domain.metrics import Metrics

_route: ContextVar[str | None] = ContextVar("lockdown_discord_route", default=None)

#: What an id after each collection names, as discord.py's templates call it.
_ID_NAMES = {
    "guilds": "guild_id",
    "channels": "channel_id",
    "users": "user_id",
    "members": "user_id",
    "bans": "user_id",
    "messages": "message_id",
    "roles": "role_id",
    "interactions": "interaction_id",
    "webhooks": "webhook_id",
    "applications": "application_id",
    "commands": "command_id",
}
#: The segment after an interaction's or a webhook's id is its token.
_TOKENS = {"interactions": "interaction_token", "webhooks": "webhook_token"}
_WORD = re.compile(r"^[a-z@][a-z0-9@._-]{0,31}$")
_SCOPES = frozenset({"user", "shared", "global"})


def name_routes(http: HTTPClient) -> None:
    """Make `http` tell the trace which route template each request is for."""
    request = http.request

    async def named(route: Route, **kwargs: Any) -> Any:
        token = _route.set(f"{route.method} {route.path}")
        try:
            return await request(route, **kwargs)
        finally:
            _route.reset(token)

    http.request = named  # type: ignore[method-assign]


def template_of(method: str, path: str) -> str:
    """`POST /interactions/{interaction_id}/{interaction_token}/callback` for a path
    with ids and tokens in it: numbers become the id they are, the segment after an
    interaction's or webhook's id its token, and anything else unexpected `{id}`."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    named: list[str] = []
    for index, segment in enumerate(segments):
        before = segments[index - 1] if index else ""
        two_before = segments[index - 2] if index > 1 else ""
        if segment.isdigit():
            named.append("{" + _ID_NAMES.get(before, "id") + "}")
        elif two_before in _TOKENS and before.isdigit():
            named.append("{" + _TOKENS[two_before] + "}")
        elif _WORD.match(segment):
            named.append(segment)
        else:
            named.append("{id}")
    return f"{method} /" + "/".join(named)


def rest_trace(metrics: Metrics, api_base: str) -> aiohttp.TraceConfig:
    """A trace for discord.py's session that reports every answer from `api_base`."""
    trace = aiohttp.TraceConfig()
    base = api_base.rstrip("/")

    def route_of(method: str, url: str) -> str | None:
        if not url.startswith(base):
            return None  # the gateway's websocket, or anything else on the session
        return _route.get() or template_of(method, url[len(base) :])

    async def answered(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        route = route_of(params.method, str(params.url))
        if route is None:
            return
        response = params.response
        scope = None
        if response.status == 429:
            if response.headers.get("X-RateLimit-Global", "").lower() == "true":
                scope = "global"
            else:
                scope = response.headers.get("X-RateLimit-Scope", "user").lower()
                scope = scope if scope in _SCOPES else "user"
        metrics.discord_response(route, str(response.status), scope)

    async def unanswered(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        route = route_of(params.method, str(params.url))
        if route is not None:
            metrics.discord_response(route, "unanswered", None)

    trace.on_request_end.append(answered)
    trace.on_request_exception.append(unanswered)
    return trace
