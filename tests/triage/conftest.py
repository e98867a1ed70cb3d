"""Tiny training data written here, so training tests never need ../shared."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from socialdesk.triage.features import FloatArray

NEGATIVE = [
    "my flight was cancelled and nobody helps, awful",
    "worst service ever, still no refund",
    "the app keeps crashing, so annoyed",
    "terrible delivery, the box arrived broken",
    "I hate waiting on hold for hours",
    "rude staff and cold food, never again",
]
POSITIVE = [
    "thank you so much, great help today",
    "love the new update, works perfectly",
    "amazing crew on my flight, lovely trip",
    "the support team was brilliant, thanks",
    "best coffee in town, happy customer",
    "great job, delivery came early",
]
NEUTRAL = [
    "the store opens at nine on sunday",
    "what time does the train leave from euston",
    "I ordered a phone case last week",
    "the update is available for download",
    "we are travelling to leeds tomorrow",
    "my account number ends in 42",
]
UNLABELLED = [
    "@AmazonHelp where is my parcel, it was due yesterday",
    "@AppleSupport my phone keeps restarting after the update",
    "@SouthwestAir great flight, thanks to the crew",
    "@comcastcares is there an outage in Boston?",
]
INTENT_ROWS = [
    ("1", "my order never arrived and nobody answers", "complaint", "high"),
    ("2", "the app is broken again, this is awful", "complaint", "normal"),
    ("3", "how do I change my delivery address?", "question", "normal"),
    ("4", "can I bring a bike on the train?", "question", "normal"),
    ("5", "thanks for the quick help, brilliant", "praise", "low"),
    ("6", "great crew today, lovely flight", "praise", "low"),
    ("7", "it works now after the restart", "feedback", "low"),
    ("8", "please add a dark mode to the app", "idea", "low"),
    ("9", "I sent you a DM", "other", "low"),
    ("10", "the screen froze and I got burned by the charger", "complaint", "urgent"),
    ("11", "where can I find my invoice?", "question", "normal"),
    ("12", "you should add more vegan options", "idea", "low"),
]


def write_tiny_data(root: Path) -> tuple[Path, Path]:
    data = root / "data"
    (data / "sentiment").mkdir(parents=True)
    (data / "complaints").mkdir()
    (data / "twcs").mkdir()
    with (data / "sentiment" / "semeval_2013_2016_train.tsv").open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["label", "text"])
        for label, texts in (("negative", NEGATIVE), ("positive", POSITIVE), ("neutral", NEUTRAL)):
            for text in texts[:4]:
                writer.writerow([label, text])
    with (data / "sentiment" / "tweeteval_val.tsv").open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["label", "text"])
        for label, texts in (("negative", NEGATIVE), ("positive", POSITIVE), ("neutral", NEUTRAL)):
            for text in texts[4:]:
                writer.writerow([label, text])
    with (data / "complaints" / "complaints_train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "is_complaint", "domain"])
        for i, text in enumerate(NEGATIVE + POSITIVE + NEUTRAL):
            writer.writerow([i, text, 1 if text in NEGATIVE else 0, "test"])
    with (data / "twcs" / "twcs_5000.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tweet_id", "author_id", "inbound", "created_at", "text"])
        for tweet_id, text, _, _ in INTENT_ROWS:
            writer.writerow([tweet_id, "u", "True", "", text])
        writer.writerow(["90", "u", "True", "", UNLABELLED[0]])
        writer.writerow(["91", "AmazonHelp", "False", "", "sorry to hear that, please DM us"])
    with (data / "twcs" / "customer_tweets_6000.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "text", "priority"])
        for i, text in enumerate(UNLABELLED[1:]):
            writer.writerow([i, text, "normal"])
    annotations = root / "annotations.csv"
    with annotations.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tweet_id", "intent", "urgency", "split", "sample"])
        for tweet_id, _, intent, urgency in INTENT_ROWS:
            split = "heldout" if tweet_id in {"11", "12"} else "train"
            writer.writerow([tweet_id, intent, urgency, split, "random"])
    return data, annotations


@pytest.fixture
def tiny_data(tmp_path: Path) -> tuple[Path, Path]:
    return write_tiny_data(tmp_path)


def hashed_encoder(texts: Sequence[str]) -> FloatArray:
    """A stand-in for MiniLM: character trigrams hashed into 384 dimensions, L2-normalised.

    Deterministic and instant, and texts that share trigrams get similar vectors, which is all
    the training code needs to be exercised without the model.
    """
    result = np.zeros((len(texts), 384), dtype=np.float32)
    for row, text in enumerate(texts):
        padded = f"  {text.lower()} "
        for i in range(len(padded) - 2):
            digest = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest()
            result[row, int.from_bytes(digest, "little") % 384] += 1.0
    norms = np.linalg.norm(result, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: FloatArray = result / norms
    return normalised
