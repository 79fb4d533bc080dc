"""One check of every limit Discord puts on a message, for rendered replies and for
messages the emulator stored.

Discord refuses the whole message (400, 50035 Invalid Form Body) when any part is
over; it counts characters as Unicode code points, as `len` does.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.discord_side import limits
from cogs._render import PageView, Reply

Payload = dict[str, Any]


def _embed_dicts(message: Reply | Payload) -> list[Payload]:
    if isinstance(message, Reply):
        return [embed.to_dict() for embed in message.embeds]
    return list(message.get("embeds") or [])


def _components(message: Reply | Payload) -> list[Payload]:
    if isinstance(message, Reply):
        return message.view.to_components() if message.view is not None else []
    return list(message.get("components") or [])


def assert_embed_fits(embed: Payload | discord.Embed, where: str = "embed") -> int:
    """Every limit on one embed; returns its size toward the 6,000 of a message."""
    data: Payload = embed.to_dict() if isinstance(embed, discord.Embed) else embed
    size = 0
    for key, limit in (("title", limits.EMBED_TITLE), ("description", limits.EMBED_DESCRIPTION)):
        text = str(data.get(key) or "")
        assert len(text) <= limit, f"{where}.{key}: {len(text)} > {limit}"
        size += len(text)
    footer = str((data.get("footer") or {}).get("text") or "")
    assert len(footer) <= limits.FOOTER, f"{where}.footer: {len(footer)} > {limits.FOOTER}"
    author = str((data.get("author") or {}).get("name") or "")
    assert len(author) <= limits.AUTHOR_NAME, f"{where}.author: {len(author)}"
    size += len(footer) + len(author)
    fields = data.get("fields") or []
    assert len(fields) <= limits.EMBED_FIELDS, f"{where}: {len(fields)} fields"
    for index, field in enumerate(fields):
        name, value = str(field.get("name") or ""), str(field.get("value") or "")
        assert 0 < len(name) <= limits.FIELD_NAME, f"{where}.fields.{index}.name: {len(name)}"
        assert 0 < len(value) <= limits.FIELD_VALUE, f"{where}.fields.{index}.value: {len(value)}"
        size += len(name) + len(value)
    if isinstance(embed, discord.Embed):
        assert len(embed) == size, "discord.py counts the embed as Discord does"
    return size


def assert_components_fit(rows: list[Payload]) -> None:
    assert len(rows) <= limits.ACTION_ROWS, f"{len(rows)} action rows"
    seen: set[str] = set()
    for row in rows:
        assert row["type"] == 1
        items = row.get("components") or []
        assert len(items) <= limits.ROW_ITEMS, f"{len(items)} items in a row"
        for item in items:
            assert len(item.get("label") or "") <= limits.BUTTON_LABEL
            custom_id = item.get("custom_id")
            if custom_id is not None:
                assert len(custom_id) <= limits.CUSTOM_ID
                assert custom_id not in seen, "custom ids must be unique"
                seen.add(custom_id)
            options = item.get("options") or []
            assert len(options) <= limits.SELECT_OPTIONS
            for option in options:
                assert len(option["label"]) <= limits.SELECT_OPTION_LABEL
                assert len(option["value"]) <= limits.SELECT_OPTION_VALUE
                assert len(option.get("description") or "") <= limits.SELECT_OPTION_DESCRIPTION


def assert_fits(message: Reply | Payload | str) -> None:
    """Content, embeds (each and all together), files and components within Discord's
    limits; for a paged reply, every page too."""
    if isinstance(message, str):
        message = Reply(content=message)
    content = message.content if isinstance(message, Reply) else str(message.get("content") or "")
    assert len(content) <= limits.CONTENT, f"content is {len(content)} characters"
    embeds = _embed_dicts(message)
    assert len(embeds) <= limits.EMBEDS
    total = sum(assert_embed_fits(e, f"embeds.{i}") for i, e in enumerate(embeds))
    assert total <= limits.EMBED_TOTAL, f"embeds total {total} characters"
    if isinstance(message, Reply):
        assert len(message.files) <= limits.FILES
        assert content or embeds or message.files, "Discord refuses an empty message"
        if isinstance(message.view, PageView):
            for number, page in enumerate(message.view.pages, 1):
                assert 0 < len(page) <= limits.CONTENT, f"page {number} is {len(page)}"
    assert_components_fit(_components(message))
