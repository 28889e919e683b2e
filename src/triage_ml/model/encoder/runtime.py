"""Torch-free scoring of a fine-tuned encoder exported to ONNX (the ``encoder`` extra).

Only numpy, onnxruntime and tokenizers are needed here, so a scoring install
stays small (no torch / transformers).  The model artefact is three plain
objects - ONNX bytes, the tokenizer JSON and a JSON-serialisable config - so it
can be stored next to the rest of a triage-ml model without pickling torch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit, softmax

__all__ = ["EncoderRuntime", "pad_batch", "quantize_int8"]


def pad_batch(ids: list[np.ndarray], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad token id arrays to the longest one; returns (input_ids, attention_mask) int64.

    Vectorised through a boolean mask so there is no per-row Python work
    beyond concatenation.
    """
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    width = int(lengths.max()) if len(ids) else 0
    mask = np.arange(width)[None, :] < lengths[:, None]
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    if len(ids):
        input_ids[mask] = np.concatenate(ids).astype(np.int64, copy=False)
    return input_ids, mask.astype(np.int64)


class EncoderRuntime:
    """Scores texts (+ metadata) with an exported encoder graph.

    Parameters
    ----------
    onnx_bytes : serialized ONNX model with inputs ``input_ids``,
        ``attention_mask`` (int64, batch x seq) and ``meta`` (float32,
        batch x m) and outputs ``label_logits`` (batch x L), ``urgency`` (batch,).
    tokenizer_json : HF ``tokenizers`` JSON of the base model.
    config : JSON-serialisable dict written by ``fine_tune`` (``max_length``,
        ``label_names``, ``exclusive``, ``n_meta``, ``meta_mean``, ``meta_scale``...).
    threads : intra-op threads for onnxruntime; default ``os.cpu_count()``.
    batch_size : rows per onnx call for ``logits``.

    The onnxruntime session and tokenizer are created lazily and are not
    pickled, so the object can travel inside a joblib/pickle model file.
    """

    def __init__(
        self,
        onnx_bytes: bytes,
        tokenizer_json: str,
        config: dict[str, Any],
        *,
        threads: int | None = None,
        batch_size: int = 64,
    ) -> None:
        self.onnx_bytes = onnx_bytes
        self.tokenizer_json = tokenizer_json
        self.config = dict(config)
        self.threads = threads
        self.batch_size = batch_size
        self._session = None
        self._tokenizer = None

    # -- properties ---------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return list(self.config["label_names"])

    @property
    def exclusive(self) -> bool:
        return bool(self.config["exclusive"])

    @property
    def n_meta(self) -> int:
        return int(self.config.get("n_meta", 0))

    # -- pickling -----------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_session"] = None  # native handles cannot be pickled; rebuilt lazily
        state["_tokenizer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- lazy resources -----------------------------------------------------
    @property
    def session(self):
        """The onnxruntime InferenceSession, created on first use."""
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = int(self.threads or os.cpu_count() or 1)
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(
                self.onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"]
            )
        return self._session

    def quantized(self) -> EncoderRuntime:
        """The same encoder with dynamic int8 weights (smaller and faster on CPU)."""
        config = {**self.config, "quantized": "int8-dynamic"}
        return EncoderRuntime(
            quantize_int8(self.onnx_bytes),
            self.tokenizer_json,
            config,
            threads=self.threads,
            batch_size=self.batch_size,
        )

    def set_threads(self, threads: int | None) -> None:
        """Change the thread count; the session is rebuilt on next use."""
        self.threads = threads
        self._session = None

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(self.tokenizer_json)
            tok.no_padding()  # we pad per batch ourselves (dynamic padding)
            tok.enable_truncation(max_length=int(self.config["max_length"]))
            self._tokenizer = tok
        return self._tokenizer

    # -- core ---------------------------------------------------------------
    def encode(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids per text (truncated to ``max_length``, unpadded)."""
        encs = self.tokenizer.encode_batch(list(texts))
        return [np.asarray(e.ids, dtype=np.int64) for e in encs]

    def _prepare_meta(self, meta: np.ndarray | None, n: int) -> np.ndarray:
        m = self.n_meta
        if meta is None:
            if m:
                raise ValueError(f"model expects {m} metadata columns, got None")
            return np.zeros((n, 0), dtype=np.float32)
        meta = np.asarray(meta, dtype=np.float32).reshape(n, -1)
        if meta.shape[1] != m:
            raise ValueError(f"model expects {m} metadata columns, got {meta.shape[1]}")
        if m:
            mean = np.asarray(self.config["meta_mean"], dtype=np.float32)
            scale = np.asarray(self.config["meta_scale"], dtype=np.float32)
            meta = (meta - mean) / scale
        return np.nan_to_num(meta, nan=0.0).astype(np.float32, copy=False)

    def _run_ids(
        self, ids: list[np.ndarray], meta: np.ndarray, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run sorted-by-length, dynamically padded batches; restore input order."""
        n = len(ids)
        n_labels = len(self.config["label_names"])
        logits = np.empty((n, n_labels), dtype=np.float32)
        urgency = np.empty(n, dtype=np.float32)
        if n == 0:
            return logits, urgency
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        sess = self.session
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            input_ids, attn = pad_batch([ids[i] for i in idx], int(self.config.get("pad_id", 0)))
            out_l, out_u = sess.run(
                ["label_logits", "urgency"],
                {"input_ids": input_ids, "attention_mask": attn, "meta": meta[idx]},
            )
            logits[idx] = out_l
            urgency[idx] = out_u.reshape(-1)
        return logits, urgency

    def logits(
        self, texts: list[str], meta: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Label logits (n x L) and urgency in [0, 1] (n,)."""
        texts = list(texts)
        meta = self._prepare_meta(meta, len(texts))
        return self._run_ids(self.encode(texts), meta, self.batch_size)

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """Softmax for exclusive label sets, independent sigmoids otherwise."""
        return softmax(logits, axis=1) if self.exclusive else expit(logits)

    def predict_proba(self, texts: list[str], meta: np.ndarray | None = None) -> np.ndarray:
        return self.proba_from_logits(self.logits(texts, meta)[0])


def quantize_int8(onnx_bytes: bytes) -> bytes:
    """Dynamic int8 weight quantisation (MatMul/Gemm) for faster CPU scoring."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process goes to the root logger
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            src.write_bytes(onnx_bytes)
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
            return dst.read_bytes()
    finally:
        root.setLevel(level)
