"""The linear model's features for a few posts given as plain values, without pandas.

Scoring one post through the fitted ``ColumnTransformer`` spends most of its time in fixed
per-call costs: building and slicing frames, scikit-learn's checks, scipy's constructors. For
the ``linear`` family the features are TF-IDF blocks over the normalised text plus
:class:`~triage_ml.model.features.MetadataFeatures`; :class:`PlainFeatures` keeps, per fitted
vectorizer, its own analyzer (``build_analyzer()``: the same tokens and n-grams), vocabulary and
IDF, and computes the same sparse row with the same arithmetic in the same order:

- counts of the vocabulary's terms, sorted by column, as ``_count_vocab`` then
  ``sort_indices`` give them, in the vectorizer's dtype;
- ``log(tf) + 1`` (sublinear), times the IDF, then the L2 norm as scikit-learn's
  ``inplace_csr_row_normalize_l2`` computes it (squares in the data's dtype, summed in double
  precision in column order, one square root, each value divided by it);
- the weights of the ``FeatureUnion`` and the ``ColumnTransformer`` applied where they apply;
- the metadata block from :meth:`MetadataFeatures.dense_rows`, zeros dropped as
  ``csr_matrix`` drops them; the blocks side by side as ``hstack`` puts them.

The result is a ``csr_matrix`` equal, index for index and bit for bit, to
:meth:`Triager.transform` of the same posts (tested), so the scores that follow are computed by
the Triager's own methods. A fitted tree of any other shape (embeddings, another vectorizer)
has no plain path: :func:`plain_features` returns ``None`` and the caller uses the general
code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import repeat

import numpy as np
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from triage_ml.model.features import METADATA_COLUMNS, MetadataFeatures
from triage_ml.model.normalise import SpacyNormaliser


@dataclass
class _Tfidf:
    """One fitted TF-IDF block, reduced to what its transform reads."""

    analyze: object
    vocabulary: dict
    dtype: np.dtype
    binary: bool
    sublinear: bool
    idf: np.ndarray | None
    l2: bool
    union_weight: float | None
    width: int

    def rows(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR arrays (row of each value, column, value) of the block for ``docs``."""
        get = self.vocabulary.get
        rows, cols, counts = [], [], []
        for i, doc in enumerate(docs):
            seen = Counter(self.analyze(doc))
            idx = np.fromiter(map(get, seen, repeat(-1)), dtype=np.int64, count=len(seen))
            n = np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
            known = idx >= 0
            idx, n = idx[known], n[known]
            order = np.argsort(idx)
            cols.append(idx[order])
            counts.append(n[order])
            rows.append(np.full(len(order), i, dtype=np.int64))
        col = np.concatenate(cols)
        data = np.concatenate(counts).astype(self.dtype)
        if self.binary:
            data.fill(1)
        if data.dtype not in (np.float64, np.float32):
            data = data.astype(np.float64)
        if self.sublinear:
            np.log(data, data)
            data += 1.0
        if self.idf is not None:
            data *= self.idf[col]
        row = np.concatenate(rows)
        if self.l2:
            ends = np.cumsum([len(c) for c in cols]).tolist()
            for start, end in zip([0, *ends[:-1]], ends, strict=True):
                if end == start:
                    continue
                part = data[start:end]
                # as scikit-learn's Cython: the square in the data's dtype, the sum in double
                # precision, added in column order (accumulate is sequential, never pairwise)
                total = np.add.accumulate((part * part).astype(np.float64))[-1]
                if total == 0.0:
                    continue
                data[start:end] = part.astype(np.float64) / np.sqrt(total)
        if self.union_weight is not None:
            data = data * self.union_weight
        return row, col, data


@dataclass
class PlainFeatures:
    """A linear Triager's fitted features, ready to compute rows from plain values."""

    normaliser: SpacyNormaliser
    tfidf: list[_Tfidf]
    text_dtype: np.dtype
    text_weight: float | None
    text_offset: int
    meta: MetadataFeatures | None
    meta_weight: float | None
    meta_offset: int
    width: int
    order: list[str]  # "text" and "meta" in the ColumnTransformer's order

    def transform(
        self,
        texts: list[str],
        followers: np.ndarray,
        verified: np.ndarray,
        channels: list[str],
        docs: list[str] | None = None,
    ) -> sparse.csr_matrix:
        """The feature rows of canonical posts (as :meth:`Triager.transform` gives them);
        ``docs``: the texts already normalised by ``self.normaliser``, when the caller has them."""
        n = len(texts)
        blocks = {}
        if docs is None:
            docs = list(self.normaliser.transform(texts))
        parts, offset = [], self.text_offset
        for block in self.tfidf:
            row, col, data = block.rows(docs)
            parts.append((row, col + offset, data))
            offset += block.width
        row = np.concatenate([p[0] for p in parts])
        col = np.concatenate([p[1] for p in parts])
        data = np.concatenate([p[2] for p in parts]).astype(self.text_dtype, copy=False)
        if self.text_weight is not None:
            data = data * self.text_weight
        blocks["text"] = (row, col, data)
        if self.meta is not None:
            dense = self.meta.dense_rows(followers, verified, texts, channels)
            r, c = np.nonzero(dense)
            values = dense[r, c]
            if self.meta_weight is not None:
                values = values * self.meta_weight
            blocks["meta"] = (r.astype(np.int64), c + self.meta_offset, values)
        ordered = [blocks[name] for name in self.order]
        row = np.concatenate([b[0] for b in ordered])
        col = np.concatenate([b[1] for b in ordered])
        dtype = np.result_type(*(b[2].dtype for b in ordered))
        data = np.concatenate([b[2].astype(dtype, copy=False) for b in ordered])
        sort = np.lexsort((col, row))  # by post, then column: hstack's layout
        indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
        return sparse.csr_matrix(
            (data[sort], col[sort].astype(np.int32), indptr),
            shape=(n, self.width),
        )


def _weight(weights: dict | None, name: str) -> float | None:
    return None if weights is None else weights.get(name)


def _tfidf_block(vectorizer, union_weight: float | None) -> _Tfidf | None:
    if type(vectorizer) is not TfidfVectorizer:
        return None
    tfidf = getattr(vectorizer, "_tfidf", None)
    if tfidf is None or tfidf.norm not in ("l2", None):
        return None
    return _Tfidf(
        analyze=vectorizer.build_analyzer(),
        vocabulary=vectorizer.vocabulary_,
        dtype=np.dtype(vectorizer.dtype),
        binary=bool(vectorizer.binary),
        sublinear=bool(tfidf.sublinear_tf),
        idf=tfidf.idf_ if hasattr(tfidf, "idf_") else None,
        l2=tfidf.norm == "l2",
        union_weight=union_weight,
        width=len(vectorizer.vocabulary_),
    )


def _text_blocks(pipeline) -> tuple[SpacyNormaliser, list[_Tfidf]] | None:
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return None
    (_, normaliser), (_, union) = pipeline.steps
    if type(normaliser) is not SpacyNormaliser or not isinstance(union, FeatureUnion):
        return None
    blocks = []
    for name, vectorizer in union.transformer_list:
        block = _tfidf_block(vectorizer, _weight(union.transformer_weights, name))
        if block is None:
            return None
        blocks.append(block)
    return (normaliser, blocks) if blocks else None


def build_plain_features(features) -> PlainFeatures | None:
    """The plain path of a fitted feature tree, or ``None`` when its shape has none."""
    if not isinstance(features, ColumnTransformer) or not getattr(
        features, "sparse_output_", False
    ):
        return None
    text = meta = None
    order: list[str] = []
    offset = text_offset = meta_offset = 0
    text_weight = meta_weight = None
    for name, trans, columns in features.transformers_:
        if isinstance(trans, str):
            if trans == "drop":
                continue
            return None
        weight = _weight(features.transformer_weights, name)
        if columns == "text" and text is None:
            text = _text_blocks(trans)
            if text is None:
                return None
            text_offset, text_weight = offset, weight
            offset += sum(b.width for b in text[1])
            order.append("text")
        elif type(trans) is MetadataFeatures and list(columns) == METADATA_COLUMNS:
            meta, meta_offset, meta_weight = trans, offset, weight
            offset += len(trans.get_feature_names_out())
            order.append("meta")
        else:
            return None
    if text is None:
        return None
    normaliser, tfidf = text
    return PlainFeatures(
        normaliser=normaliser,
        tfidf=tfidf,
        text_dtype=np.result_type(*(b.dtype for b in tfidf)),
        text_weight=text_weight,
        text_offset=text_offset,
        meta=meta,
        meta_weight=meta_weight,
        meta_offset=meta_offset,
        width=offset,
        order=order,
    )


def _cached(triager, name: str, key: tuple, build):
    """``build()``, kept on the Triager under ``name`` while the objects in ``key`` are the
    same ones (a copy given other coefficients or features builds its own)."""
    held = triager.__dict__.get(name)
    if (
        held is None
        or len(held[0]) != len(key)
        or any(a is not b for a, b in zip(held[0], key, strict=True))
    ):
        held = (key, build())
        triager.__dict__[name] = held
    return held[1]


def plain_features(triager) -> PlainFeatures | None:
    """The Triager's plain feature path, built once per loaded model; ``None`` for the
    encoder family and for feature trees of another shape."""
    if triager.encoder is not None:
        return None
    features = triager.features
    return _cached(triager, "_plain_features", (features,), lambda: build_plain_features(features))


def score_plain(
    triager,
    plain: PlainFeatures,
    texts: list[str],
    followers: np.ndarray,
    verified: np.ndarray,
    channels: list[str],
    with_reasons: bool = True,
    docs: list[str] | None = None,
):
    """:meth:`Triager.score` of canonical posts given as plain values (linear family): the
    same feature rows, then the Triager's own decision, calibration, thresholds and urgency."""
    from triage_ml.model.triager import LabelScores

    X = plain.transform(texts, followers, verified, channels, docs)
    proba = triager.calibrate(_decision(triager, X))
    predicted, unsure = triager.decide(proba)
    if with_reasons:
        reasons = explain_rows(triager, X, predicted, followers)
    else:
        reasons = [[] for _ in range(len(proba))]
    triager._flag_unreadable(texts, X, unsure, reasons, with_reasons)
    urgency = triager.predict_urgency(X, None)
    return LabelScores(proba, predicted, unsure, urgency, reasons)


def _decision(triager, X: sparse.csr_matrix) -> np.ndarray:
    """:meth:`Triager.decision` with the transposed coefficients kept in C order: scipy's
    product reads them raveled, and ``coef_.T`` is a view it would copy on every call. The
    same values in the same layout, so the same sums."""
    coef = triager.coef_
    coef_t = _cached(triager, "_coef_t", (coef,), lambda: np.ascontiguousarray(coef.T))
    return np.asarray(X @ coef_t) + triager.intercept_


def explain_rows(triager, X: sparse.csr_matrix, predicted: np.ndarray, followers: np.ndarray):
    """:meth:`Triager.explain` on the arrays of ``X``: each contribution is the same product
    and difference (``x_j * w_j - (w * mean)_j``), ranked by the same ``argsort`` over the
    post's columns in the same order, so ties fall the same way."""
    from triage_ml.model.triager import REASONS_PER_LABEL

    coef, mean = triager.coef_, triager.feature_mean_
    centre = None
    if mean is not None:
        centre = _cached(triager, "_coef_times_mean", (coef, mean), lambda: coef * mean)
    reasons: list[list[dict]] = [[] for _ in range(X.shape[0])]
    for k, label in enumerate(triager.labels):
        for row in np.flatnonzero(predicted[:, k]):
            start, end = X.indptr[row], X.indptr[row + 1]
            cols, x = X.indices[start:end], X.data[start:end]
            values = x * coef[k][cols]
            if centre is not None:
                values -= centre[k][cols]
            keep = values > 0
            values, kept, xs = values[keep], cols[keep], x[keep]
            for j in np.argsort(-values)[:REASONS_PER_LABEL]:
                follower = None if followers is None else followers[row]
                signal = triager.signal_text(kept[j], xs[j], follower)
                reasons[row].append(
                    {"label": label, "signal": signal, "weight": round(float(values[j]), 3)}
                )
    return reasons
