"""Discord's limits on what a message may hold, and cutting text to them.

Discord refuses a whole message (400, 50035 Invalid Form Body) if any part is
too long. Text is cut with a visible marker, never silently, and never inside a
character or a mention. Discord counts code points, as Python's `len` does.
"""

from __future__ import annotations

import unicodedata

import discord

# Messages
CONTENT = 2000
EMBEDS = 10
FILES = 10
# Embeds (the total counts title, description, field names and values, footer, author)
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR_NAME = 256
EMBED_TOTAL = 6000
# Components
ACTION_ROWS = 5
ROW_ITEMS = 5
BUTTON_LABEL = 80
CUSTOM_ID = 100
SELECT_OPTIONS = 25
SELECT_OPTION_LABEL = 100
SELECT_OPTION_VALUE = 100
SELECT_OPTION_DESCRIPTION = 100
PLACEHOLDER = 150
# Modals
MODAL_TITLE = 45
TEXT_INPUT_LABEL = 45
TEXT_INPUT_VALUE = 4000
# Slash command choices and autocomplete
CHOICES = 25
CHOICE_NAME = 100
CHOICE_VALUE = 100

ELLIPSIS = "…"
#: Lines per page of a list, so a page reads at a glance whatever the lines' length.
PAGE_LINES = 10

#: How far `cut` steps back so as not to end inside a character cluster or a mention.
_MAX_BACKOFF = 64
_ZWJ = "\u200d"
#: Discord's markup tokens that break if cut: <@id>, <@&id>, <#id>, <t:…>, <:emoji:id>.
_TOKEN_STARTS = "@#t:a/"


def _joins_previous(char: str) -> bool:
    """True for a code point that belongs to the one before it: a low surrogate, a
    combining mark, a variation selector, a joiner or an emoji modifier."""
    code = ord(char)
    return (
        0xDC00 <= code <= 0xDFFF
        or unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me")
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F  # tag characters (flag sequences)
        or char == _ZWJ
    )


def _is_high(char: str) -> bool:
    return "\ud800" <= char <= "\udbff"


def _safe_end(text: str, end: int) -> int:
    """An index at or before `end` that does not split a surrogate pair, a character
    cluster, or a Discord token such as a mention or a timestamp."""
    floor = max(0, end - _MAX_BACKOFF)
    best = end
    while best > floor and (
        _joins_previous(text[best]) or text[best - 1] == _ZWJ or _is_high(text[best - 1])
    ):
        best -= 1
    if best == floor and floor > 0:
        best = end  # a run of marks longer than the back-off: cut inside it
        while best > 0 and _is_high(text[best - 1]):
            best -= 1  # but never between the halves of a surrogate pair
    opening = text.rfind("<", max(0, best - _MAX_BACKOFF), best)
    if (
        opening != -1
        and text.find(">", opening, best) == -1
        and opening + 1 < len(text)
        and text[opening + 1] in _TOKEN_STARTS
    ):
        best = opening
    return best


def cut(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """`text` whole if it fits in `limit` characters, else its start and `marker`.

    The marker says that (and where) the rest can be read, e.g.
    `"… (cut; full text: /case show 12)"`; the cut never splits a character.
    """
    if len(text) <= limit:
        return text
    if len(marker) >= limit:
        return cut(marker, limit) if marker != ELLIPSIS else ELLIPSIS[:limit]
    end = _safe_end(text, limit - len(marker))
    return text[:end].rstrip() + marker


def case_marker(number: int) -> str:
    """The marker of text whose full version `/case show` gives."""
    return f"{ELLIPSIS} (cut; full text: /case show {number})"


def one_line(text: str) -> str:
    """Text for a list line: every run of whitespace (newlines too) becomes one space."""
    return " ".join(text.split())


def add_field(
    embed: discord.Embed, name: str, value: str, *, inline: bool = True, marker: str = ELLIPSIS
) -> None:
    """A field within Discord's limits: name and value cut, an empty value shown as "—"."""
    embed.add_field(
        name=cut(name or "—", FIELD_NAME),
        value=cut(value or "—", FIELD_VALUE, marker),
        inline=inline,
    )
