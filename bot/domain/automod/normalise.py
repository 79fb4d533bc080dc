"""Text normalisation for automod matching.

Spammers dodge word lists with ``FrEe   N1tro``, a zero-width space inside ``free``,
Cyrillic letters that look Latin, or fullwidth letters. Word lists, duplicate
detection and (on request) regular expressions compare text after :func:`normalise`,
which applies, in order:

1. Unicode NFKC: fullwidth and other compatibility forms become their plain
   letters (fullwidth ``f`` -> ``f``, the ``fi`` ligature -> ``fi``, superscript
   digits -> digits).
2. Case folding (``str.casefold``: ``ß`` -> ``ss``).
3. Canonical decomposition, then every combining mark (accents, zalgo) and every
   invisible format character (zero-width spaces and joiners, word joiner, BOM,
   soft hyphen, bidirectional marks, tags, variation selectors, Hangul fillers,
   the blank Braille pattern) is dropped: ``café`` -> ``cafe``.
4. Look-alike letters map to ASCII: the Cyrillic and Greek letters that look Latin
   (Cyrillic a, e, o, p, c, x; Greek alpha, omicron, nu... see ``CONFUSABLES``) and
   the usual digit and symbol leet (``0 1 3 4 5 7 8 @ $`` -> ``o i e a s t b a s``).
5. Runs of whitespace become one space; leading and trailing space is removed.

Both sides of a comparison go through the same function (word list entries too),
so the lossy steps (leet, dropped accents) cost a few false positives in other
scripts and numbers, never a missed match. It is not Unicode's full confusables
table (TR39): only the letters spammers use, small enough to read.
"""

from __future__ import annotations

import unicodedata
from functools import cache

# Look-alikes after case folding and decomposition (so only lower case, no accents),
# written as escapes because they are indistinguishable from their ASCII twins.
_CYRILLIC = (  # a v d ie ze ka em en o er es te u ha soft-sign dze i je komi-de qa we shha
    "\u0430\u0432\u0434\u0435\u0437\u043a\u043d\u043c\u043e\u0440\u0441\u0442"
    "\u0443\u0445\u044c\u0455\u0456\u0458\u0501\u051b\u051d\u04bb\u04cf\u0261",
    "abde3khmopctyxbsijdqwhlg",  # palochka -> l; the last is Latin script g
)
_GREEK = (  # alpha beta gamma delta epsilon zeta eta iota kappa mu nu omicron rho tau ...
    "\u03b1\u03b2\u03b3\u03b4\u03b5\u03b6\u03b7\u03b9\u03ba\u03bc\u03bd\u03bf"
    "\u03c1\u03c4\u03c5\u03c7\u03c9",
    "abydeznikuvoptuxw",
)
_LEET = ("0134578@$", "oieastbas")  # applied to the letters' results too: ze -> 3 -> e
CONFUSABLES: dict[str, str] = {
    char: ascii_char
    for chars, ascii_chars in (_CYRILLIC, _GREEK, _LEET)
    for char, ascii_char in zip(chars, ascii_chars, strict=True)
}

# Invisible characters that are not format (Cf) characters.
_INVISIBLE_EXTRA = ("\u115f", "\u1160", "\u3164", "\uffa0", "\u2800")
# Where combining marks and format characters live: scanning only these keeps the
# one-off table build near 50 ms instead of half a second for all of Unicode.
_SCANNED_RANGES = (range(0x20000), range(0xE0000, 0xE1000))
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})


@cache
def _table() -> dict[int, str | None]:
    """One ``str.translate`` table: drop invisibles and marks, map look-alikes.

    Built on the first non-ASCII text, not at import.
    """
    table: dict[int, str | None] = {}
    for block in _SCANNED_RANGES:
        for point in block:
            if unicodedata.category(chr(point)) in _DROPPED_CATEGORIES:
                table[point] = None
    for char in _INVISIBLE_EXTRA:
        table[ord(char)] = None
    for char, ascii_char in CONFUSABLES.items():
        # Two-step look-alikes ("з" -> "3" -> "e") resolve to the end of the chain.
        table[ord(char)] = CONFUSABLES.get(ascii_char, ascii_char)
    return table


_ASCII_TABLE = str.maketrans({c: CONFUSABLES[c] for c in CONFUSABLES if c.isascii()})


def normalise(text: str) -> str:
    """The form of ``text`` that automod compares (see the module docstring)."""
    if text.isascii():
        # Fast path for most messages: ASCII has no compatibility forms, marks or
        # invisible characters (NUL and other controls count as whitespace below).
        folded = text.lower().translate(_ASCII_TABLE)
    else:
        folded = unicodedata.normalize("NFKC", text).casefold()
        folded = unicodedata.normalize("NFD", folded).translate(_table())
    return " ".join(folded.split())
