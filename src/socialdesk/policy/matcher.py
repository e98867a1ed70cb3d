"""Finding forbidden terms the way people actually write them.

A term must be found when it is written with other case or accents (``BEER``, ``bière``),
inflected (``beers``, ``drunken``), in a hashtag (``#craftbeer``, ``#BeerTime``), elongated
(``beeeer``), in leetspeak (``b33r``, ``v0dka``), with separators (``b.e.e.r``, ``b-e-e-r``,
``b e e r``), or as an emoji that stands for it (🍺). It must not be found in words that merely
contain its letters (``swine``, ``twine``, ``beeline``, ``beetroot``, ``Bodrum``, ``Beersheba``).

How: terms are compiled once into a dictionary from every *form* a word can take (the term and
its generated inflections) to the term lists that own it. A draft is folded (lower case, accents
and look-alike letters removed), cut into word tokens, and each token's possible readings
(itself, leetspeak decoded, elongation undone) are looked up in that dictionary. So checking
costs a handful of dictionary look-ups per word, whatever the number of rules. Words are never
searched as substrings, which is what keeps ``swine`` clean of ``wine``. The exceptions:

- hashtags, where words are glued together: ``#BeerTime`` is split on its capitals, and
  ``#craftbeer`` is searched for terms of four letters or more at its start (the rest at least
  two letters), its end (the start at least two letters) or inside (three letters either side).
  ``#twine`` and ``#swineflu`` therefore pass, while ``#craftbeer`` and ``#thebeerfest`` do not.
  Words that are innocent but glued the same way (``#Beersheba``, ``#wineberry``) are allowed
  through :data:`socialdesk.policy.topics.INNOCENT` or a rule's ``allow`` list.
- terms that are not words (emoji, ``#ad``, ``% off``) and terms in scripts written without
  spaces (Chinese, Japanese, Thai...) are matched as literal text.

Mentions (``@handle``) are never matched: replying to ``@craftbeerlover`` must stay possible.
Every span returned is a pair of code point offsets into the original text.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import regex

from socialdesk.policy.entities import MENTION
from socialdesk.policy.topics import EMOJI_FOR, INNOCENT

# Look-alike letters from other scripts that are used to dodge filters ("вeer").
_CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",  # noqa: RUF001
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",  # noqa: RUF001
    "ԁ": "d", "ɡ": "g", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v",  # noqa: RUF001
    "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",  # noqa: RUF001
}  # fmt: skip
# Leetspeak readings. "1" and "|" are read both as i and as l.
_LEET_I = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                         "9": "g", "@": "a", "$": "s", "!": "i", "|": "i"})  # fmt: skip
_LEET_L = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                         "9": "g", "@": "a", "$": "s", "!": "i", "|": "l"})  # fmt: skip

# A word token in folded text: letters and digits, with leetspeak symbols allowed between them.
_TOKEN = re.compile(r"[^\W_]+(?:[@$!|]+[^\W_]+)*")
_LETTERS = re.compile(r"[^\W\d_]+")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_TRIPLE = re.compile(r"(.)\1\1")
_CAMEL = regex.compile(r"\p{Lu}+(?=\p{Lu}\p{Ll})|\p{Lu}?\p{Ll}+|\p{Lu}+|\d+")
_HAS_UPPER = regex.compile(r"\p{Lu}")
_HAS_LOWER = regex.compile(r"\p{Ll}")
# Scripts written without spaces between words: their terms are matched as literal text.
_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
# A term that is a plain word or phrase: letters, digits, spaces, hyphens and apostrophes.
_WORDY = re.compile(r"[^\W_]+(?:[\s'\u2019-]+[^\W_]+)*")

COMPOUND_MIN = 4  # shortest term searched inside hashtags (shorter ones: gin in #ginger)
_MAX_FORMS_RUNS = 4  # elongated runs undone per token (2**4 readings at most)
_MAX_JOIN_TOKENS = 40
_MAX_HASHTAG = 64


class TermHit(NamedTuple):
    """``term`` of the list ``owner`` found at ``text[start:end]``."""

    owner: int
    term: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class TermGroup:
    """One list of terms to find, with the words and phrases that excuse a match."""

    owner: int
    terms: tuple[str, ...]
    allow: tuple[str, ...] = ()


class _Entry:
    """One term (or allowed phrase) under one key, shared by every list that has it: a topic
    used by twenty rules is looked up once, not twenty times."""

    __slots__ = ("allow", "owners", "rest", "term")

    def __init__(self, term: str, rest: tuple[frozenset[str], ...], allow: bool) -> None:
        self.owners: list[int] = []
        self.term = term
        # Acceptable forms of the following words of a phrase (empty for one word).
        self.rest = rest
        self.allow = allow


class _Token(NamedTuple):  # a tuple: built for every word of every draft, so it must be cheap
    text: str  # folded
    start: int  # offsets in the folded text
    end: int
    forms: tuple[str, ...]


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    out: list[str] = []
    for c in unicodedata.normalize("NFKD", ch.lower()):
        # Accents, and invisible characters slipped inside words ("be\u200ber").
        if unicodedata.category(c) in ("Mn", "Me", "Cf"):
            continue
        out.append(_CONFUSABLES.get(c, c))
    return "".join(out).lower()


def fold(text: str) -> tuple[str, list[int] | None]:
    """Lower case without accents or look-alikes, and for each folded character the index of
    the original character it came from (``None`` when the two line up one to one)."""
    if text.isascii():
        return text.lower(), None
    parts: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            parts.append(ch.lower())
            origin.append(i)
            continue
        folded = _fold_char(ch)
        parts.append(folded)
        origin.extend([i] * len(folded))
    return "".join(parts), origin


def fold_term(term: str) -> str:
    return fold(term)[0]


def inflections(word: str) -> frozenset[str]:
    """The forms of an English word the matcher accepts for it: plurals, -ed, -ing, -er, -y,
    -en (``drunken``), -ard (``drunkard``), comparatives, with the usual spelling changes."""
    w = word
    out = {w}
    if len(w) < 3 or not w.isalpha():
        out.update({w + "s", w + "es"})
        return frozenset(out)
    vowels = "aeiou"
    out.update({w + "s", w + "es"})
    if w.endswith("y") and w[-2] not in vowels:
        out.update({w[:-1] + "ies", w[:-1] + "ied", w[:-1] + "ier", w[:-1] + "iest"})
    if w.endswith("e"):
        stem = w[:-1]
        out.update({w + "d", w + "r", w + "rs", w + "st", stem + "ing", stem + "y"})
    else:
        out.update(w + suffix for suffix in _SUFFIXES)
        is_cvc = w[-1] not in vowels + "wxy" and w[-2] in vowels and w[-3] not in vowels
        if is_cvc and len(w) <= 4:
            doubled = w + w[-1]
            out.update({doubled + "ed", doubled + "ing", doubled + "er", doubled + "ers"})
    return frozenset(out)


_SUFFIXES = ("ed", "ing", "er", "ers", "est", "y", "en", "enness", "ard", "ards")


def _unelongate(word: str) -> set[str]:
    """Readings of a word with letters held: every run of three or more of the same letter is
    read as one or as two ("beeeer"), and a doubled first or last letter as one ("bbeer",
    "drunkk"). A doubled letter inside a word is left alone: "alle" is not "ale" held."""
    if not _TRIPLE.search(word) and not (
        len(word) > 2 and (word[0] == word[1] or word[-1] == word[-2])
    ):
        return {word}
    runs = [(ch, len(list(group))) for ch, group in itertools.groupby(word)]
    last = len(runs) - 1
    choices: list[tuple[int, ...]] = []
    for i, (_, n) in enumerate(runs):
        if n >= 3 or (n == 2 and i in (0, last) and last > 0):
            choices.append((1, 2))
        else:
            choices.append((n,))
    varying = [i for i, c in enumerate(choices) if len(c) > 1][:_MAX_FORMS_RUNS]
    readings: set[str] = set()
    for picked in itertools.product(*(choices[i] for i in varying)):
        counts = dict(zip(varying, picked, strict=True))
        readings.add(
            "".join(
                ch * counts.get(i, choices[i][-1] if len(choices[i]) == 1 else 2)
                for i, (ch, _) in enumerate(runs)
            )
        )
    return readings


@lru_cache(maxsize=131072)
def _forms(token: str) -> tuple[str, ...]:
    """Every way to read one folded token."""
    if token.isalpha():
        return tuple(sorted(_unelongate(token)))
    if not _HAS_LETTER.search(token):
        return ()  # a number is no word
    readings = {token.translate(_LEET_I), token.translate(_LEET_L)}
    # "4beer", "beer2day", "me@beer": the letters alone are words too.
    readings.update(seg for seg in _LETTERS.findall(token) if len(seg) > 1)
    out: set[str] = set()
    for r in readings:
        out |= _unelongate(r)
    return tuple(sorted(out))


def _join_links(tokens: Sequence[_Token], folded: str) -> list[bool] | None:
    """For each token, whether it may be read together with the one before it (``None`` when
    no two may). Punctuation joins (up to three characters, not # or @, which start hashtags
    and mentions); a space joins only two single letters; a line break never joins."""
    links = [False] * len(tokens)
    found = False
    for j in range(1, len(tokens)):
        before, after = tokens[j - 1], tokens[j]
        size = after.start - before.end
        if size < 1 or size > 3:
            continue
        gap = folded[before.end : after.start]
        if "\n" in gap or "#" in gap or "@" in gap:
            continue
        if any(c.isspace() for c in gap):
            links[j] = len(before.text) == 1 and len(after.text) == 1
        else:
            links[j] = True
        found = found or links[j]
    return links if found else None


class TermMatcher:
    """Many term lists compiled into one structure; see the module documentation."""

    def __init__(self, groups: Sequence[TermGroup]) -> None:
        self._words: dict[str, list[_Entry]] = {}
        self._compounds: dict[str, list[_Entry]] = {}
        # Every prefix of a compound key, so a scan inside a hashtag stops at the first letter
        # that leads nowhere.
        self._compound_prefixes: set[str] = set()
        self._literals: dict[str, list[_Entry]] = {}
        self._max_word = 0
        self._max_compound = 0
        for group in groups:
            for term in group.terms:
                self._add(group.owner, term, allow=False)
                folded = fold_term(term.strip())
                for innocent in INNOCENT.get(folded, ()):
                    self._add(group.owner, innocent, allow=True)
                for emoji in EMOJI_FOR.get(folded, ()):
                    self._add(group.owner, emoji, allow=False, reported_as=term)
            for phrase in group.allow:
                self._add(group.owner, phrase, allow=True)
        self._literal_re = self._compile_literals()

    # -- building -------------------------------------------------------------------------

    def _entry(
        self,
        bucket: dict[str, list[_Entry]],
        key: str,
        owner: int,
        *,
        term: str,
        rest: tuple[frozenset[str], ...],
        allow: bool,
    ) -> _Entry:
        entries = bucket.setdefault(key, [])
        entry = next(
            (e for e in entries if e.term == term and e.rest == rest and e.allow == allow), None
        )
        if entry is None:
            entry = _Entry(term, rest, allow)
            entries.append(entry)
        if owner not in entry.owners:
            entry.owners.append(owner)
        return entry

    def _add(self, owner: int, term: str, *, allow: bool, reported_as: str | None = None) -> None:
        raw = unicodedata.normalize("NFC", term.strip()).replace("\ufe0f", "")
        term = reported_as or term
        if not raw:
            return
        folded = fold_term(raw)
        if not _WORDY.fullmatch(folded) or _UNSPACED.search(folded):
            self._entry(self._literals, folded, owner, term=term, rest=(), allow=allow)
            return
        words = _TOKEN.findall(folded)
        if not words:
            return
        if len(words) == 1:
            for form in inflections(words[0]):
                self._entry(self._words, form, owner, term=term, rest=(), allow=allow)
                self._max_word = max(self._max_word, len(form))
                if len(form) >= COMPOUND_MIN:
                    self._entry(self._compounds, form, owner, term=term, rest=(), allow=allow)
                    self._compound_prefixes.update(form[:k] for k in range(1, len(form)))
                    self._max_compound = max(self._max_compound, len(form))
            return
        # A phrase: earlier words exactly, the last one inflected ("happy hours").
        rest = (*(frozenset({w}) for w in words[1:-1]), inflections(words[-1]))
        self._entry(self._words, words[0], owner, term=term, rest=rest, allow=allow)

    def _compile_literals(self) -> re.Pattern[str] | None:
        if not self._literals:
            return None
        alternatives = []
        for literal in sorted(self._literals, key=len, reverse=True):
            piece = re.escape(literal)
            if _UNSPACED.search(literal):
                alternatives.append(piece)  # no word edges in these scripts
                continue
            # "#ad" must not be satisfied by "#adventure": guard word edges.
            if _HAS_LETTER.match(literal[0]) or literal[0].isdigit():
                piece = r"(?<![^\W_])" + piece
            if _HAS_LETTER.match(literal[-1]) or literal[-1].isdigit():
                piece += r"(?![^\W_])"
            alternatives.append(piece)
        return re.compile("|".join(alternatives))

    # -- matching -------------------------------------------------------------------------

    def find(self, text: str) -> list[TermHit]:
        """Every term found in ``text``, in order, after the allowed words were taken out."""
        folded, origin = fold(text)
        hits: list[tuple[_Entry, int, int]] = []  # folded offsets

        tokens: list[_Token] = []
        for m in _TOKEN.finditer(folded):
            word = m.group()
            start, end = m.span()
            tokens.append(_Token(word, start, end, _forms(word)))
        if "@" in text:
            tokens = self._drop_mentions(tokens, text, origin)
        self._match_sequence(tokens, hits)
        self._match_joined(tokens, folded, hits)
        self._match_hashtags(tokens, text, folded, origin, hits)
        if self._literal_re is not None:
            self._match_literals(folded, hits)
        return self._resolve(hits, origin, len(text))

    def _drop_mentions(
        self, tokens: list[_Token], text: str, origin: list[int] | None
    ) -> list[_Token]:
        spans = [m.span() for m in MENTION.finditer(text)]
        if not spans:
            return tokens
        # Both lists are in text order: walk them together.
        kept = []
        index = 0
        for tok in tokens:
            start = origin[tok.start] if origin is not None else tok.start
            while index < len(spans) and spans[index][1] <= start:
                index += 1
            if index < len(spans) and spans[index][0] <= start:
                continue
            kept.append(tok)
        return kept

    def _match_sequence(
        self, tokens: Sequence[_Token], hits: list[tuple[_Entry, int, int]]
    ) -> None:
        words = self._words
        for i, tok in enumerate(tokens):
            for form in tok.forms:
                entries = words.get(form)
                if not entries:
                    continue
                for entry in entries:
                    if not entry.rest:
                        hits.append((entry, tok.start, tok.end))
                        continue
                    last = i + len(entry.rest)
                    if last >= len(tokens):
                        continue
                    if all(
                        any(f in expected for f in tokens[i + 1 + k].forms)
                        for k, expected in enumerate(entry.rest)
                    ):
                        hits.append((entry, tok.start, tokens[last].end))

    def _match_joined(
        self, tokens: Sequence[_Token], folded: str, hits: list[tuple[_Entry, int, int]]
    ) -> None:
        """Words broken up by separators: "b.e.e.r", "b e e r", "be-er"."""
        links = _join_links(tokens, folded)
        if links is None:
            return
        count = len(tokens)
        limit = 2 * self._max_word + 2
        words = self._words
        for i in range(count - 1):
            if not links[i + 1]:
                continue
            joined = tokens[i].text
            for j in range(i + 1, min(count, i + _MAX_JOIN_TOKENS)):
                if not links[j]:
                    break
                joined += tokens[j].text
                if len(joined) > limit:
                    break
                for form in _forms(joined):
                    for entry in words.get(form, ()):
                        if not entry.rest:
                            hits.append((entry, tokens[i].start, tokens[j].end))

    def _match_hashtags(
        self,
        tokens: Sequence[_Token],
        text: str,
        folded: str,
        origin: list[int] | None,
        hits: list[tuple[_Entry, int, int]],
    ) -> None:
        if "#" not in folded:
            return
        for tok in tokens:
            if tok.start == 0 or folded[tok.start - 1] != "#":
                continue
            start = tok.start - 1
            self._match_camel(tok, text, origin, start, hits)
            if self._max_compound:
                for form in tok.forms:
                    self._match_compound(form[:_MAX_HASHTAG], start, tok.end, hits)

    def _match_camel(
        self,
        tok: _Token,
        text: str,
        origin: list[int] | None,
        start: int,
        hits: list[tuple[_Entry, int, int]],
    ) -> None:
        o_start = origin[tok.start] if origin is not None else tok.start
        o_end = origin[tok.end - 1] + 1 if origin is not None else tok.end
        original = text[o_start:o_end]
        if not (_HAS_UPPER.search(original) and _HAS_LOWER.search(original)):
            return
        parts = [fold(m.group())[0] for m in _CAMEL.finditer(original)]
        if len(parts) < 2:
            return
        sub = [_Token(p, start, tok.end, _forms(p)) for p in parts]
        found: list[tuple[_Entry, int, int]] = []
        self._match_sequence(sub, found)
        hits.extend((entry, start, tok.end) for entry, _, _ in found)

    def _match_compound(
        self, body: str, start: int, end: int, hits: list[tuple[_Entry, int, int]]
    ) -> None:
        size = len(body)
        found: list[tuple[_Entry, int, int]] = []
        excused: dict[int, list[tuple[int, int]]] = {}
        prefixes = self._compound_prefixes
        for i in range(size):
            for j in range(i + 1, min(size, i + self._max_compound) + 1):
                piece = body[i:j]
                entries = self._compounds.get(piece) if j - i >= COMPOUND_MIN else None
                if not entries:
                    if piece not in prefixes:
                        break
                    continue
                for entry in entries:
                    if entry.allow:
                        for owner in entry.owners:
                            excused.setdefault(owner, []).append((i, j))
                    elif (
                        (i == 0 and size - j >= 2)
                        or (j == size and i >= 2)
                        or (i >= 3 and size - j >= 3)
                    ):
                        found.append((entry, i, j))
        for entry, i, j in found:
            owners = [
                o for o in entry.owners if not any(a <= i and j <= b for a, b in excused.get(o, ()))
            ]
            if len(owners) == len(entry.owners):
                hits.append((entry, start, end))
            elif owners:
                partial = _Entry(entry.term, entry.rest, entry.allow)
                partial.owners = owners
                hits.append((partial, start, end))

    def _match_literals(self, folded: str, hits: list[tuple[_Entry, int, int]]) -> None:
        assert self._literal_re is not None
        for m in self._literal_re.finditer(folded):
            for entry in self._literals.get(m.group(), ()):
                hits.append((entry, m.start(), m.end()))

    @staticmethod
    def _resolve(
        hits: Iterable[tuple[_Entry, int, int]], origin: list[int] | None, length: int
    ) -> list[TermHit]:
        def to_original(start: int, end: int) -> tuple[int, int]:
            if origin is None:
                return start, end
            return origin[start], origin[end - 1] + 1

        allowed: dict[int, list[tuple[int, int]]] = {}
        found: list[TermHit] = []
        seen: set[tuple[int, int, int]] = set()
        for entry, s, e in hits:
            o_start, o_end = to_original(s, e)
            o_end = min(o_end, length)
            if entry.allow:
                for owner in entry.owners:
                    allowed.setdefault(owner, []).append((o_start, o_end))
                continue
            # One hit per list and span: 🍺 stands for beer, booze and drunk alike.
            for owner in entry.owners:
                key = (owner, o_start, o_end)
                if key in seen:
                    continue
                seen.add(key)
                found.append(TermHit(owner, entry.term, o_start, o_end))
        by_owner: dict[int, list[TermHit]] = {}
        for hit in found:
            by_owner.setdefault(hit.owner, []).append(hit)
        result: list[TermHit] = []
        for owner, owned in by_owner.items():
            excused = allowed.get(owner, ())
            for hit in owned:
                if any(a < hit.end and hit.start < b for a, b in excused):
                    continue
                # "beer" inside "beer's", "d r u n k" inside "d r u n k e n": keep the longer.
                if len(owned) > 1 and any(
                    other.start <= hit.start
                    and hit.end <= other.end
                    and (other.end - other.start) > (hit.end - hit.start)
                    for other in owned
                ):
                    continue
                result.append(hit)
        result.sort(key=lambda h: (h.start, h.end, h.owner, h.term))
        return result
