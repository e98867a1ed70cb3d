"""BERT WordPiece tokenisation in plain Python, for the promise filter's token table.

The promise filter scores a clause by the WordPiece tokens of all-MiniLM-L6-v2's vocabulary
(uncased BERT). The ``tokenizers`` package that normally does this belongs to the optional
accurate triage tier, and extraction runs on every message a brand composes, so this module
reproduces its ``BertNormalizer`` (clean text, CJK spacing, lower case, accents stripped),
``BertPreTokenizer`` (whitespace and punctuation) and greedy longest-match WordPiece with no
dependency. The tests check it gives the same ids as ``tokenizers`` on the annotated replies.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

UNKNOWN = "[UNK]"
CONTINUATION = "##"
MAX_WORD_CHARS = 100
# Unicode categories BERT treats as control characters and removes.
_CONTROL = frozenset({"Cc", "Cf", "Cn", "Co"})


def _is_punctuation(char: str) -> bool:
    """ASCII symbols count as punctuation too (BERT splits "$" and "^" off a word)."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def normalise(text: str) -> str:
    """BERT's uncased normalisation: drop control characters, make all whitespace a space,
    space out CJK ideographs, lower-case and strip accents."""
    kept: list[str] = []
    for char in text:
        code = ord(char)
        if code in (0, 0xFFFD):
            continue
        category = unicodedata.category(char)
        if char in "\t\n\r" or category == "Zs":
            kept.append(" ")
        elif category in _CONTROL:
            continue
        elif _is_cjk(code):
            kept.append(f" {char} ")
        else:
            kept.append(char)
    lowered = unicodedata.normalize("NFD", "".join(kept).lower())
    return "".join(char for char in lowered if unicodedata.category(char) != "Mn")


def words(text: str) -> list[str]:
    """Normalised words, each punctuation character a word of its own."""
    found: list[str] = []
    for chunk in normalise(text).split():
        current: list[str] = []
        for char in chunk:
            if _is_punctuation(char):
                if current:
                    found.append("".join(current))
                    current = []
                found.append(char)
            else:
                current.append(char)
        if current:
            found.append("".join(current))
    return found


def token_ids(text: str, vocabulary: Mapping[str, int]) -> list[int]:
    """WordPiece ids of ``text`` (no [CLS]/[SEP]): the longest known prefix first, then the
    longest known ``##`` continuation; a word that cannot be covered is one [UNK]."""
    unknown = vocabulary[UNKNOWN]
    ids: list[int] = []
    for word in words(text):
        if len(word) > MAX_WORD_CHARS:
            ids.append(unknown)
            continue
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            piece: int | None = None
            while start < end:
                candidate = word[start:end] if start == 0 else CONTINUATION + word[start:end]
                piece = vocabulary.get(candidate)
                if piece is not None:
                    break
                end -= 1
            if piece is None:
                pieces = [unknown]
                break
            pieces.append(piece)
            start = end
        ids.extend(pieces)
    return ids
