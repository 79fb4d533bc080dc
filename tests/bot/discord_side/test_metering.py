"""Route labels for Discord requests: templates, never ids or tokens."""

from __future__ import annotations

import pytest

from bot.discord_side.metering import template_of


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("PUT", "/guilds/123/bans/456", "PUT /guilds/{guild_id}/bans/{user_id}"),
        (
            "POST",
            "/interactions/987/aW50ZXJhY3Rpb246OTg3OnNlY3JldA/callback",
            "POST /interactions/{interaction_id}/{interaction_token}/callback",
        ),
        (
            "PATCH",
            "/webhooks/11/tok.en-value/messages/@original?wait=true",
            "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        ),
        ("GET", "/users/@me", "GET /users/@me"),
        ("GET", "/guilds/1/Weird%20Segment", "GET /guilds/{guild_id}/{id}"),
    ],
)
def test_paths_become_templates(method: str, path: str, template: str) -> None:
    assert template_of(method, path) == template
