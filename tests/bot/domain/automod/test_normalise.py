from __future__ import annotations

import pytest

from bot.domain.automod.normalise import CONFUSABLES, normalise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FREE Nitro", "free nitro"),
        ("  free \t\n  nitro  ", "free nitro"),
        ("fr\u200bee n\u200citro\u200d", "free nitro"),  # zero-width space, ZWNJ, ZWJ
        ("fr\u2060ee\ufeff", "free"),  # word joiner, byte order mark
        ("fre\u00ade", "free"),  # soft hyphen
        ("\u202efree", "free"),  # right-to-left override
        ("fr\u0435\u0435", "free"),  # Cyrillic ie
        ("\u0405\u0420\u0410\u041c", "spam"),  # Cyrillic capitals: dze, er, a, em
        ("\u039a\u03b9\u03c4\u03c4\u03b5\u03b7", "kitten"),  # Greek: capital kappa, eta for n
        ("\uff46\uff52\uff45\uff45", "free"),  # fullwidth
        ("\U0001d41f\U0001d42b\U0001d41e\U0001d41e", "free"),  # mathematical bold
        ("caf\u00e9 na\u00efve", "cafe naive"),
        ("z\u0338\u0322a\u0337l\u0336g\u0335o", "zalgo"),
        ("Stra\u00dfe", "strasse"),
        ("h3ll0 w0rld", "hello world"),
        ("fr33 $p@m", "free spam"),
        ("\u0437", "e"),  # Cyrillic ze looks like 3, which is leet for e
        ("\u3164", ""),  # Hangul filler, an invisible "name"
        ("", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_every_confusable_maps_to_ascii() -> None:
    assert all(value.isascii() and len(value) == 1 for value in CONFUSABLES.values())
    assert all(normalise(char).isascii() for char in CONFUSABLES)


def test_normalising_is_idempotent() -> None:
    samples = ["FR\u0415\u0415  n\u200b1tro", "caf\u00e9", "\uff53\uff50\uff41\uff4d"]
    assert all(normalise(normalise(s)) == normalise(s) for s in samples)
