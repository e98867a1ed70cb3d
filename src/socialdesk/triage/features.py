"""Sparse n-gram features: word 1-2 grams and in-word character 2-5 grams, TF-IDF weighted.

Training and classification share this one implementation, so what ships is exactly what was
measured. It is pure Python plus numpy (no scikit-learn at run time) and is written for
throughput: a batch is turned into one flat index array, then weighted, normalised and scored
with a handful of vectorised numpy calls instead of one call per message.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

_WORD = re.compile(r"[#@]?\w+(?:['\u2019]\w+)*|[!?]+|[^\w\s]", re.UNICODE)
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)


def word_tokens(text: str) -> list[str]:
    """Lower-cased word tokens; runs of ``!``/``?`` and single symbols (emoji) are kept."""
    return _WORD.findall(text.lower())


def _word_grams(tokens: Sequence[str]) -> list[str]:
    grams = list(tokens)
    grams.extend(f"{a} {b}" for a, b in pairwise(tokens))
    return grams


_PRIME = np.uint64(1_000_003)
_MASK32 = np.uint64(0xFFFFFFFF)
_SLOTS = 1 << 21


def char_gram_hashes(texts: Sequence[Sequence[str]]) -> tuple[IntArray, npt.NDArray[np.uint32]]:
    """Row numbers and 32-bit hashes of every in-word character 2-5 gram of tokenised texts.

    The whole batch is laid out as one code-point array, words padded by spaces and texts
    separated by NUL; a polynomial rolling hash is then computed for every window with a few
    numpy passes. Windows that straddle two words (they contain two spaces in a row) or two
    texts (they contain NUL) are dropped. This replaces hundreds of Python string slices per
    message, which dominated the cost of the default tier.
    """
    pieces = ["\x00 " + "  ".join(tokens) + " " for tokens in texts]
    joined = "".join(pieces) + "\x00"
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    size = len(codes)
    double_space = np.zeros(size + 1, dtype=np.int64)
    double_space[2:] = np.cumsum((codes[:-1] == 32) & (codes[1:] == 32))
    nul = np.zeros(size + 1, dtype=np.int64)
    nul[1:] = np.cumsum(codes == 0)
    rows: list[IntArray] = []
    hashes: list[npt.NDArray[np.uint32]] = []
    rolling = codes.copy()
    lo, hi = CHAR_NGRAMS
    for n in range(2, hi + 1):
        windows = size - n + 1
        rolling = (rolling[:windows] * _PRIME + codes[n - 1 :]) & _MASK32
        if n < lo:
            continue
        position = np.arange(windows)
        # A window [i, i+n) is valid if it holds no NUL and no pair of adjacent spaces.
        valid = (nul[position + n] - nul[position] == 0) & (
            double_space[position + n] - double_space[position + 1] == 0
        )
        keep = position[valid]
        mixed = (rolling[keep] * np.uint64(2_654_435_761) + np.uint64(n)) & _MASK32
        hashes.append(mixed.astype(np.uint32))
        rows.append(np.searchsorted(starts, keep, side="right") - 1)
    if not hashes:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint32)
    return np.concatenate(rows), np.concatenate(hashes)


def extract(text: str) -> tuple[list[str], list[str]]:
    """The word grams and the tokens of one normalised text."""
    tokens = word_tokens(text)
    return _word_grams(tokens), tokens


@dataclass(frozen=True)
class SparseBatch:
    """A batch in CSR form: ``values[indptr[i]:indptr[i+1]]`` at ``indices[...]`` for row i."""

    indptr: IntArray
    indices: IntArray
    values: FloatArray
    width: int

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1

    def row_of(self) -> IntArray:
        """The row number of every stored entry."""
        row_numbers: IntArray = np.repeat(np.arange(self.rows), np.diff(self.indptr))
        return row_numbers


class NgramVectorizer:
    """Maps texts to L2-normalised sublinear TF-IDF vectors over a fixed vocabulary.

    Word grams are looked up by text; character grams by their 32-bit hash (``char_hashes`` is
    sorted, so a lookup is one ``searchsorted``). The word block and the character block are
    normalised separately, so long character runs cannot drown the words.
    """

    def __init__(
        self, *, words: dict[str, int], char_hashes: npt.NDArray[np.uint32], idf: FloatArray
    ) -> None:
        if len(words) + len(char_hashes) != len(idf):
            raise ValueError(
                f"{len(words)} words and {len(char_hashes)} character grams need as many idf "
                f"weights, got {len(idf)}"
            )
        if len(char_hashes) > 1 and not bool(np.all(np.diff(char_hashes.astype(np.int64)) > 0)):
            raise ValueError("char_hashes must be sorted and unique")
        self.words = words
        self.char_hashes = char_hashes.astype(np.uint32)
        self.idf = idf.astype(np.float32)
        self._table: IntArray | None = None

    @property
    def width(self) -> int:
        return len(self.idf)

    @property
    def word_size(self) -> int:
        return len(self.words)

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        *,
        min_df_words: int = 2,
        min_df_chars: int = 3,
        max_words: int = 60_000,
        max_chars: int = 80_000,
    ) -> NgramVectorizer:
        """Choose the vocabulary (most frequent grams above ``min_df``) and the idf weights."""
        if not texts:
            raise ValueError("cannot fit a vectorizer on no texts")
        docs = len(texts)
        word_df: Counter[str] = Counter()
        token_lists: list[list[str]] = []
        for text in texts:
            grams, tokens = extract(text)
            word_df.update(set(grams))
            token_lists.append(tokens)
        kept_words = [(g, n) for g, n in word_df.items() if n >= min_df_words]
        # Most frequent first, ties by text, so the same data always gives the same vocabulary.
        kept_words.sort(key=lambda item: (-item[1], item[0]))
        kept_words = kept_words[:max_words]

        per_chunk: list[npt.NDArray[np.uint64]] = []
        for offset in range(0, docs, 4096):
            rows, hashes = char_gram_hashes(token_lists[offset : offset + 4096])
            # One entry per (document, gram): the document frequency counts each text once.
            per_doc = np.unique((rows.astype(np.uint64) << np.uint64(32)) | hashes)
            per_chunk.append(per_doc & _MASK32)
        unique, counts = np.unique(np.concatenate(per_chunk), return_counts=True)
        char_df = dict(zip(unique.tolist(), counts.tolist(), strict=True))
        kept_chars = [(h, n) for h, n in char_df.items() if n >= min_df_chars]
        kept_chars.sort(key=lambda item: (-item[1], item[0]))
        kept_chars = sorted(kept_chars[:max_chars])

        def idf_of(df: int) -> float:
            return math.log((1 + docs) / (1 + df)) + 1.0

        idf = [idf_of(n) for _, n in kept_words] + [idf_of(n) for _, n in kept_chars]
        return cls(
            words={gram: i for i, (gram, _) in enumerate(kept_words)},
            char_hashes=np.asarray([h for h, _ in kept_chars], dtype=np.uint32),
            idf=np.asarray(idf, dtype=np.float32),
        )

    def transform(self, texts: Sequence[str]) -> SparseBatch:
        vocab = self.words
        get = vocab.get
        word_rows: list[int] = []
        word_indices: list[int] = []
        token_lists: list[list[str]] = []
        for row, text in enumerate(texts):
            tokens = word_tokens(text)
            token_lists.append(tokens)
            # Repeated grams are appended twice here and counted by the np.unique below.
            for gram in tokens:
                index = get(gram)
                if index is not None:
                    word_rows.append(row)
                    word_indices.append(index)
            for first, second in pairwise(tokens):
                index = get(f"{first} {second}")
                if index is not None:
                    word_rows.append(row)
                    word_indices.append(index)
        char_rows, char_indices = self._char_features(token_lists)
        keys = np.concatenate(
            [
                (np.asarray(word_rows, dtype=np.int64) << 32)
                | np.asarray(word_indices, dtype=np.int64),
                (char_rows << 32) | char_indices,
            ]
        )
        # Sorted unique (row, feature) keys with their counts: CSR order and term counts at once.
        keys, counts = np.unique(keys, return_counts=True)
        rows = keys >> 32
        indices = keys & 0xFFFFFFFF
        values = ((1.0 + np.log(counts)) * self.idf[indices]).astype(np.float32)
        # Separate L2 norms for the word block and the character block of every row.
        block = rows * 2 + (indices >= self.word_size)
        norms = np.sqrt(np.bincount(block, weights=values.astype(np.float64) ** 2))
        norms[norms == 0] = 1.0
        values = (values / norms[block]).astype(np.float32)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(texts)), out=indptr[1:])
        return SparseBatch(indptr=indptr, indices=indices, values=values, width=self.width)

    def _slots(self) -> IntArray:
        # A direct-address table from the low bits of a hash to its feature (or -1): two array
        # lookups per gram instead of a binary search. Hashes that share low bits keep the
        # last one; training goes through the same table, so what is learned is what is used.
        if self._table is None:
            table = np.full(_SLOTS, -1, dtype=np.int64)
            table[self.char_hashes.astype(np.int64) & (_SLOTS - 1)] = np.arange(
                len(self.char_hashes)
            )
            self._table = table
        return self._table

    def _char_features(self, token_lists: Sequence[Sequence[str]]) -> tuple[IntArray, IntArray]:
        empty = np.zeros(0, dtype=np.int64)
        if not len(self.char_hashes) or not token_lists:
            return empty, empty
        rows, hashes = char_gram_hashes(token_lists)
        candidates = self._slots()[hashes.astype(np.int64) & (_SLOTS - 1)]
        known = candidates >= 0
        rows, hashes, candidates = rows[known], hashes[known], candidates[known]
        exact = self.char_hashes[candidates] == hashes
        return rows[exact], candidates[exact] + self.word_size


def sparse_dot(batch: SparseBatch, weights: FloatArray) -> FloatArray:
    """``batch @ weights`` for a (features x outputs) weight matrix, without SciPy.

    One gather and one ``bincount`` per output column: both run in C over the flat entries of
    the whole batch, which is what keeps the default tier fast.
    """
    outputs = weights.shape[1]
    result = np.zeros((batch.rows, outputs), dtype=np.float32)
    if len(batch.indices) == 0:
        return result
    row_of = batch.row_of()
    columns = np.asarray(weights.T, order="C")
    for column in range(outputs):
        result[:, column] = np.bincount(
            row_of, weights=columns[column][batch.indices] * batch.values, minlength=batch.rows
        )
    return result


class WordVectors:
    """Static word vectors: a message's vector is the TF-IDF-weighted sum of its words' vectors.

    The vectors are all-MiniLM-L6-v2's embedding of each vocabulary word on its own, reduced to a
    few principal components at training time. They give the default tier some of the sentence
    model's knowledge of word meaning (a word seen rarely in training still lands near its
    synonyms) for the cost of one gather per word, with no model to run.
    """

    def __init__(self, *, features: IntArray, table: FloatArray, word_size: int) -> None:
        if len(features) != len(table):
            raise ValueError(
                f"{len(features)} word features need as many vectors, got {len(table)}"
            )
        if len(features) and (int(features.min()) < 0 or int(features.max()) >= word_size):
            raise ValueError(f"word vector features must index the {word_size} word features")
        self.features = features.astype(np.int64)
        self.table = table.astype(np.float32)
        # Feature index -> row of ``table`` (or -1): one array lookup per word of a batch.
        self._slot = np.full(word_size, -1, dtype=np.int64)
        self._slot[self.features] = np.arange(len(self.features))

    @property
    def dimension(self) -> int:
        return int(self.table.shape[1])

    def embed(self, batch: SparseBatch) -> FloatArray:
        """One L2-normalised vector per row; rows with no known word are zero."""
        result = np.zeros((batch.rows, self.dimension), dtype=np.float32)
        words = batch.indices < len(self._slot)
        slots = np.full(len(batch.indices), -1, dtype=np.int64)
        slots[words] = self._slot[batch.indices[words]]
        known = np.nonzero(slots >= 0)[0]
        if not len(known):
            return result
        contributions = self.table[slots[known]] * batch.values[known, None]
        # Entries are in row order (CSR), so each row's words form one contiguous run.
        rows = batch.row_of()[known]
        starts = np.concatenate([[0], np.nonzero(np.diff(rows))[0] + 1])
        result[rows[starts]] = np.add.reduceat(contributions, starts, axis=0)
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        normalised: FloatArray = (result / norms).astype(np.float32)
        return normalised
