"""Training on tiny data written by the test: reproducible, and corrections change the model."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("sklearn", reason="training needs scikit-learn (training extras)")

from socialdesk.triage.classify import Triager
from socialdesk.triage.cli import triage
from socialdesk.triage.heads import TierModel
from socialdesk.triage.training import TrainingDataError, read_corrections, train

TEXT = "the parcel came on tuesday"


def _train(data: tuple[Path, Path], out: Path, corrections: Path | None = None) -> TierModel:
    data_dir, annotations = data
    train(
        data_dir=data_dir,
        annotations=annotations,
        out_dir=out,
        tiers=("default",),
        corrections=corrections,
    )
    return TierModel.load(out / "default.npz")


def test_training_is_reproducible_and_writes_a_manifest(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    first = _train(tiny_data, tmp_path / "a")
    second = _train(tiny_data, tmp_path / "b")
    assert np.array_equal(first.sentiment.sparse_weights, second.sentiment.sparse_weights)
    assert np.array_equal(first.intent.bias, second.intent.bias)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert set(manifest["tiers"]["default"]) >= {"sentiment_macro_recall", "complaint_macro_f1"}


def test_corrections_change_the_model(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    before = Triager(_train(tiny_data, tmp_path / "before"), tier="default")
    corrections = tmp_path / "corrections.jsonl"
    corrections.write_text(
        "\n".join(
            json.dumps(item)
            for item in (
                {"text": TEXT, "field": "sentiment", "label": "negative"},
                {"text": TEXT, "field": "complaint", "label": True},
                {"text": TEXT, "field": "intent", "label": "idea"},
            )
        )
        + "\n"
    )
    after = Triager(_train(tiny_data, tmp_path / "after", corrections), tier="default")
    old = before.classify_batch([TEXT])[0]
    new = after.classify_batch([TEXT])[0]
    assert new.sentiment_scores["negative"] > old.sentiment_scores["negative"]
    assert new.complaint_score > old.complaint_score
    assert new.intent_scores["idea"] > old.intent_scores["idea"]
    assert new.sentiment == "negative"
    assert new.intent == "idea"
    manifest = json.loads((tmp_path / "after" / "manifest.json").read_text())
    assert manifest["corrections"] == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "x", "field": "mood", "label": "sad"}', "cannot be corrected"),
        ('{"text": "x", "field": "sentiment", "label": "angry"}', "must be one of"),
        ('{"text": "x", "field": "complaint", "label": "maybe"}', "true or false"),
        ("not json", "expected a JSON object"),
    ],
)
def test_bad_corrections_are_refused_with_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(TrainingDataError, match=message) as error:
        read_corrections(path)
    assert "c.jsonl:1" in str(error.value)


def test_train_command_reports_missing_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        triage, ["train", "--data", str(tmp_path), "--tier", "default", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "is missing" in result.output


def test_train_command_with_corrections(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    data_dir, annotations = tiny_data
    corrections = tmp_path / "c.jsonl"
    corrections.write_text(json.dumps({"text": TEXT, "field": "intent", "label": "idea"}) + "\n")
    result = CliRunner().invoke(
        triage,
        [
            "train",
            "--data",
            str(data_dir),
            "--annotations",
            str(annotations),
            "--tier",
            "default",
            "--out",
            str(tmp_path / "out"),
            "--with-corrections",
            str(corrections),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "default.npz").is_file()
    assert "default" in json.loads(result.output.strip().splitlines()[-1])
