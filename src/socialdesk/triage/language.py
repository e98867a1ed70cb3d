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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

UNDETERMINED = "und"

# Function words that are frequent in English and rare as words of other Latin-script languages
# ("a", "no", "me", "on", "an", "so", "die" are left out on purpose: they are words elsewhere too).
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
        "i",
        "we",
        "our",
        "but",
        "if",
        "at",
        "or",
        "all",
        "get",
        "got",
        "did",
        "does",
        "he",
        "she",
        "his",
        "him",
        "their",
        "them",
        "there",
        "here",
        "about",
        "out",
        "up",
        "who",
        "which",
        "very",
        "now",
        "today",
        "please",
        "thanks",
        "thank",
        "can",
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


def _prefilter(text: str) -> tuple[Language | None, str]:
    """A decision without the model when one is plain, else the text the model should see."""
    cleaned = _NOISE.sub(" ", text)
    words = [w.lower() for w in _LETTERS.findall(cleaned)]
    letters = sum(len(w) for w in words)
    if letters < 3:
        return Language(UNDETERMINED, 0.0, "too-short"), cleaned
    if cleaned.isascii():
        english = sum(1 for w in words if w in _ENGLISH)
        distinct = len({w for w in words if w in _ENGLISH})
        if distinct >= 2 and english >= 0.15 * len(words):
            # A rule, not a probability: the method field tells the UI so.
            return Language("en", 1.0, "function-words"), cleaned
    return None, cleaned


def detect(text: str) -> Language:
    """The language of a normalised message."""
    decided, cleaned = _prefilter(text)
    if decided is not None:
        return decided
    code, confidence = _langid().classify(cleaned)
    return Language(str(code), round(float(confidence), 3), "py3langid")


def detect_batch(texts: Sequence[str]) -> list[Language]:
    """``detect`` for many texts; the model runs once over all that need it."""
    results: list[Language | None] = []
    pending: list[int] = []
    cleaned_texts: list[str] = []
    for text in texts:
        decided, cleaned = _prefilter(text)
        results.append(decided)
        if decided is None:
            pending.append(len(results) - 1)
            cleaned_texts.append(cleaned)
    if len(pending) < _BATCH_FROM:
        for index, cleaned in zip(pending, cleaned_texts, strict=True):
            code, confidence = _langid().classify(cleaned)
            results[index] = Language(str(code), round(float(confidence), 3), "py3langid")
    else:
        for index, (code, confidence) in zip(pending, _classify_many(cleaned_texts), strict=True):
            results[index] = Language(code, round(confidence, 3), "py3langid")
    return [r for r in results if r is not None]


# Below this many texts the library's own per-text loop is faster than the batched walk.
_BATCH_FROM = 24


_model_arrays: tuple[npt.NDArray[Any], ...] | None = None


def _arrays() -> tuple[npt.NDArray[Any], ...]:
    """The model's tables as numpy arrays, converted once."""
    global _model_arrays  # noqa: PLW0603 - converted once per process, on first use
    if _model_arrays is None:
        model = _langid()
        _model_arrays = (
            np.asarray(model.tk_nextmove, dtype=np.int64),
            np.asarray(model.tk_row, dtype=np.int64) << 8,
            np.asarray(model.tk_output, dtype=np.int64),
            np.asarray(model.nb_ptc, dtype=np.float32),
            np.asarray(model.nb_pc, dtype=np.float32),
        )
    return _model_arrays


def _classify_many(texts: Sequence[str]) -> list[tuple[str, float]]:
    """py3langid's classification for many texts at once, with the same result per text.

    py3langid walks each text's bytes through a DFA in a Python loop. Here every text of the
    batch advances one byte per numpy step, so the Python loop runs once per byte position
    instead of once per byte of every text; the naive Bayes scoring is then one sparse product.
    """
    model = _langid()
    # The library's own text-to-bytes step (upper-case folding, NFC), so both paths agree.
    raw = [model._encode(text) for text in texts]
    # Longest first: the texts still being walked at any position are then a prefix.
    order = sorted(range(len(raw)), key=lambda i: -len(raw[i]))
    encoded = [raw[i] for i in order]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    width = int(lengths[0]) if encoded else 0
    data = np.zeros((len(encoded), width), dtype=np.int64)
    for row, chunk in enumerate(encoded):
        data[row, : len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
    next_move, row_base, output, table, prior = _arrays()
    state = np.zeros(len(encoded), dtype=np.int64)
    active_counts = np.searchsorted(-lengths, -np.arange(width), side="left")
    rows: list[npt.NDArray[np.int64]] = []
    features: list[npt.NDArray[np.int64]] = []
    for position in range(width):
        active = int(active_counts[position])
        current = next_move[row_base[state[:active]] + data[:active, position]]
        state[:active] = current
        emitted = output[current]
        hit = np.nonzero(emitted >= 0)[0]
        rows.append(hit)
        features.append(emitted[hit])
    all_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    all_features = np.concatenate(features) if features else np.zeros(0, dtype=np.int64)
    keys, counts = np.unique((all_rows << 32) | all_features, return_counts=True)
    key_rows, key_features = keys >> 32, keys & 0xFFFFFFFF
    contributions = np.log1p(counts.astype(np.float32))[:, None] * table[key_features]
    scores = np.zeros((len(encoded), table.shape[1]), dtype=np.float32)
    if len(keys):
        starts = np.flatnonzero(np.r_[True, key_rows[1:] != key_rows[:-1]])
        scores[key_rows[starts]] = np.add.reduceat(contributions, starts, axis=0)
    scores += prior
    # Texts with no feature get flat scores, as in the library with normalised probabilities.
    scores[np.bincount(key_rows, minlength=len(encoded)) == 0] = 0.0
    scores *= (1.0 / np.sqrt(np.maximum(lengths, 1)))[:, None]
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    unsorted = np.empty_like(scores)
    unsorted[np.asarray(order, dtype=np.int64)] = scores
    scores = unsorted
    classes = list(model.nb_classes)
    first: dict[str, int] = {}
    for column, label in enumerate(classes):
        if label in first:  # script aliases share one label: fold the score into the first
            scores[:, first[label]] += scores[:, column]
            scores[:, column] = 0.0
        else:
            first[label] = column
    best = scores.argmax(axis=1)
    return [(classes[int(b)], float(scores[i, int(b)])) for i, b in enumerate(best)]
