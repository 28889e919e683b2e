"""The fitted feature pipeline applied without scikit-learn's per-call overhead.

For one post, scikit-learn's checks and joblib dispatch cost more than the features
themselves; this module walks the fitted ColumnTransformer / Pipeline / FeatureUnion tree and
does the same arithmetic in the same order, so the output is bit-identical (tested). A step it
does not know raises :class:`NoFastPath` and the caller falls back to ``transform``.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize


class NoFastPath(Exception):
    """A fitted step the direct transform does not know: use scikit-learn's own transform."""


def _weighted(result, weights: dict | None, name: str):
    weight = None if weights is None else weights.get(name)
    return result if weight is None else result * weight


def transform_fitted(step, X):
    """Apply a fitted ColumnTransformer / Pipeline / FeatureUnion tree step by step.

    The same arithmetic as their ``transform`` (same blocks, weights and stacking, so the
    output is identical), without scikit-learn's per-call checks and joblib dispatch, which
    cost more than the features themselves for a single post.
    """
    if isinstance(step, ColumnTransformer):
        if not getattr(step, "sparse_output_", False):
            raise NoFastPath
        blocks = []
        for name, trans, columns in step.transformers_:
            if isinstance(trans, str):
                if trans == "drop":
                    continue
                raise NoFastPath  # passthrough columns need sklearn's dtype conversion
            if isinstance(columns, list | tuple | np.ndarray) and len(columns) == 0:
                continue
            result = transform_fitted(trans, X[columns])
            blocks.append(sparse.csr_matrix(_weighted(result, step.transformer_weights, name)))
        return sparse.hstack(blocks).tocsr()
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            if inner is None or isinstance(inner, str):
                if inner in (None, "passthrough"):
                    continue
                raise NoFastPath
            X = transform_fitted(inner, X)
        return X
    if type(step) is TfidfVectorizer:
        return tfidf_transform(step, X)
    if isinstance(step, FeatureUnion):
        blocks = []
        for name, trans in step.transformer_list:
            if isinstance(trans, str):
                raise NoFastPath
            blocks.append(_weighted(transform_fitted(trans, X), step.transformer_weights, name))
        if not all(sparse.issparse(b) for b in blocks):
            raise NoFastPath
        return sparse.hstack(blocks).tocsr()
    return step.transform(X)


def tfidf_transform(vectorizer: TfidfVectorizer, docs) -> sparse.csr_matrix:
    """``TfidfVectorizer.transform`` without its input validation: the same counting, the same
    in-place arithmetic in the same order (scikit-learn 1.5-1.9), so the same numbers."""
    try:
        _, X = vectorizer._count_vocab(docs, fixed_vocab=True)
        tfidf = vectorizer._tfidf
    except AttributeError:  # private API moved: use the public transform
        return vectorizer.transform(docs)
    if vectorizer.binary:
        X.data.fill(1)
    X = sparse.csr_matrix(X)
    if X.dtype not in (np.float64, np.float32):
        X = X.astype(np.float64)
    if tfidf.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1.0
    if hasattr(tfidf, "idf_"):
        X.data *= tfidf.idf_[X.indices]
    if tfidf.norm is not None:
        X = normalize(X, norm=tfidf.norm, copy=False)
    return X
