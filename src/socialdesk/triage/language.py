"""Language of a message, offline, with py3langid (BSD-3-Clause, 4.5 MB, 97 languages).

py3langid was chosen over lingua: it is a few MB instead of a few hundred, needs only numpy,
and is accurate enough to route a message to someone who reads its language. Its cost (about
0.3 ms a message) would be most of the default tier's budget, so plainly English text is
recognised first by its function words, a check that costs a few microseconds; everything
else goes to py3langid.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

UNDETERMINED = "und"

# Function words that are frequent in English and rare as words of other Latin-script languages
# ("a", "no", "me", "come" are left out on purpose).
_ENGLISH = frozenset(
    (
        "the",
        "and",
        "you",
        "your",
        "is",
        "are",
        "was",
        "were",
        "have",
        "has",
        "had",
        "not",
        "this",
        "that",
        "with",
        "for",
        "from",
        "what",
        "why",
        "how",
        "when",
        "where",
        "my",
        "it",
        "of",
        "to",
        "be",
        "been",
        "will",
        "would",
        "could",
        "should",
        "just",
        "they",
    )
)
_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)
_NOISE = re.compile(r"@user|\bhttp\b|#\w+")


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1 where py3langid knows one, "und" when the text has too few letters
    confidence: float
    method: str  # "function-words", "py3langid" or "too-short"


_identifier: Any = None
_lock = threading.Lock()


def _langid() -> Any:
    global _identifier  # noqa: PLW0603 - the model is loaded once per process, on first use
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]  # ships no type information

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def detect(text: str) -> Language:
    """The language of a normalised message."""
    cleaned = _NOISE.sub(" ", text)
    words = [w.lower() for w in _LETTERS.findall(cleaned)]
    letters = sum(len(w) for w in words)
    if letters < 3:
        return Language(UNDETERMINED, 0.0, "too-short")
    if cleaned.isascii():
        english = sum(1 for w in words if w in _ENGLISH)
        distinct = len({w for w in words if w in _ENGLISH})
        if distinct >= 2 and english >= 0.2 * len(words):
            # A rule, not a probability: the method field tells the UI so.
            return Language("en", 1.0, "function-words")
    code, confidence = _langid().classify(cleaned)
    return Language(str(code), round(float(confidence), 3), "py3langid")
