"""Rebuild the triage artifacts from labelled data, reproducibly.

Needs the training extras (scikit-learn, SciPy) on top of the run-time dependencies. Every
random choice uses a fixed seed, vocabularies are ordered deterministically, and logistic
regression (L-BFGS) is deterministic, so the same data gives the same artifacts.

Data (``--data``, the shared folder's ``data/``):
- sentiment: ``sentiment/semeval_2013_2016_train.tsv``; ``sentiment/tweeteval_val.tsv`` is only
  evaluated on, and training tweets that near-duplicate one of its tweets are dropped first;
- complaint: ``complaints/complaints_train.csv``, 20 % held out (stratified, seed 13), plus the
  annotated training tweets (intent ``complaint`` or not); the default tier also learns from
  unlabelled customer tweets (``twcs/twcs_5000.csv``, ``twcs/customer_tweets_6000.csv``) scored
  by a MiniLM complaint model (distillation);
- intent: the annotation file (tweet ids and labels) joined with ``twcs/twcs_5000.csv``; rows
  marked ``heldout`` are only evaluated on;
- corrections: JSONL lines ``{"text", "field", "label"}`` added to the matching training set
  with extra weight.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from socialdesk.triage.classify import INTENTS, SENTIMENTS, Triager
from socialdesk.triage.embeddings import ARTIFACTS, MiniLMEncoder
from socialdesk.triage.features import FloatArray, NgramVectorizer, SparseBatch, WordVectors
from socialdesk.triage.files import file_sha256, replacing
from socialdesk.triage.finetune import FineTuneSet
from socialdesk.triage.heads import (
    EncoderFile,
    LinearHead,
    RbfScorer,
    TierModel,
    complaint_inputs,
    join,
)
from socialdesk.triage.text import normalize

COMPLAINT_SEED = 13
COMPLAINT_HOLDOUT = 0.2
DUPLICATE_SIMILARITY = 0.6
CORRECTION_WEIGHT = 5.0
CORRECTION_FIELDS = ("sentiment", "complaint", "intent")
COMPLAINT_LABELS = ("not", "complaint")
# Chosen by comparing a handful of values (see docs/triage.md); larger C = weaker regularisation.
# The complaint settings were chosen by 5-fold cross-validation on the corpus's training part.
C_SENTIMENT = 0.5
C_COMPLAINT = 4.0
C_INTENT = 1.0
# The accurate tier's complaint score: logistic function of a blend of two decision values, an
# n-gram logistic regression (C_COMPLAINT) and an RBF support-vector machine on the MiniLM
# embedding. Blend weight, C and gamma from the same cross-validation (docs/triage.md).
KERNEL_SHARE = 0.65
KERNEL_C = 1.0
KERNEL_GAMMA = 1.0
# Principal components of the MiniLM word vectors the default tier keeps.
WORD_VECTOR_DIMENSION = 64
# Weight of each unlabelled tweet (split between its two labels by the teacher's probability);
# 1.0 beat 0.3 and 0.6 in cross-validation on the training part with the kernel teacher.
POOL_WEIGHT = 1.0
# Folds for the complaint scores the intent head trains on (see train_tier).
STACK_FOLDS = 5
STACK_SEED = 17

Encode = Callable[[Sequence[str]], FloatArray]
# Fine-tunes the accurate tier's encoder on these texts, writes it to this path, returns its
# encode function.
Tuner = Callable[[FineTuneSet, Path], Encode]
# The accurate tier's fine-tuned sentence encoder, beside its model.
ENCODER_FILE = "accurate-encoder.onnx"


class TrainingDataError(ValueError):
    """A training input is missing or malformed."""


@dataclass
class LabelledSet:
    texts: list[str]
    labels: list[str]
    weights: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.weights:
            self.weights = [1.0] * len(self.texts)

    def add(self, text: str, label: str, weight: float) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.weights.append(weight)


@dataclass(frozen=True)
class Correction:
    text: str
    field: str
    label: str


@dataclass(frozen=True)
class Datasets:
    sentiment_train: LabelledSet
    sentiment_eval: LabelledSet
    complaint_train: LabelledSet
    complaint_eval: LabelledSet
    # The annotated training tweets as complaint / not: same task, the desk's own traffic.
    complaint_extra: LabelledSet
    # Unlabelled customer tweets (none of them near an evaluation text) for distillation.
    complaint_pool: list[str]
    intent_train: LabelledSet
    intent_eval: LabelledSet
    urgency_eval: LabelledSet
    dropped_duplicates: int


def _read(path: Path, *, delimiter: str = ",") -> list[dict[str, str]]:
    if not path.is_file():
        raise TrainingDataError(f"training file {path} is missing (is --data right?)")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def stratified_holdout(labels: Sequence[str], *, fraction: float, seed: int) -> list[bool]:
    """True for the rows held out: ``fraction`` of each label, drawn with a fixed seed."""
    rng = np.random.RandomState(seed)
    held = [False] * len(labels)
    for label in sorted(set(labels)):
        rows = [i for i, value in enumerate(labels) if value == label]
        chosen = rng.permutation(len(rows))[: round(len(rows) * fraction)]
        for position in chosen:
            held[rows[int(position)]] = True
    return held


def drop_near_duplicates(train: Sequence[str], reference: Sequence[str]) -> list[bool]:
    """True for training texts that are (near) copies of a reference text.

    The shared SemEval file still holds about 400 of the TweetEval validation tweets, written
    with real characters where TweetEval writes ``\\u2019`` escapes; training on them would
    inflate the validation figure. Character 3-4 gram TF-IDF cosine >= 0.6 catches copies with
    a different link, a truncation or a prefix.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]  # ships no type information

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4))
    train_matrix = vectorizer.fit_transform(train)
    similarity = (train_matrix @ vectorizer.transform(reference).T).max(axis=1)
    return [bool(value >= DUPLICATE_SIMILARITY) for value in similarity.toarray().ravel()]


def load_datasets(data_dir: Path, annotations: Path) -> Datasets:
    sentiment_rows = _read(data_dir / "sentiment" / "semeval_2013_2016_train.tsv", delimiter="\t")
    eval_rows = _read(data_dir / "sentiment" / "tweeteval_val.tsv", delimiter="\t")
    train_texts = [normalize(r["text"]) for r in sentiment_rows]
    eval_texts = [normalize(r["text"]) for r in eval_rows]
    duplicate = drop_near_duplicates(train_texts, eval_texts)
    sentiment_train = LabelledSet(
        [t for t, d in zip(train_texts, duplicate, strict=True) if not d],
        [r["label"] for r, d in zip(sentiment_rows, duplicate, strict=True) if not d],
    )
    sentiment_eval = LabelledSet(eval_texts, [r["label"] for r in eval_rows])
    for label in set(sentiment_train.labels) | set(sentiment_eval.labels):
        if label not in SENTIMENTS:
            raise TrainingDataError(f"unknown sentiment label {label!r} in {data_dir}")

    complaint_rows = _read(data_dir / "complaints" / "complaints_train.csv")
    complaint_labels = ["complaint" if r["is_complaint"] == "1" else "not" for r in complaint_rows]
    held = stratified_holdout(complaint_labels, fraction=COMPLAINT_HOLDOUT, seed=COMPLAINT_SEED)
    complaint_train, complaint_eval = LabelledSet([], []), LabelledSet([], [])
    for row, label, is_held in zip(complaint_rows, complaint_labels, held, strict=True):
        (complaint_eval if is_held else complaint_train).add(normalize(row["text"]), label, 1.0)

    twcs_rows = _read(data_dir / "twcs" / "twcs_5000.csv")
    tweets = {r["tweet_id"]: r["text"] for r in twcs_rows}
    intent_train, intent_eval = LabelledSet([], []), LabelledSet([], [])
    urgency_eval = LabelledSet([], [])
    complaint_extra = LabelledSet([], [])
    annotated: set[str] = set()
    for row in _read(annotations):
        if row["tweet_id"] not in tweets:
            raise TrainingDataError(f"annotated tweet {row['tweet_id']} is not in twcs_5000.csv")
        if row["intent"] not in INTENTS:
            raise TrainingDataError(f"unknown intent {row['intent']!r} in {annotations}")
        annotated.add(row["tweet_id"])
        text = normalize(tweets[row["tweet_id"]])
        if row["split"] == "heldout":
            intent_eval.add(text, row["intent"], 1.0)
            urgency_eval.add(text, row["urgency"], 1.0)
        else:
            intent_train.add(text, row["intent"], 1.0)
            label = "complaint" if row["intent"] == "complaint" else "not"
            complaint_extra.add(text, label, 1.0)
    unlabelled = [
        r["text"] for r in twcs_rows if r["inbound"] == "True" and r["tweet_id"] not in annotated
    ]
    unlabelled += [r["text"] for r in _read(data_dir / "twcs" / "customer_tweets_6000.csv")]
    evaluation = sentiment_eval.texts + complaint_eval.texts + intent_eval.texts
    return Datasets(
        sentiment_train=sentiment_train,
        sentiment_eval=sentiment_eval,
        complaint_train=complaint_train,
        complaint_eval=complaint_eval,
        complaint_extra=complaint_extra,
        complaint_pool=unlabelled_pool(
            unlabelled,
            known=complaint_train.texts + intent_train.texts,
            evaluation=evaluation,
        ),
        intent_train=intent_train,
        intent_eval=intent_eval,
        urgency_eval=urgency_eval,
        dropped_duplicates=sum(duplicate),
    )


def unlabelled_pool(
    texts: Sequence[str], *, known: Sequence[str], evaluation: Sequence[str]
) -> list[str]:
    """Distinct normalised texts that are neither labelled already nor near an evaluation text.

    Nothing the benchmark scores may reach training, not even without its label.
    """
    seen = set(known) | set(evaluation)
    pool: list[str] = []
    for raw in texts:
        text = normalize(raw)
        if len(text) >= 3 and text not in seen:
            seen.add(text)
            pool.append(text)
    if not pool or not evaluation:
        return pool
    near = drop_near_duplicates(pool, evaluation)
    return [text for text, is_near in zip(pool, near, strict=True) if not is_near]


def read_corrections(path: Path) -> list[Correction]:
    corrections: list[Correction] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                text, field_name, label = str(item["text"]), str(item["field"]), item["label"]
            except (ValueError, KeyError, TypeError) as error:
                raise TrainingDataError(
                    f"{path}:{number}: expected a JSON object with text, field and label"
                ) from error
            corrections.append(_check_correction(text, field_name, label, f"{path}:{number}"))
    return corrections


def _check_correction(text: str, field_name: str, label: object, where: str) -> Correction:
    if field_name not in CORRECTION_FIELDS:
        raise TrainingDataError(
            f"{where}: field {field_name!r} cannot be corrected; use {', '.join(CORRECTION_FIELDS)}"
        )
    if field_name == "complaint":
        if label in (True, "true", "complaint", 1, "1"):
            value = "complaint"
        elif label in (False, "false", "not", 0, "0"):
            value = "not"
        else:
            raise TrainingDataError(
                f"{where}: complaint label must be true or false, got {label!r}"
            )
    else:
        value = str(label)
        allowed = SENTIMENTS if field_name == "sentiment" else INTENTS
        if value not in allowed:
            raise TrainingDataError(
                f"{where}: {field_name} label must be one of {', '.join(allowed)}, got {value!r}"
            )
    return Correction(normalize(text), field_name, value)


def apply_corrections(data: Datasets, corrections: Sequence[Correction]) -> None:
    target = {
        "sentiment": data.sentiment_train,
        "complaint": data.complaint_train,
        "intent": data.intent_train,
    }
    for item in corrections:
        target[item.field].add(item.text, item.label, CORRECTION_WEIGHT)


def _csr(batch: SparseBatch) -> Any:
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]  # ships no type information

    return csr_matrix((batch.values, batch.indices, batch.indptr), shape=(batch.rows, batch.width))


def _transform(vectorizer: NgramVectorizer, texts: Sequence[str]) -> Any:
    from scipy.sparse import vstack

    chunks = [_csr(vectorizer.transform(texts[i : i + 4096])) for i in range(0, len(texts), 4096)]
    return vstack(chunks).tocsr()


def _fit_head(
    sparse: Any,
    dense: FloatArray | None,
    data: LabelledSet,
    *,
    labels: Sequence[str],
    c: float,
    width: int,
) -> LinearHead:
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]  # ships no type information

    present = sorted(set(data.labels))
    if len(present) < 2:
        raise TrainingDataError(f"need at least two labels to train over {labels}, got {present}")
    matrix = sparse if dense is None else hstack([sparse, csr_matrix(dense)]).tocsr()
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    model.fit(matrix, data.labels, sample_weight=np.asarray(data.weights))
    coef = model.coef_.astype(np.float32)
    bias = model.intercept_.astype(np.float32)
    if len(model.classes_) == 2:
        # scikit-learn keeps one column for two classes; spell out both so heads read alike.
        coef = np.vstack([np.zeros_like(coef), coef])
        bias = np.asarray([0.0, bias[0]], dtype=np.float32)
    full = np.zeros((len(labels), coef.shape[1]), dtype=np.float32)
    full_bias = np.full(len(labels), -30.0, dtype=np.float32)  # labels never seen: never chosen
    for row, label in enumerate(model.classes_):
        full[labels.index(str(label))] = coef[row]
        full_bias[labels.index(str(label))] = bias[row]
    dense_size = 0 if dense is None else dense.shape[1]
    return LinearHead(
        labels=tuple(labels),
        sparse_weights=np.ascontiguousarray(full[:, :width].T),
        dense_weights=np.ascontiguousarray(full[:, width:].T).reshape(dense_size, len(labels)),
        bias=full_bias,
    )


def _fit_kernel(vectors: FloatArray, data: LabelledSet) -> RbfScorer:
    """An RBF support-vector machine on dense vectors, positive for complaints.

    libsvm's solver is deterministic without probability estimates, so training stays
    reproducible.
    """
    from sklearn.svm import SVC  # type: ignore[import-untyped]  # ships no type information

    target = np.asarray([label == "complaint" for label in data.labels], dtype=np.int64)
    if len(set(target.tolist())) < 2:
        raise TrainingDataError("need complaints and non-complaints to train the complaint kernel")
    model = SVC(C=KERNEL_C, gamma=KERNEL_GAMMA, class_weight="balanced")
    model.fit(vectors, target, sample_weight=np.asarray(data.weights))
    # decision_function = dual_coef_ . K(support_vectors_, x) + intercept_, positive for class 1.
    return RbfScorer(
        support=np.asarray(model.support_vectors_, dtype=np.float32),
        coef=np.asarray(model.dual_coef_[0], dtype=np.float32),
        gamma=KERNEL_GAMMA,
        intercept=float(model.intercept_[0]),
    )


def fit_complaint(
    sparse: Any,
    dense: FloatArray | None,
    data: LabelledSet,
    *,
    kernel: bool,
    width: int,
) -> tuple[LinearHead, RbfScorer | None]:
    """The complaint head (and its kernel scorer when ``kernel``) for these texts.

    Without a kernel: one logistic regression over the n-grams and ``dense``. With one: an
    n-gram-only logistic regression and an RBF machine on ``dense`` (the sentence embedding),
    folded into one head whose single dense feature is the machine's decision value, so that its
    logit is ``(1 - KERNEL_SHARE) * n-gram logit + KERNEL_SHARE * kernel decision``. In
    cross-validation this blend beat one regression over n-grams and embedding side by side.
    """
    if not kernel:
        head = _fit_head(sparse, dense, data, labels=COMPLAINT_LABELS, c=C_COMPLAINT, width=width)
        return head, None
    if dense is None:
        raise TrainingDataError("the complaint kernel needs dense vectors to train on")
    ngrams = _fit_head(sparse, None, data, labels=COMPLAINT_LABELS, c=C_COMPLAINT, width=width)
    scorer = _fit_kernel(dense, data)
    share = np.float32(1.0 - KERNEL_SHARE)
    complaint = COMPLAINT_LABELS.index("complaint")
    dense_weights = np.zeros((1, len(COMPLAINT_LABELS)), dtype=np.float32)
    dense_weights[0, complaint] = KERNEL_SHARE
    head = LinearHead(
        labels=ngrams.labels,
        sparse_weights=ngrams.sparse_weights * share,
        dense_weights=dense_weights,
        bias=ngrams.bias * share,
    )
    return head, scorer


def build_word_vectors(
    vectorizer: NgramVectorizer, encode: Encode, *, dimension: int = WORD_VECTOR_DIMENSION
) -> WordVectors:
    """MiniLM's vector of every single vocabulary word, reduced to its top principal components.

    The components' signs are fixed (largest entry positive), so the same words give the same
    table on any machine.
    """
    words = sorted((index, word) for word, index in vectorizer.words.items() if " " not in word)
    if not words:
        raise TrainingDataError("the vocabulary has no single words to give vectors to")
    raw = encode([word for _, word in words]).astype(np.float64)
    _, _, components = np.linalg.svd(raw - raw.mean(axis=0), full_matrices=False)
    components = components[: min(dimension, len(components))]
    largest = np.abs(components).argmax(axis=1)
    components *= np.sign(components[np.arange(len(components)), largest])[:, None]
    return WordVectors(
        features=np.asarray([index for index, _ in words], dtype=np.int64),
        table=(raw @ components.T).astype(np.float32),
        word_size=vectorizer.word_size,
    )


def _subset(data: LabelledSet, keep: Any) -> LabelledSet:
    chosen = np.nonzero(keep)[0].tolist()
    return LabelledSet(
        [data.texts[i] for i in chosen],
        [data.labels[i] for i in chosen],
        [data.weights[i] for i in chosen],
    )


def _joined(*sets: LabelledSet) -> LabelledSet:
    joined = LabelledSet([], [])
    for part in sets:
        for text, label, weight in zip(part.texts, part.labels, part.weights, strict=True):
            joined.add(text, label, weight)
    return joined


def distillation_set(
    data: Datasets, vectorizer: NgramVectorizer, gold: LabelledSet, encode: Encode
) -> LabelledSet:
    """The unlabelled tweets, each twice (complaint and not), weighted by a teacher's belief.

    The teacher is the accurate tier's complaint model (n-grams blended with an RBF kernel on
    MiniLM) trained on the same labelled data; the default tier cannot run MiniLM, but it can
    learn what MiniLM's model says about thousands of real customer tweets.
    """
    pool = data.complaint_pool
    if not pool:
        return LabelledSet([], [])
    head, kernel = fit_complaint(
        _transform(vectorizer, gold.texts),
        encode(gold.texts),
        gold,
        kernel=True,
        width=vectorizer.width,
    )
    belief = head.probabilities(
        vectorizer.transform(pool),
        complaint_inputs(
            encode(pool), np.zeros((0, 0), dtype=np.float32), kernel=kernel, reads_sentiment=False
        ),
    )[:, 1]
    soft = LabelledSet([], [])
    for text, probability in zip(pool, belief.tolist(), strict=True):
        soft.add(text, "complaint", POOL_WEIGHT * probability)
        soft.add(text, "not", POOL_WEIGHT * (1.0 - probability))
    return soft


def train_tier(data: Datasets, *, tier: str, encode: Encode | None = None) -> TierModel:
    if encode is None:
        raise TrainingDataError("training needs the MiniLM sentence encoder")
    uses_embeddings = tier == "accurate"
    vectorizer = NgramVectorizer.fit(
        data.sentiment_train.texts + data.complaint_train.texts + data.intent_train.texts
    )
    width = vectorizer.width
    word_vectors = None if uses_embeddings else build_word_vectors(vectorizer, encode)

    def vectors(batch: SparseBatch, texts: Sequence[str]) -> FloatArray:
        """What ``TierModel.message_vectors`` gives for these texts."""
        return encode(texts) if word_vectors is None else word_vectors.embed(batch)

    # The default tier's sentiment head stays on n-grams alone: with the word vectors it scored
    # higher on a SemEval development split but lower on TweetEval validation (docs/triage.md).
    sentiment = _fit_head(
        _transform(vectorizer, data.sentiment_train.texts),
        encode(data.sentiment_train.texts) if uses_embeddings else None,
        data.sentiment_train,
        labels=SENTIMENTS,
        c=C_SENTIMENT,
        width=width,
    )
    labelled = _joined(data.complaint_train, data.complaint_extra)
    complaint_set = labelled
    if not uses_embeddings:
        distilled = distillation_set(data, vectorizer, labelled, encode)
        complaint_set = _joined(labelled, distilled)
    # The sentiment scores (a model of 47,000 tweets) help the n-gram tier's complaint head in
    # cross-validation on the training part; next to the MiniLM embedding they do not. The
    # accurate tier's complaint head blends n-grams with an RBF kernel on the embedding.
    reads_sentiment = not uses_embeddings
    use_kernel = uses_embeddings

    def fit_inputs(batch: SparseBatch, vecs: FloatArray) -> FloatArray | None:
        """What the complaint model trains on besides the n-grams."""
        if use_kernel:
            return vecs
        return join(vecs, sentiment.probabilities(batch, vecs) if reads_sentiment else None)

    complaint_batch = vectorizer.transform(complaint_set.texts)
    complaint_sparse = _csr(complaint_batch)
    complaint_dense = fit_inputs(complaint_batch, vectors(complaint_batch, complaint_set.texts))
    complaint, kernel = fit_complaint(
        complaint_sparse, complaint_dense, complaint_set, kernel=use_kernel, width=width
    )
    # The intent head also sees the two heads' scores for its texts. The complaint head trained
    # on those texts (as complaint / not), so their complaint scores come from heads fitted
    # without them (cross-fitting): in-sample scores would look more certain than any new
    # message's and the intent head would lean on them too much.
    batch = vectorizer.transform(data.intent_train.texts)
    dense = vectors(batch, data.intent_train.texts)
    sentiment_scores = sentiment.probabilities(batch, dense)
    complaint_scores = np.zeros((batch.rows, 1), dtype=np.float32)
    first_extra = len(data.complaint_train.texts)
    extra = len(data.complaint_extra.texts)
    fold_of = np.random.RandomState(STACK_SEED).permutation(batch.rows) % STACK_FOLDS
    for fold in range(STACK_FOLDS):
        held = np.nonzero(fold_of == fold)[0]
        keep = np.ones(len(complaint_set.texts), dtype=bool)
        keep[first_extra + held[held < extra]] = False
        head, fold_kernel = fit_complaint(
            complaint_sparse[keep],
            None if complaint_dense is None else complaint_dense[keep],
            _subset(complaint_set, keep),
            kernel=use_kernel,
            width=width,
        )
        inputs = complaint_inputs(
            dense, sentiment_scores, kernel=fold_kernel, reads_sentiment=reads_sentiment
        )
        complaint_scores[held] = head.probabilities(batch, inputs)[held, 1:]
    intent = _fit_head(
        _csr(batch),
        join(dense, sentiment_scores, complaint_scores),
        data.intent_train,
        labels=INTENTS,
        c=C_INTENT,
        width=width,
    )
    return TierModel(
        vectorizer=vectorizer,
        sentiment=sentiment,
        complaint=complaint,
        intent=intent,
        uses_embeddings=uses_embeddings,
        word_vectors=word_vectors,
        complaint_reads_sentiment=reads_sentiment,
        complaint_kernel=kernel,
    )


def _read_cache(path: Path) -> dict[str, FloatArray]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as archive:
        keys = archive["keys"].tolist()
        values = archive["vectors"]
    return {str(k): values[i] for i, k in enumerate(keys)}


class CachedEncoder:
    """MiniLM vectors remembered by text hash, so retraining does not re-encode everything.

    ``tag`` names the encoder (the fine-tuned one's file hash), so that one cache file can hold
    the vectors of several encoders; the stock model's have none.
    """

    def __init__(self, encoder: MiniLMEncoder, cache: Path | None, *, tag: str = "") -> None:
        self.encoder = encoder
        self.cache = cache
        self.tag = tag
        self.vectors: dict[str, FloatArray] = _read_cache(cache) if cache is not None else {}

    def key(self, text: str) -> str:
        keyed = f"{self.tag}\0{text}" if self.tag else text
        return hashlib.sha256(keyed.encode("utf-8")).hexdigest()[:24]

    def __call__(self, texts: Sequence[str]) -> FloatArray:
        missing = sorted({t for t in texts if self.key(t) not in self.vectors})
        if missing:
            for key, vector in zip(
                (self.key(t) for t in missing), self.encoder.encode(missing), strict=True
            ):
                self.vectors[key] = vector
            self.save()
        return np.stack([self.vectors[self.key(t)] for t in texts]).astype(np.float32)

    def save(self) -> None:
        """Write the cache beside itself, then move it into place: a run stopped mid-write
        leaves the previous cache whole."""
        if self.cache is None:
            return
        # Another encoder's vectors in the same file (another tier trained in this run, with
        # its own CachedEncoder) are kept: each instance holds only what it read and encoded.
        for key, vector in _read_cache(self.cache).items():
            self.vectors.setdefault(key, vector)
        keys = sorted(self.vectors)
        with replacing(self.cache) as partial, partial.open("wb") as stream:
            np.savez(
                stream,
                keys=np.asarray(keys),
                vectors=np.stack([self.vectors[k] for k in keys]).astype(np.float32),
            )


def evaluate(triager: Triager, data: Datasets) -> dict[str, float]:
    """The figures the benchmark reports, computed on the held-out parts."""
    from sklearn.metrics import f1_score, recall_score  # type: ignore[import-untyped]  # ships no type information

    sentiment = triager.classify_batch(data.sentiment_eval.texts, explain=False)
    complaint = triager.classify_batch(data.complaint_eval.texts, explain=False)
    intent = triager.classify_batch(data.intent_eval.texts, explain=False)
    return {
        "sentiment_macro_recall": round(
            float(
                recall_score(
                    data.sentiment_eval.labels, [r.sentiment for r in sentiment], average="macro"
                )
            ),
            4,
        ),
        "complaint_macro_f1": round(
            float(
                f1_score(
                    data.complaint_eval.labels,
                    ["complaint" if r.complaint else "not" for r in complaint],
                    average="macro",
                )
            ),
            4,
        ),
        "intent_macro_f1": round(
            float(f1_score(data.intent_eval.labels, [r.intent for r in intent], average="macro")),
            4,
        ),
        "urgency_macro_f1": round(
            float(
                f1_score(
                    data.urgency_eval.labels, [r.priority.value for r in intent], average="macro"
                )
            ),
            4,
        ),
    }


def fine_tune_set(data: Datasets) -> FineTuneSet:
    """What the accurate tier's encoder is fine-tuned on: the complaint head's labelled texts."""
    labelled = _joined(data.complaint_train, data.complaint_extra)
    return FineTuneSet(
        texts=labelled.texts,
        complaint=[label == "complaint" for label in labelled.labels],
        weights=labelled.weights,
    )


def _fine_tuner(cache: Path | None, log: Callable[[str], None]) -> Tuner:
    def tune(data: FineTuneSet, path: Path) -> Encode:
        from socialdesk.triage.finetune import fine_tune_encoder

        fine_tune_encoder(data, path, log=log)
        return _shipped_encoder(path, cache)

    return tune


def _shipped_encoder(path: Path, cache: Path | None) -> Encode:
    return CachedEncoder(MiniLMEncoder(path), cache, tag=file_sha256(path))


def train(
    *,
    data_dir: Path,
    annotations: Path,
    out_dir: Path = ARTIFACTS,
    tiers: Sequence[str] = ("default", "accurate"),
    corrections: Path | None = None,
    embedding_cache: Path | None = None,
    encoder: Encode | None = None,
    tuner: Tuner | None = None,
    keep_encoder: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, dict[str, float]]:
    """Train the given tiers, write ``<tier>.npz`` and ``manifest.json``; return the figures.

    The accurate tier first fine-tunes its sentence encoder (``tuner``; PyTorch, see
    ``finetune.py``) and writes it beside its model as ``ENCODER_FILE``, unless
    ``keep_encoder``: then the encoder already in ``out_dir`` is used as it is. ``encoder`` is
    the stock MiniLM (the default tier's word vectors and complaint teacher).
    """
    data = load_datasets(data_dir, annotations)
    log(
        f"sentiment: {len(data.sentiment_train.texts)} training tweets "
        f"({data.dropped_duplicates} dropped as copies of evaluation tweets)"
    )
    applied: list[Correction] = []
    if corrections is not None:
        applied = read_corrections(corrections)
        apply_corrections(data, applied)
        log(f"corrections: {len(applied)} added with weight {CORRECTION_WEIGHT}")
    log(f"complaint: {len(data.complaint_pool)} unlabelled customer tweets for distillation")
    # Both tiers need the stock MiniLM to train: the default tier learns its word vectors and
    # its complaint teacher from it. The accurate tier runs a fine-tuned copy (finetune.py).
    encode = encoder or CachedEncoder(MiniLMEncoder(), embedding_cache)
    figures: dict[str, dict[str, float]] = {}
    for tier in tiers:
        log(f"training the {tier} tier")
        tier_encode = encode
        encoder_file: EncoderFile | None = None
        if tier == "accurate":
            path = out_dir / ENCODER_FILE
            if keep_encoder:
                if not path.is_file():
                    raise TrainingDataError(
                        f"--keep-encoder: there is no {ENCODER_FILE} in {out_dir} to keep"
                    )
                tier_encode = _shipped_encoder(path, embedding_cache)
            else:
                tune = tuner or _fine_tuner(embedding_cache, log)
                tier_encode = tune(fine_tune_set(data), path)
            encoder_file = EncoderFile.of(path)
        model = replace(train_tier(data, tier=tier, encode=tier_encode), encoder=encoder_file)
        model.save(out_dir / f"{tier}.npz")
        triager = Triager(
            model,
            tier=tier,
            encoder=_FunctionEncoder(tier_encode) if model.uses_embeddings else None,  # type: ignore[arg-type]  # duck-typed
        )
        figures[tier] = evaluate(triager, data)
        log(f"{tier}: {figures[tier]}")
    manifest_path = out_dir / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest.setdefault("tiers", {}).update(figures)
    manifest["corrections"] = len(applied)
    with replacing(manifest_path) as partial:
        partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return figures


class _FunctionEncoder:
    """Adapts a plain encode function to the encoder interface the triager calls."""

    def __init__(self, encode: Encode) -> None:
        self._encode = encode

    def encode(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts)


@dataclass(frozen=True)
class EvaluationSets:
    sentiment: LabelledSet
    complaint: LabelledSet
    intent: LabelledSet
    urgency: LabelledSet


def load_evaluation(data_dir: Path, annotations: Path) -> EvaluationSets:
    """Only the held-out parts (what the benchmark scores), without reading the training files."""
    eval_rows = _read(data_dir / "sentiment" / "tweeteval_val.tsv", delimiter="\t")
    sentiment = LabelledSet(
        [normalize(r["text"]) for r in eval_rows], [r["label"] for r in eval_rows]
    )
    complaint_rows = _read(data_dir / "complaints" / "complaints_train.csv")
    labels = ["complaint" if r["is_complaint"] == "1" else "not" for r in complaint_rows]
    held = stratified_holdout(labels, fraction=COMPLAINT_HOLDOUT, seed=COMPLAINT_SEED)
    complaint = LabelledSet(
        [normalize(r["text"]) for r, h in zip(complaint_rows, held, strict=True) if h],
        [label for label, h in zip(labels, held, strict=True) if h],
    )
    tweets = {r["tweet_id"]: r["text"] for r in _read(data_dir / "twcs" / "twcs_5000.csv")}
    intent, urgency = LabelledSet([], []), LabelledSet([], [])
    for row in _read(annotations):
        if row["split"] == "heldout":
            text = normalize(tweets[row["tweet_id"]])
            intent.add(text, row["intent"], 1.0)
            urgency.add(text, row["urgency"], 1.0)
    return EvaluationSets(sentiment, complaint, intent, urgency)
