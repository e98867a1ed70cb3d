"""The terms of a message: its words and pairs of neighbouring words, as a topic would name them.

Addresses, handles, links and e-mail addresses are dropped, and so are numbers standing alone:
they name a person or an order, not a topic, and must not end up on a report. A number next to
a word stays in the pair ("tram 4", "line 12"), since that is how people name a route or a
product. Words are folded to lower case; a hashtag counts as its word.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from socialdesk.topics.stopwords import STOPWORDS

# Links, @handles, e-mail and web addresses go before words are read.
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\S+|(?<![\w@])@\w+"
    r"|\b(?:[\w-]+\.)+[a-z]{2,}(?:/\S*)?",  # a bare address: example.com/fares
    re.IGNORECASE,
)
# Where a clause ends: no pair is made across it.
_BREAK = re.compile(r"[,.;:!?()\[\]{}\"“”«»…|/\n]+")
# A word: letters and digits, with inner apostrophes ("don't") or hyphens ("e-bike").
_WORD = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")
MAX_NUMBER_DIGITS = 4  # longer runs of digits are order, card and phone numbers
MAX_WORD_LENGTH = 30
MIN_WORD_LENGTH = 2


def words(text: str) -> list[str]:
    """The message's words in order, folded; a word that is not kept leaves a gap (``""``),
    so no pair is made across it."""
    out: list[str] = []
    for clause in _BREAK.split(_NOISE.sub("|", text)):
        for match in _WORD.finditer(clause):
            word = match.group().casefold().replace("\u2019", "'")
            too_long = len(word) > MAX_WORD_LENGTH or _too_many_digits(word)
            out.append("" if too_long else word)
        out.append("")
    return out[:-1]


def _too_many_digits(word: str) -> bool:
    return sum(ch.isdigit() for ch in word) > MAX_NUMBER_DIGITS


def _topical(word: str) -> bool:
    """A word that can name a topic on its own."""
    return (
        len(word) >= MIN_WORD_LENGTH
        and word not in STOPWORDS
        and not word.replace("'", "").replace("-", "").isdigit()
    )


def terms(text: str) -> set[str]:
    """The distinct terms of ``text``: topical words, and pairs of neighbouring words of one
    clause, either two topical words or a topical word and the short number after it."""
    seq = words(text)
    found = {w for w in seq if _topical(w)}
    for first, second in itertools.pairwise(seq):
        if first != second and _topical(first) and (_topical(second) or second.isdigit()):
            found.add(f"{first} {second}")
    return found


def terms_of_all(texts: Iterable[str]) -> set[str]:
    """The terms of several messages taken together (one customer's, say)."""
    out: set[str] = set()
    for text in texts:
        out |= terms(text)
    return out
