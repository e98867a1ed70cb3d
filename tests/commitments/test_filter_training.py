"""Training the promise filter: data loading, the folded weights, the threshold rule, the CLI."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from click.testing import CliRunner

from socialdesk.commitments import filter_training as training
from socialdesk.commitments.cli import commitments
from socialdesk.commitments.extract import future_clauses
from socialdesk.commitments.wordpiece import words

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2024, 3, 14, 10, 0, tzinfo=UTC_ZONE)
TEXTS = (
    ("We will call you tomorrow.", True),
    ("Your refund will arrive on Monday.", True),
    ("We'll send a new card today.", True),
    ("We will be happy to help.", False),
    ("Our team will be glad to assist.", False),
    ("We will be open on Sunday.", False),
)


def _replies() -> list[training.AnnotatedReply]:
    replies = []
    for index, (text, promise) in enumerate(TEXTS):
        clauses = future_clauses(text)
        assert clauses, text
        replies.append(
            training.AnnotatedReply(
                tweet_id=str(index),
                stratum="test",
                text=text,
                now=NOW,
                tz=UTC_ZONE,
                gold=(clauses[0],) if promise else (),
            )
        )
    return replies


def _featurizer() -> training.Featurizer:
    tokens = sorted({w for text, _ in TEXTS for w in words(text)} | {"[UNK]"})
    vectors = np.random.default_rng(7).normal(size=(len(tokens), 6)).astype(np.float32)
    return training.Featurizer({token: i for i, token in enumerate(tokens)}, vectors)


def test_folded_weights_give_the_regressions_probabilities() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    replies = _replies()
    featurizer = _featurizer()
    fitted = training.fit_filter(replies, featurizer, threshold=0.5, c=1.0)
    rows = [featurizer.rows(r.text, future_clauses(r.text)[:1])[0] for r in replies]
    labels = [bool(r.gold) for r in replies]
    model = sklearn.LogisticRegression(C=1.0, max_iter=5000).fit(np.array(rows), labels)
    expected = model.predict_proba(np.array(rows))[:, 1]
    for reply, probability in zip(replies, expected, strict=True):
        start, end = future_clauses(reply.text)[0]
        got = fitted.probability(reply.text[start:end], fitted.message_score(reply.text))
        assert got == pytest.approx(float(probability), abs=1e-5)


def _scored(probabilities: dict[str, float]) -> training.Scored:
    scored: training.Scored = {}
    for reply in _replies():
        span = future_clauses(reply.text)[0]
        for repeat in range(training.REPEATS):
            scored[(repeat, reply.tweet_id)] = [(probabilities[reply.tweet_id], span)]
    return scored


def test_threshold_is_the_highest_that_keeps_the_recall() -> None:
    replies = _replies()
    # The three promises score 0.9, 0.6 and 0.3; the non-promises 0.2, 0.1, 0.05.
    scored = _scored({"0": 0.9, "1": 0.6, "2": 0.3, "3": 0.2, "4": 0.1, "5": 0.05})
    everything = training.figures_at(scored, replies, 0.0)
    assert (everything.precision, everything.recall) == (0.5, 1.0)
    chosen = training.choose_threshold(scored, replies, min_recall=1.0)
    assert chosen.threshold == 0.3
    assert (chosen.precision, chosen.recall) == (1.0, 1.0)
    looser = training.choose_threshold(scored, replies, min_recall=0.6)
    assert looser.threshold == 0.6
    assert looser.recall == pytest.approx(2 / 3)


def test_reads_only_the_development_labels(tmp_path: Path) -> None:
    """A folder with nothing but dev.jsonl and the zones is enough: the held-out labels are
    never opened."""
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    (annotations / "brand_zones.json").write_text(
        json.dumps({"default": "UTC", "brands": {"AcmeCare": "Europe/London"}}), encoding="utf-8"
    )
    text = "We will call you tomorrow."
    (annotations / "dev.jsonl").write_text(
        json.dumps(
            {
                "tweet_id": "7",
                "stratum": "random",
                "has_promise": True,
                "promises": [{"start": 0, "end": 25, "action": "call you", "due": None}],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    twcs = tmp_path / "twcs"
    twcs.mkdir()
    for name in training.TWCS_FILES:
        with (twcs / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["tweet_id", "author_id", "inbound", "created_at", "text"])
            if name == training.TWCS_FILES[0]:
                writer.writerow(["7", "AcmeCare", "False", "Tue Oct 31 22:10:47 +0000 2017", text])
    [reply] = training.load_development(annotations, twcs)
    assert reply.gold == ((0, 25),)
    assert reply.tz == ZoneInfo("Europe/London")
    assert training.rule_detections(reply) == [(0, 25)]


def test_train_command_reports_missing_texts(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        commitments,
        ["train", "--shared-dir", str(tmp_path), "--out", str(tmp_path / "filter.npz")],
    )
    assert result.exit_code == 1
    assert "reply texts not found" in result.output
    assert not (tmp_path / "filter.npz").exists()
