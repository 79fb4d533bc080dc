"""Discord's message limits in one place, and the helpers that keep replies within them.

Discord refuses a whole message (400, 50035 Invalid Form Body) if any part of it is
too long, and the moderator then sees nothing useful. So long text is cut with a
visible marker (never silently), long lists are split into pages of whole lines, and
whatever is cut stays reachable: in full on an embed, in an attached file, or a
command away. Discord counts characters as Unicode code points, as Python's `len`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.discord_side.limits import BUTTON_LABEL, CONTENT, ELLIPSIS, PAGE_LINES, cut


def chunk_lines(
    lines: Iterable[str], limit: int = CONTENT, *, max_lines: int | None = None
) -> list[list[str]]:
    """Whole lines packed in order into groups whose newline-joined length fits `limit`
    (and of at most `max_lines`); a line longer than `limit` alone is cut."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for raw in lines:
        line = cut(raw, limit)
        full = max_lines is not None and len(current) >= max_lines
        if current and (full or size + 1 + len(line) > limit):
            groups.append(current)
            current, size = [], 0
        size += len(line) + (1 if current else 0)
        current.append(line)
    if current:
        groups.append(current)
    return groups


def pages(lines: Iterable[str], limit: int = CONTENT, *, max_lines: int | None = None) -> list[str]:
    """Whole lines packed into pages of at most `limit` characters; none for no lines."""
    return ["\n".join(group) for group in chunk_lines(lines, limit, max_lines=max_lines)]


def paginate(
    lines: Sequence[str],
    heading: Callable[[int, int], str],
    *,
    limit: int = CONTENT,
    max_lines: int | None = PAGE_LINES,
) -> list[str]:
    """Pages of whole lines, each led by `heading(first, last)` (1-based line numbers
    on that page; an empty heading adds nothing). At least one page."""
    total = len(lines)
    widest = max(len(heading(1, total)), len(heading(total, total)), len(heading(1, 1)))
    groups = chunk_lines(lines, limit - widest - 1, max_lines=max_lines) or [[]]
    result: list[str] = []
    first = 1
    for group in groups:
        head = heading(first, first + len(group) - 1) if group else heading(0, 0)
        result.append(cut("\n".join([head, *group] if head else group), limit))
        first += len(group)
    return result


def fit_lines(
    lines: Sequence[str],
    limit: int = CONTENT,
    *,
    more: Callable[[int], str] = lambda n: f"{ELLIPSIS}and {n} more.",
    line_limit: int | None = None,
    max_lines: int | None = None,
    sep: str = "\n",
) -> tuple[str, int]:
    """As many whole lines as fit in `limit` (and `max_lines`), then `more(left out)`.

    Returns the text and how many lines were left out; the first line is kept,
    cut if need be, whatever happens. `sep` joins them (", " for a list of items).
    """
    cut_lines = [cut(line, min(line_limit or limit, limit)) for line in lines]
    shown_max = len(cut_lines) if max_lines is None else min(max_lines, len(cut_lines))
    joined = sep.join(cut_lines)
    if shown_max == len(cut_lines) and len(joined) <= limit:
        return joined, 0
    kept: list[str] = []
    size = -len(sep)
    for index, line in enumerate(cut_lines[:shown_max]):
        tail = len(sep) + len(more(len(cut_lines) - index - 1))
        if size + len(sep) + len(line) + tail > limit:
            if not kept:  # the first line always shows, cut to leave room
                kept.append(cut(line, max(1, limit - tail)))
            break
        kept.append(line)
        size += len(sep) + len(line)
    left = len(cut_lines) - len(kept)
    return cut(sep.join([*kept, more(left)]), limit), left


@dataclass(frozen=True, slots=True)
class TextFile:
    """A plain-text attachment: where text too long for a message is kept in full."""

    name: str
    text: str

    def to_file(self) -> discord.File:
        return discord.File(io.BytesIO(self.text.encode()), filename=self.name)


@dataclass(slots=True)
class Reply:
    """Everything one message carries, built by a pure function and checkable in tests."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[TextFile] = field(default_factory=list)
    view: discord.ui.View | None = None

    def send_kwargs(self) -> dict[str, Any]:
        """Arguments for `send_message`/`followup.send` (files become fresh `File`s)."""
        kwargs: dict[str, Any] = {}
        if self.content:
            kwargs["content"] = self.content
        if self.embeds:
            kwargs["embeds"] = self.embeds
        if self.files:
            kwargs["files"] = [f.to_file() for f in self.files]
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Arguments for editing a message into this one (what it lacks is removed)."""
        return {
            "content": self.content or None,
            "embeds": self.embeds,
            "attachments": [f.to_file() for f in self.files],
            "view": self.view,
        }


class PageView(discord.ui.View):
    """Back and forward buttons over pages rendered in advance, and where one is."""

    def __init__(
        self,
        page_texts: Sequence[str],
        *,
        back: str = "Newer",
        forward: str = "Older",
        timeout: float = 600,
    ) -> None:
        super().__init__(timeout=timeout)
        self.pages = list(page_texts) or [""]
        self.index = 0
        self.back.label = cut(back, BUTTON_LABEL)
        self.forward.label = cut(forward, BUTTON_LABEL)
        self._update()

    @property
    def content(self) -> str:
        return self.pages[self.index]

    def _update(self) -> None:
        self.back.disabled = self.index == 0
        self.forward.disabled = self.index == len(self.pages) - 1
        self.where.label = f"{self.index + 1} of {len(self.pages)}"

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._update()
        await interaction.response.edit_message(content=self.content, view=self)

    @discord.ui.button(label="Back", style=discord.ButtonStyle.secondary)
    async def back(self, interaction: discord.Interaction, _: discord.ui.Button[PageView]) -> None:
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="1 of 1", style=discord.ButtonStyle.secondary, disabled=True)
    async def where(self, interaction: discord.Interaction, _: discord.ui.Button[PageView]) -> None:
        await interaction.response.defer()  # disabled: Discord never sends this

    @discord.ui.button(label="Forward", style=discord.ButtonStyle.secondary)
    async def forward(
        self, interaction: discord.Interaction, _: discord.ui.Button[PageView]
    ) -> None:
        await self._show(interaction, self.index + 1)


def paged(page_texts: Sequence[str], *, back: str = "Newer", forward: str = "Older") -> Reply:
    """The first page, with buttons when there are more."""
    if len(page_texts) <= 1:
        return Reply(content=page_texts[0] if page_texts else "")
    view = PageView(page_texts, back=back, forward=forward)
    return Reply(content=view.content, view=view)
