"""A small learned check on the rules' promises: does this clause, in this message, read like one?

The rules in ``extract.py`` were tuned on the development annotations and reach about 0.97
precision there, but fewer of their detections hold on replies they were not tuned on: the
wording that makes a clause an offer, a generic announcement or a step that waits on the
customer varies more than rules can list. This filter adds evidence that generalises over
wording: a logistic regression over the mean of static token vectors of the clause and of the
whole message. The vectors are all-MiniLM-L6-v2's outputs for each WordPiece token on its own
(mean-pooled, as the sentence encoder pools), so words never seen in the annotations still land
near words that were. Because the score is linear in a mean of token vectors, it is folded into
one weight per token for the clause and one for the message at training time, and scoring is a
tokenisation plus two table look-ups: no model and no extra package at run time, deterministic,
well under a millisecond a message.

Training and the choice of the keep threshold are in ``filter_training.py``
(``socialdesk commitments train``); the shipped weights are ``promise_filter.npz``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from socialdesk.commitments.wordpiece import token_ids

FloatArray = npt.NDArray[np.float32]

ARTIFACT = Path(__file__).parent / "promise_filter.npz"


class PromiseFilterUnavailable(RuntimeError):
    """The shipped weights are missing or unreadable (a broken install)."""


@dataclass(frozen=True, eq=False)
class PromiseFilter:
    """Per-token weights of the clause and of the message, a bias, and the keep threshold.

    ``probability`` is ``sigmoid(bias + mean(clause_weights[clause tokens]) +
    mean(message_weights[message tokens]))``; a detection is kept when it reaches
    ``threshold``. ``metadata`` records how the weights were made (data, settings, figures).
    """

    vocabulary: Mapping[str, int]
    clause_weights: FloatArray
    message_weights: FloatArray
    bias: float
    threshold: float
    metadata: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        size = len(self.vocabulary)
        if self.clause_weights.shape != (size,) or self.message_weights.shape != (size,):
            raise ValueError(
                f"weights must have one entry per token ({size}), got "
                f"{self.clause_weights.shape} and {self.message_weights.shape}"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be a probability, got {self.threshold}")

    def tokens(self, text: str) -> list[int]:
        return token_ids(text, self.vocabulary)

    def message_score(self, message: str) -> float:
        """The message's share of the score; computed once per message, shared by its clauses."""
        return _mean(self.message_weights, self.tokens(message))

    def probability(self, clause: str, message_score: float) -> float:
        logit = self.bias + _mean(self.clause_weights, self.tokens(clause)) + message_score
        if logit >= 0:
            return 1.0 / (1.0 + math.exp(-logit))
        exp = math.exp(logit)
        return exp / (1.0 + exp)

    def keeps(self, clause: str, message_score: float) -> bool:
        return self.probability(clause, message_score) >= self.threshold


def _mean(weights: FloatArray, ids: Sequence[int]) -> float:
    # A message of nothing but emoji has no tokens: its share is neutral.
    return float(weights[ids].mean()) if ids else 0.0


def save(promise_filter: PromiseFilter, path: Path) -> None:
    """Write the filter as an ``.npz`` of plain arrays (loaded without pickle)."""
    ordered = sorted(promise_filter.vocabulary.items(), key=lambda item: item[1])
    if [index for _, index in ordered] != list(range(len(ordered))):
        raise ValueError("vocabulary ids must run from 0 without gaps")
    tokens = "\n".join(token for token, _ in ordered).encode("utf-8")
    meta = json.dumps(dict(promise_filter.metadata), sort_keys=True).encode("utf-8")
    with path.open("wb") as handle:
        np.savez_compressed(
            handle,
            vocabulary=np.frombuffer(tokens, dtype=np.uint8),
            clause_weights=promise_filter.clause_weights.astype(np.float32),
            message_weights=promise_filter.message_weights.astype(np.float32),
            bias=np.array([promise_filter.bias], dtype=np.float64),
            threshold=np.array([promise_filter.threshold], dtype=np.float64),
            metadata=np.frombuffer(meta, dtype=np.uint8),
        )


def load(path: Path) -> PromiseFilter:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            tokens = arrays["vocabulary"].tobytes().decode("utf-8").split("\n")
            metadata = json.loads(arrays["metadata"].tobytes().decode("utf-8"))
            return PromiseFilter(
                vocabulary={token: index for index, token in enumerate(tokens)},
                clause_weights=arrays["clause_weights"].astype(np.float32),
                message_weights=arrays["message_weights"].astype(np.float32),
                bias=float(arrays["bias"][0]),
                threshold=float(arrays["threshold"][0]),
                metadata=metadata,
            )
    except (OSError, KeyError, ValueError) as error:
        raise PromiseFilterUnavailable(
            f"cannot read the promise filter at {path} ({error}); reinstall socialdesk or "
            "rebuild it with `socialdesk commitments train`"
        ) from error


@cache
def default_filter() -> PromiseFilter:
    """The shipped filter, read once per process."""
    return load(ARTIFACT)
