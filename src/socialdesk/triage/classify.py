"""The triage API: ``classify`` one message or ``classify_batch`` many.

Models load lazily, once per process and tier, from the artifacts inside this package. The
default tier needs numpy and py3langid only; the accurate tier adds the MiniLM encoder.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from socialdesk.triage import language as language_id
from socialdesk.triage.embeddings import ARTIFACTS, MiniLMEncoder
from socialdesk.triage.features import FloatArray, SparseBatch
from socialdesk.triage.heads import TierModel
from socialdesk.triage.priority import Priority, Signals, TriageContext, decide
from socialdesk.triage.text import normalize

Tier = Literal["default", "accurate"]
TIERS: tuple[Tier, ...] = ("default", "accurate")
SENTIMENTS = ("negative", "neutral", "positive")
INTENTS = ("complaint", "question", "praise", "feedback", "idea", "other")
EVIDENCE_TERMS = 3


@dataclass(frozen=True)
class TriageResult:
    sentiment: str
    sentiment_scores: Mapping[str, float]
    complaint: bool
    complaint_score: float
    intent: str
    intent_scores: Mapping[str, float]
    priority: Priority
    priority_reasons: tuple[str, ...]
    language: str
    language_confidence: float
    language_method: str
    # Words of the message that pushed hardest towards the sentiment, complaint and intent
    # labels; empty when a label rests on character patterns or the embedding alone.
    evidence: Mapping[str, tuple[str, ...]]
    tier: str

    def to_dict(self) -> dict[str, object]:
        return {
            "sentiment": self.sentiment,
            "sentiment_scores": dict(self.sentiment_scores),
            "complaint": self.complaint,
            "complaint_score": self.complaint_score,
            "intent": self.intent,
            "intent_scores": dict(self.intent_scores),
            "priority": self.priority.value,
            "priority_reasons": list(self.priority_reasons),
            "language": self.language,
            "language_confidence": self.language_confidence,
            "language_method": self.language_method,
            "evidence": {k: list(v) for k, v in self.evidence.items()},
            "tier": self.tier,
        }


class UnknownTier(ValueError):
    def __init__(self, tier: str) -> None:
        super().__init__(f"unknown triage tier {tier!r}; choose one of {', '.join(TIERS)}")


def artifact_path(tier: str, directory: Path = ARTIFACTS) -> Path:
    if tier not in TIERS:
        raise UnknownTier(tier)
    return directory / f"{tier}.npz"


class Triager:
    """One tier's models, ready to classify. Build it directly to use other artifacts."""

    def __init__(self, model: TierModel, *, tier: str, encoder: MiniLMEncoder | None = None):
        if model.uses_embeddings and encoder is None:
            if model.encoder is not None:
                raise ValueError(
                    f"the {tier} tier's model was trained on the sentence encoder "
                    f"{model.encoder.name}: pass it, or use Triager.load"
                )
            encoder = MiniLMEncoder()
        self.model = model
        self.tier = tier
        self.encoder = encoder
        self._words_by_index: list[str] | None = None

    @classmethod
    def load(cls, path: Path, *, tier: str) -> Triager:
        """The tier's model from ``path``, with the sentence encoder it was trained on."""
        model = TierModel.load(path)
        encoder = None
        if model.uses_embeddings and model.encoder is not None:
            encoder = MiniLMEncoder(model.encoder.path_beside(path))
        return cls(model, tier=tier, encoder=encoder)

    def classify_batch(
        self,
        texts: Sequence[str],
        *,
        contexts: Sequence[TriageContext | None] | None = None,
        now: datetime | None = None,
        explain: bool = True,
    ) -> list[TriageResult]:
        if contexts is not None and len(contexts) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(contexts)} contexts")
        if not texts:
            return []
        clean = [normalize(t) for t in texts]
        sparse = self.model.vectorizer.transform(clean)
        embedding: FloatArray | None = None
        if self.model.uses_embeddings:
            assert self.encoder is not None  # set in __init__ whenever embeddings are used
            embedding = self.encoder.encode(clean)
        scores = self.model.scores(sparse, embedding)
        sentiment, complaint, intent = scores.sentiment, scores.complaint, scores.intent

        heads = self.model
        sentiment_index = sentiment.argmax(axis=1).astype(np.int64)
        intent_index = intent.argmax(axis=1).astype(np.int64)
        complaint_index = (complaint >= 0.5).astype(np.int64)
        evidence_rows = (
            self._evidence(sparse, sentiment_index, complaint_index, intent_index)
            if explain
            else [{} for _ in clean]
        )
        languages = language_id.detect_batch(clean)
        # Rounded once for the whole batch; the labels below use the unrounded scores.
        sentiment_shown = np.round(sentiment.astype(np.float64), 4).tolist()
        intent_shown = np.round(intent.astype(np.float64), 4).tolist()
        complaint_shown = np.round(complaint.astype(np.float64), 4).tolist()
        results: list[TriageResult] = []
        for row, text in enumerate(clean):
            sentiment_scores = _scores(heads.sentiment.labels, sentiment_shown[row])
            intent_scores = _scores(heads.intent.labels, intent_shown[row])
            # Labels come from the unrounded scores; the rounded ones are for display.
            sentiment_label = heads.sentiment.labels[int(sentiment_index[row])]
            intent_label = heads.intent.labels[int(intent_index[row])]
            is_complaint = bool(complaint_index[row])
            complaint_score = complaint_shown[row]
            decision = decide(
                text=text,
                signals=Signals(
                    complaint=float(complaint[row]),
                    negative=sentiment_scores.get("negative", 0.0),
                    positive=sentiment_scores.get("positive", 0.0),
                    intent=intent_label,
                ),
                context=contexts[row] if contexts is not None else None,
                now=now,
            )
            lang = languages[row]
            results.append(
                TriageResult(
                    sentiment=sentiment_label,
                    sentiment_scores=sentiment_scores,
                    complaint=is_complaint,
                    complaint_score=complaint_score,
                    intent=intent_label,
                    intent_scores=intent_scores,
                    priority=decision.priority,
                    priority_reasons=decision.reasons,
                    language=lang.code,
                    language_confidence=lang.confidence,
                    language_method=lang.method,
                    evidence=evidence_rows[row],
                    tier=self.tier,
                )
            )
        return results

    def _evidence(
        self,
        sparse: SparseBatch,
        sentiment: npt.NDArray[np.int64],
        complaint: npt.NDArray[np.int64],
        intent: npt.NDArray[np.int64],
    ) -> list[dict[str, tuple[str, ...]]]:
        words = self._word_names()
        below = len(words)
        tops = {
            name: head.top_features(sparse, labels, below=below, count=EVIDENCE_TERMS)
            for name, head, labels in (
                ("sentiment", self.model.sentiment, sentiment),
                ("complaint", self.model.complaint, complaint),
                ("intent", self.model.intent, intent),
            )
        }
        return [
            {name: tuple(words[i] for i in top[row]) for name, top in tops.items()}
            for row in range(sparse.rows)
        ]

    def _word_names(self) -> list[str]:
        if self._words_by_index is None:
            names = [""] * len(self.model.vectorizer.words)
            for word, index in self.model.vectorizer.words.items():
                names[index] = word
            self._words_by_index = names
        return self._words_by_index


def _scores(labels: Sequence[str], values: list[float]) -> dict[str, float]:
    return dict(zip(labels, values, strict=True))


_triagers: dict[str, Triager] = {}
_lock = threading.Lock()


def get_triager(tier: str = "default") -> Triager:
    """The process-wide triager of a tier, loaded on first use."""
    path = artifact_path(tier)
    with _lock:
        if tier not in _triagers:
            _triagers[tier] = Triager.load(path, tier=tier)
        return _triagers[tier]


def classify(
    text: str,
    *,
    context: TriageContext | None = None,
    tier: str = "default",
    now: datetime | None = None,
) -> TriageResult:
    """Sentiment, complaint, intent, priority (with reasons) and language of one message."""
    return get_triager(tier).classify_batch([text], contexts=[context], now=now)[0]


def classify_batch(
    texts: Sequence[str],
    *,
    contexts: Sequence[TriageContext | None] | None = None,
    tier: str = "default",
    now: datetime | None = None,
    explain: bool = True,
) -> list[TriageResult]:
    """``classify`` for many messages at once; much faster per message than one at a time."""
    return get_triager(tier).classify_batch(texts, contexts=contexts, now=now, explain=explain)
