"""Linear classification heads and the artifact files that hold them.

A head is a weight matrix over the sparse n-gram features, optionally followed by weights over
dense extra features (a message vector, other heads' scores). Weights are stored as float16
in compressed ``.npz`` files: the accuracy cost is nil at this scale and the package stays small.

Every head sees the tier's message vector (the MiniLM sentence embedding on the accurate tier,
the static word vectors on the default tier), except the accurate tier's complaint head: it sees
one dense feature, the decision value of an RBF support-vector machine over the sentence
embedding (``RbfScorer``), so its score is a fixed blend of an n-gram model and a kernel model.
On the default tier the complaint head also sees the sentiment scores, and the intent head
always sees both the sentiment and complaint scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from socialdesk.triage.features import (
    FloatArray,
    NgramVectorizer,
    SparseBatch,
    WordVectors,
    sparse_dot,
)
from socialdesk.triage.files import file_sha256, replacing


def softmax(scores: FloatArray) -> FloatArray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: FloatArray = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return result


@dataclass(frozen=True)
class LinearHead:
    """``softmax(sparse @ sparse_weights + dense @ dense_weights + bias)`` over ``labels``.

    Binary heads keep two columns (not-label, label) so every head reads the same way.
    """

    labels: tuple[str, ...]
    sparse_weights: FloatArray  # (n-gram features, labels)
    dense_weights: FloatArray  # (dense features, labels); zero rows when unused
    bias: FloatArray  # (labels,)

    def probabilities(self, sparse: SparseBatch, dense: FloatArray | None = None) -> FloatArray:
        scores = sparse_dot(sparse, self.sparse_weights) + self.bias
        if self.dense_weights.shape[0]:
            if dense is None or dense.shape[1] != self.dense_weights.shape[0]:
                got = "none" if dense is None else str(dense.shape[1])
                raise ValueError(
                    f"head over {self.labels} needs {self.dense_weights.shape[0]} dense "
                    f"features, got {got}"
                )
            scores = scores + dense @ self.dense_weights
        return softmax(scores)

    def top_features(
        self, sparse: SparseBatch, labels: npt.NDArray[np.int64], *, below: int, count: int
    ) -> list[list[int]]:
        """Per row, up to ``count`` features under index ``below`` that pushed hardest towards
        that row's label (its weight minus the mean weight of the other labels, times the value).

        Computed for the whole batch with one sort, not row by row.
        """
        rows = sparse.row_of()
        keep = sparse.indices < below
        rows, indices, values = rows[keep], sparse.indices[keep], sparse.values[keep]
        weights = self.sparse_weights[indices]
        chosen = weights[np.arange(len(indices)), labels[rows]]
        others = (weights.sum(axis=1) - chosen) / max(weights.shape[1] - 1, 1)
        margin = (chosen - others) * values
        positive = margin > 0
        rows, indices, margin = rows[positive], indices[positive], margin[positive]
        order = np.lexsort((-margin, rows))
        rows, indices = rows[order], indices[order]
        result: list[list[int]] = [[] for _ in range(sparse.rows)]
        # The first ``count`` entries of each row are its strongest, thanks to the sort.
        starts = np.searchsorted(rows, np.arange(sparse.rows))
        ends = np.searchsorted(rows, np.arange(sparse.rows), side="right")
        for row in np.nonzero(ends > starts)[0].tolist():
            start = int(starts[row])
            result[row] = indices[start : min(int(ends[row]), start + count)].tolist()
        return result


def _pack_head(prefix: str, head: LinearHead) -> dict[str, npt.NDArray[np.generic]]:
    return {
        f"{prefix}.labels": np.asarray(head.labels),
        f"{prefix}.sparse": head.sparse_weights.astype(np.float16),
        f"{prefix}.dense": head.dense_weights.astype(np.float32),
        f"{prefix}.bias": head.bias.astype(np.float32),
    }


def _unpack_head(prefix: str, data: dict[str, npt.NDArray[np.generic]]) -> LinearHead:
    return LinearHead(
        labels=tuple(str(x) for x in data[f"{prefix}.labels"].tolist()),
        sparse_weights=data[f"{prefix}.sparse"].astype(np.float32),
        dense_weights=data[f"{prefix}.dense"].astype(np.float32),
        bias=data[f"{prefix}.bias"].astype(np.float32),
    )


def join(*blocks: FloatArray | None) -> FloatArray | None:
    """Dense blocks side by side (None when there are none)."""
    present = [block for block in blocks if block is not None]
    if not present:
        return None
    joined: FloatArray = np.hstack(present).astype(np.float32)
    return joined


def complaint_inputs(
    vectors: FloatArray | None,
    sentiment: FloatArray,
    *,
    kernel: RbfScorer | None,
    reads_sentiment: bool,
) -> FloatArray | None:
    """The complaint head's dense features; training builds them with this same function."""
    if kernel is not None:
        if vectors is None:
            raise ValueError("the complaint kernel needs the message vectors")
        return kernel.decision(vectors)[:, None]
    return join(vectors, sentiment if reads_sentiment else None)


@dataclass(frozen=True)
class RbfScorer:
    """The decision value of a trained RBF support-vector machine, without scikit-learn.

    ``sum_i coef_i * exp(-gamma * |x - support_i|^2) + intercept`` for every row ``x``. On the
    sentence embedding it separates complaints better than any linear model in cross-validation
    (docs/triage.md); its cost next to running MiniLM itself is nil.
    """

    support: FloatArray  # (support vectors, dimension)
    coef: FloatArray  # (support vectors,): dual coefficient times label sign
    gamma: float
    intercept: float

    def decision(self, vectors: FloatArray) -> FloatArray:
        if vectors.shape[1] != self.support.shape[1]:
            raise ValueError(
                f"RBF scorer needs {self.support.shape[1]}-dimension vectors, "
                f"got {vectors.shape[1]}"
            )
        # |x - s|^2 = |x|^2 + |s|^2 - 2 x.s: one matrix product for the whole batch.
        squared = (
            np.einsum("ij,ij->i", vectors, vectors)[:, None]
            + np.einsum("ij,ij->i", self.support, self.support)[None, :]
            - 2.0 * (vectors @ self.support.T)
        )
        kernel = np.exp(-self.gamma * np.maximum(squared, 0.0))
        result: FloatArray = (kernel @ self.coef + self.intercept).astype(np.float32)
        return result


@dataclass(frozen=True)
class Scores:
    """The three heads' probabilities for a batch (complaint: the probability of a complaint)."""

    sentiment: FloatArray
    complaint: FloatArray
    intent: FloatArray


@dataclass(frozen=True)
class EncoderFile:
    """A sentence encoder shipped beside a tier's model: its file name and content hash."""

    name: str
    sha256: str

    @classmethod
    def of(cls, path: Path) -> EncoderFile:
        return cls(path.name, file_sha256(path))

    def path_beside(self, model_path: Path) -> Path:
        """The encoder file next to ``model_path``, checked against the hash it was trained with."""
        path = model_path.parent / self.name
        if not path.is_file():
            raise FileNotFoundError(
                f"{model_path.name} was trained on the sentence encoder {self.name}, which is "
                f"missing from {model_path.parent}; rebuild both with `socialdesk triage train`"
            )
        found = file_sha256(path)
        if found != self.sha256:
            raise ValueError(
                f"{path} is not the sentence encoder {model_path.name} was trained on (SHA-256 "
                f"{found[:12]}…, expected {self.sha256[:12]}…); rebuild both with "
                "`socialdesk triage train`"
            )
        return path


@dataclass(frozen=True)
class TierModel:
    """Everything one tier needs besides the optional sentence encoder."""

    vectorizer: NgramVectorizer
    sentiment: LinearHead
    complaint: LinearHead
    intent: LinearHead
    uses_embeddings: bool
    word_vectors: WordVectors | None = None
    complaint_reads_sentiment: bool = False
    # When set, the complaint head's only dense feature is this scorer's value on the vectors.
    complaint_kernel: RbfScorer | None = None
    # The sentence encoder the heads were trained on: an ONNX file beside the model and its
    # SHA-256, or None for the stock int8 MiniLM. Vectors of another encoder mean nothing to them.
    encoder: EncoderFile | None = None

    def message_vectors(
        self, sparse: SparseBatch, embedding: FloatArray | None
    ) -> FloatArray | None:
        """The dense vector every head sees: the sentence embedding, else the word vectors."""
        if self.uses_embeddings:
            if embedding is None:
                raise ValueError("this tier needs the sentence embedding of every message")
            return embedding
        return None if self.word_vectors is None else self.word_vectors.embed(sparse)

    def complaint_inputs(
        self, vectors: FloatArray | None, sentiment: FloatArray
    ) -> FloatArray | None:
        """The dense features of the complaint head, given the message vectors and sentiment."""
        return complaint_inputs(
            vectors,
            sentiment,
            kernel=self.complaint_kernel,
            reads_sentiment=self.complaint_reads_sentiment,
        )

    def scores(self, sparse: SparseBatch, embedding: FloatArray | None = None) -> Scores:
        vectors = self.message_vectors(sparse, embedding)
        sentiment = self.sentiment.probabilities(sparse, vectors)
        inputs = self.complaint_inputs(vectors, sentiment)
        complaint = self.complaint.probabilities(sparse, inputs)[:, 1]
        intent = self.intent.probabilities(sparse, join(vectors, sentiment, complaint[:, None]))
        return Scores(sentiment=sentiment, complaint=complaint, intent=intent)

    def save(self, path: Path) -> None:
        words = sorted(self.vectorizer.words.items(), key=lambda item: item[1])
        arrays: dict[str, npt.NDArray[np.generic]] = {
            # Newline-joined: one string array entry per gram would cost far more space.
            "vocab.words": np.asarray("\n".join(word for word, _ in words)),
            "vocab.chars": self.vectorizer.char_hashes,
            "vocab.idf": self.vectorizer.idf.astype(np.float16),
            "uses_embeddings": np.asarray(self.uses_embeddings),
            "complaint_reads_sentiment": np.asarray(self.complaint_reads_sentiment),
        }
        if self.complaint_kernel is not None:
            arrays["kernel.support"] = self.complaint_kernel.support.astype(np.float32)
            arrays["kernel.coef"] = self.complaint_kernel.coef.astype(np.float32)
            arrays["kernel.gamma"] = np.asarray(self.complaint_kernel.gamma, dtype=np.float64)
            arrays["kernel.intercept"] = np.asarray(
                self.complaint_kernel.intercept, dtype=np.float64
            )
        if self.encoder is not None:
            arrays["encoder.name"] = np.asarray(self.encoder.name)
            arrays["encoder.sha256"] = np.asarray(self.encoder.sha256)
        if self.word_vectors is not None:
            arrays["vectors.features"] = self.word_vectors.features.astype(np.int32)
            arrays["vectors.table"] = self.word_vectors.table.astype(np.float16)
        for name in ("sentiment", "complaint", "intent"):
            arrays.update(_pack_head(name, getattr(self, name)))
        # Written beside the model and moved into place: a run stopped mid-write leaves the
        # previous model whole, and a running desk never loads half a file.
        with replacing(path) as partial, partial.open("wb") as stream:
            np.savez_compressed(stream, **arrays)  # type: ignore[arg-type]  # numpy's stub is too narrow

    @classmethod
    def load(cls, path: Path) -> TierModel:
        if not path.is_file():
            raise FileNotFoundError(
                f"triage model {path} is missing; rebuild it with `socialdesk triage train`"
            )
        with np.load(path, allow_pickle=False) as archive:
            data = {key: archive[key] for key in archive.files}
        joined = str(data["vocab.words"])
        words = joined.split("\n") if joined else []
        vectorizer = NgramVectorizer(
            words={word: i for i, word in enumerate(words)},
            char_hashes=data["vocab.chars"].astype(np.uint32),
            idf=data["vocab.idf"].astype(np.float32),
        )
        word_vectors = None
        if "vectors.table" in data:
            word_vectors = WordVectors(
                features=data["vectors.features"].astype(np.int64),
                table=data["vectors.table"].astype(np.float32),
                word_size=vectorizer.word_size,
            )
        kernel = None
        if "kernel.support" in data:
            kernel = RbfScorer(
                support=data["kernel.support"].astype(np.float32),
                coef=data["kernel.coef"].astype(np.float32),
                gamma=float(data["kernel.gamma"]),
                intercept=float(data["kernel.intercept"]),
            )
        encoder = None
        if "encoder.name" in data:
            encoder = EncoderFile(str(data["encoder.name"]), str(data["encoder.sha256"]))
        return cls(
            vectorizer=vectorizer,
            sentiment=_unpack_head("sentiment", data),
            complaint=_unpack_head("complaint", data),
            intent=_unpack_head("intent", data),
            uses_embeddings=bool(data["uses_embeddings"]),
            word_vectors=word_vectors,
            complaint_reads_sentiment=bool(data.get("complaint_reads_sentiment", False)),
            complaint_kernel=kernel,
            encoder=encoder,
        )
