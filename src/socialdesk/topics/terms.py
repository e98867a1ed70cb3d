"""The terms of a message: its words and pairs of neighbouring words, as a topic would name them.

Addresses, handles, links and e-mail addresses are dropped, and so are numbers standing alone:
they name a person or an order, not a topic, and must not end up on a report. A number next to
a word stays in the pair ("tram 4", "line 12"), since that is how people name a route or a
product. Words are folded to lower case; a hashtag counts as its word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from socialdesk.topics.stopwords import STOPWORDS

# Links, @handles, e-mail and web addresses go before words are read.
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\S+|(?<![\w@])@\w+"
    r"|\b(?:[\w-]+\.)+[a-z]{2,}(?:/\S*)?",  # a bare address: example.com/fares
    re.IGNORECASE,
)
# A word (letters and digits, with inner apostrophes as in "don't" or hyphens as in "e-bike"),
# or where a clause ends: no pair is made across that.
_WORD_OR_BREAK = re.compile(
    r"([^\W_]+(?:['\u2019\-][^\W_]+)*)|[,.;:!?()\[\]{}\"\u201c\u201d\u00ab\u00bb\u2026|/\n]+"
)
MAX_NUMBER_DIGITS = 4  # longer runs of digits are order, card and phone numbers
_TOO_MANY_DIGITS = re.compile(rf"(?:\D*\d){{{MAX_NUMBER_DIGITS + 1}}}")
MAX_WORD_LENGTH = 30
MIN_WORD_LENGTH = 2


def words(text: str) -> list[str]:
    """The message's words in order, folded; a word that is not kept, and the end of a
    clause, leave a gap (``""``), so no pair is made across them."""
    out: list[str] = []
    folded = _NOISE.sub("|", text).casefold().replace("\u2019", "'")
    for match in _WORD_OR_BREAK.finditer(folded):
        word = match.group(1)
        if word is None or len(word) > MAX_WORD_LENGTH or _too_many_digits(word):
            out.append("")
        else:
            out.append(word)
    return out


def _too_many_digits(word: str) -> bool:
    return not word.isalpha() and _TOO_MANY_DIGITS.match(word) is not None


def _topical(word: str) -> bool:
    """A word that can name a topic on its own."""
    return (
        len(word) >= MIN_WORD_LENGTH
        and word not in STOPWORDS
        and (word.isalpha() or not word.replace("'", "").replace("-", "").isdigit())
    )


def terms(text: str) -> set[str]:
    """The distinct terms of ``text``: topical words, and pairs of neighbouring words of one
    clause, either two topical words or a topical word and the short number after it."""
    seq = words(text)
    topical = [bool(w) and _topical(w) for w in seq]
    found = {w for w, keep in zip(seq, topical, strict=True) if keep}
    for i in range(len(seq) - 1):
        if not topical[i]:
            continue
        second = seq[i + 1]
        if second != seq[i] and (topical[i + 1] or second.isdigit()):
            found.add(f"{seq[i]} {second}")
    return found


def terms_of_all(texts: Iterable[str]) -> set[str]:
    """The terms of several messages taken together (one customer's, say)."""
    out: set[str] = set()
    for text in texts:
        out |= terms(text)
    return out


def _singular_candidates(word: str) -> tuple[str, ...]:
    if len(word) < 4 or not word.isalpha() or word.endswith(("ss", "us", "is")):
        return ()
    if word.endswith("ies"):
        return (word[:-3] + "y",)
    if word.endswith("es"):
        return (word[:-2], word[:-1])  # "buses", "fares"
    if word.endswith("s"):
        return (word[:-1],)
    return ()


def singulars(vocabulary: Iterable[str]) -> dict[str, str]:
    """English plurals among ``vocabulary``'s words whose singular is there too ("trams" and
    "tram", "buses" and "bus", "batteries" and "battery"), each mapped to that singular. Only
    when both forms were written: no guess makes a word that nobody used."""
    words_used = {term for term in vocabulary if " " not in term}
    found: dict[str, str] = {}
    for word in words_used:
        for candidate in _singular_candidates(word):
            if candidate in words_used:
                found[word] = candidate
                break
    return found


def fold(terms_found: set[str], plurals: dict[str, str]) -> set[str]:
    """``terms_found`` with each plural word, alone or in a pair, as its singular."""
    if not plurals:
        return terms_found
    out: set[str] = set()
    for term in terms_found:
        if " " in term:
            first, second = term.split(" ", 1)
            out.add(f"{plurals.get(first, first)} {plurals.get(second, second)}")
        else:
            out.add(plurals.get(term, term))
    return out
