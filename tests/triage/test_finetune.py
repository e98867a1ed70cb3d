"""Fine-tuning the accurate tier's encoder and shipping it as int8 ONNX.

The weight quantisation needs only onnx; fine-tuning needs PyTorch, transformers and the stock
fp32 weights (the finetune extras, which CI installs with PyTorch's CPU build).
"""

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="exporting the encoder needs onnx (finetune extras)")
onnxruntime = pytest.importorskip("onnxruntime", reason="the accurate tier needs onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from socialdesk.triage.finetune import (  # noqa: E402
    FineTuneSet,
    FineTuneUnavailable,
    fine_tune,
    fine_tune_encoder,
    quantize_weights,
    stock_model_dir,
)

COMPLAINTS = [
    "my parcel never arrived and nobody answers the phone",
    "third time my train is cancelled this week, absolutely useless",
    "you charged me twice and the refund still has not come",
    "the app crashes every time i try to pay",
]
OTHERS = [
    "thanks so much, the crew today were lovely",
    "what time does the store on main street open on sunday",
    "great service at the airport this morning",
    "do you ship to canada",
]


def test_a_fine_tune_set_says_what_is_wrong_with_it() -> None:
    with pytest.raises(ValueError, match="2 texts, 1 labels and 2 weights"):
        FineTuneSet(["a", "b"], [True], [1.0, 1.0])
    with pytest.raises(ValueError, match="needs complaints and non-complaints"):
        FineTuneSet(["a", "b"], [True, True], [1.0, 1.0])


def test_weights_are_stored_as_int8_and_the_model_computes_as_before() -> None:
    rng = np.random.RandomState(0)
    weight = rng.normal(size=(64, 96)).astype(np.float32)
    weight[:, 5] *= 40  # a column with a much larger range keeps its own scale
    table = rng.normal(size=(100, 64)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["rows"]),
            helper.make_node("MatMul", ["rows", "weight"], ["out"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 96])],
        initializer=[
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(weight, "weight"),
            numpy_helper.from_array(np.ones(8, np.float32), "small"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert quantize_weights(model) == 2
    onnx.checker.check_model(model)
    stored = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert stored["weight.int8"].dtype == np.int8
    assert stored["weight.scale"].shape == (96,)  # one scale per output column
    assert stored["table.scale"].shape == (100,)  # one per embedding row
    assert stored["small"].dtype == np.float32  # vectors stay float
    assert not {"weight", "table"} & set(stored)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    ids = np.asarray([3, 7, 99], dtype=np.int64)
    (out,) = session.run(None, {"ids": ids})
    expected = table[ids] @ weight
    # Rounding each weight to 1/254 of its column's range: about 1 % of the output's scale.
    assert np.abs(out - expected).max() < 0.02 * np.abs(expected).max()


def test_fine_tuning_moves_the_encoder_and_the_export_runs_like_the_stock_model(
    tmp_path: Path,
) -> None:
    torch = pytest.importorskip("torch", reason="fine-tuning needs PyTorch (finetune extras)")
    pytest.importorskip("transformers", reason="fine-tuning needs transformers")
    try:
        stock_model_dir()
    except FineTuneUnavailable as error:
        pytest.skip(str(error))
    from socialdesk.triage.embeddings import MiniLMEncoder, load_tokenizer
    from socialdesk.triage.finetune import _batch, _mean_pool

    data = FineTuneSet(
        COMPLAINTS + OTHERS, [True] * len(COMPLAINTS) + [False] * len(OTHERS), [1.0] * 8
    )
    logs: list[str] = []
    path = fine_tune_encoder(data, tmp_path / "encoder.onnx", epochs=3, log=logs.append)
    assert any("epoch 3/3" in line for line in logs)
    assert path.stat().st_size < 30_000_000  # int8 weights: about a quarter of fp32

    texts = [*COMPLAINTS, *OTHERS, "ok"]
    tuned = MiniLMEncoder(path)
    together = tuned.encode(texts, batch_size=16)
    # A text's vector does not depend on its batch neighbours.
    alone = np.vstack([tuned.encode([text]) for text in texts])
    assert np.abs(together - alone).max() < 1e-5
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)

    # The int8 export gives what the fine-tuned network itself gives.
    network = fine_tune(data, epochs=3)
    with torch.no_grad():
        inputs = _batch(torch, load_tokenizer(), texts)
        reference = _mean_pool(torch, network(**inputs).last_hidden_state, inputs).numpy()
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    assert (together * reference).sum(axis=1).min() > 0.99
    # Seeded, on a fixed number of threads: training again gives the same weights, bit for bit.
    again = fine_tune(data, epochs=3)
    for (name, first), (_, second) in zip(
        network.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(first, second), name

    # And it learned: complaints sit closer to complaints, and the rest to the rest, than in the
    # stock model (by about 0.03 after three passes over eight texts).
    stock = MiniLMEncoder().encode(texts)
    assert _separation(together[:8]) > _separation(stock[:8]) + 0.01


def _separation(vectors: np.ndarray) -> float:
    """Mean cosine within the two classes (first four, last four) minus the mean across them."""
    similar = vectors @ vectors.T
    within = ~np.eye(4, dtype=bool)
    inside = (similar[:4, :4][within].mean() + similar[4:, 4:][within].mean()) / 2
    return float(inside - similar[:4, 4:].mean())
