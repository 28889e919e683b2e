"""Feature extraction: normalised text n-grams plus author, channel and surface cues.

`build_features` returns one scikit-learn ``ColumnTransformer`` over the canonical posts frame
(see :mod:`triage_ml.contract.validation`). Its output columns have readable names
(``get_feature_names_out``) so that the linear model's contributions can be shown as reasons.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from triage_ml.contract.params import FeaturesParams, NormaliserParams
from triage_ml.model.normalise import SpacyNormaliser

METADATA_COLUMNS = ["text", "channel", "author_followers", "author_verified"]

_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
_UPPER = re.compile(r"\b[A-Z]{3,}\b")
_HANDLE_OR_LINK = re.compile(r"@\w+|https?://\S+|www\.\S+")


_CUES = ("length_log", "exclamations", "questions", "shouted_words", "emoji")


def _surface_cues(text: pd.Series) -> dict[str, np.ndarray]:
    """Counts that the TF-IDF of lowercased tokens cannot see (shouting, !!!, emoji).

    A plain loop with Python's ``re``: the same numbers as pandas' ``.str`` methods (which use
    ``re`` semantics for these patterns too) without their fixed cost per call, which dominated
    scoring a single post. Missing text gives NaN, as before.
    """
    return _cue_columns(text.to_numpy(dtype=object, na_value=None))


def _cue_columns(values) -> dict[str, np.ndarray]:
    """:func:`_surface_cues` of a sequence of texts (``None`` for a missing one)."""
    counts = np.full((len(_CUES), len(values)), np.nan)
    for i, value in enumerate(values):
        if value is None:
            continue
        # handles and links count as one character: which account or link it is must not matter
        s = _HANDLE_OR_LINK.sub("@", value if isinstance(value, str) else str(value))
        counts[:, i] = (
            len(s),
            s.count("!"),
            s.count("?"),
            len(_UPPER.findall(s)),
            len(_EMOJI.findall(s)),
        )
    return dict(zip(_CUES, np.log1p(counts), strict=True))


def _numeric_columns(
    followers: np.ndarray, verified: np.ndarray, texts: np.ndarray
) -> dict[str, np.ndarray]:
    cols = {
        "author_followers": np.log1p(np.nan_to_num(followers, nan=0.0).clip(min=0)),
        "followers_missing": np.isnan(followers).astype(float),
        "author_verified": np.nan_to_num(verified, nan=0.0),
    }
    cols.update(_cue_columns(texts))
    return cols


class MetadataFeatures(TransformerMixin, BaseEstimator):
    """Author reach, verification, channel (one-hot) and surface cues, scaled to unit spread.

    Not centred: an absent cue is exactly 0, so it contributes nothing to a label's score and
    never shows up as a "reason" for a post that lacks it.

    Missing followers/verified are imputed with 0 plus a missing indicator, so a batch without
    author metadata is still scored (with less evidence for ``influencer``).
    """

    def __init__(self, max_channels: int = 30):
        self.max_channels = max_channels

    def _numeric(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        followers = pd.to_numeric(X["author_followers"], errors="coerce").to_numpy(dtype=float)
        verified = pd.to_numeric(X["author_verified"], errors="coerce").to_numpy(dtype=float)
        return _numeric_columns(
            followers, verified, X["text"].to_numpy(dtype=object, na_value=None)
        )

    def fit(self, X: pd.DataFrame, y=None) -> MetadataFeatures:
        numeric = self._numeric(X)
        matrix = np.column_stack(list(numeric.values()))
        std = matrix.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        counts = X["channel"].astype(str).value_counts()
        self.channels_ = list(counts.index[: self.max_channels])
        self.numeric_names_ = list(numeric)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> sparse.csr_matrix:
        return sparse.csr_matrix(self._dense(self._numeric(X), X["channel"].astype(str).to_numpy()))

    def dense_rows(
        self, followers: np.ndarray, verified: np.ndarray, texts: list[str], channels: list[str]
    ) -> np.ndarray:
        """The features of posts given as plain values (canonical: NaN for missing followers
        or verified), as a dense array: what :meth:`transform` computes, without a frame."""
        numeric = _numeric_columns(followers, verified, np.array(texts, dtype=object))
        return self._dense(numeric, np.array(channels, dtype=object))

    def _dense(self, numeric: dict[str, np.ndarray], channel: np.ndarray) -> np.ndarray:
        matrix = np.column_stack(list(numeric.values()))
        scaled = matrix / self.scale_
        onehot = np.column_stack([channel == c for c in self.channels_]).astype(float)
        return np.hstack([scaled, onehot])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        names = self.numeric_names_ + [f"channel={c}" for c in self.channels_]
        return np.array(names, dtype=object)


def make_tfidf(params: FeaturesParams, **analyzer) -> TfidfVectorizer:
    """A TF-IDF block with the settings both blocks share; ``analyzer`` says what a term is."""
    return TfidfVectorizer(
        lowercase=False,  # the normaliser already lowercased
        min_df=params.min_df,
        max_df=params.max_df,
        max_features=params.max_features,
        sublinear_tf=params.sublinear_tf,
        dtype=np.float32,
        **analyzer,
    )


def _text_vectorisers(params: FeaturesParams) -> FeatureUnion:
    word = make_tfidf(
        params, analyzer="word", token_pattern=r"\S+", ngram_range=tuple(params.word_ngrams)
    )
    blocks = [("word", word)]
    weights = {"word": 1.0}
    if params.char_weight > 0:
        char = make_tfidf(
            params, analyzer=params.char_analyzer, ngram_range=tuple(params.char_ngrams)
        )
        blocks.append(("char", char))
        weights["char"] = params.char_weight
    return FeatureUnion(blocks, transformer_weights=weights)


def word_vocabulary(features) -> frozenset[str] | None:
    """The single words of a fitted feature tree's word n-gram block (the vocabulary the model
    learnt to read), or ``None`` for a tree without that block."""
    try:
        text = features.named_transformers_["text"]
        vocabulary = dict(text.named_steps["ngrams"].transformer_list)["word"].vocabulary_
    except (AttributeError, KeyError, TypeError):
        return None
    return frozenset(term for term in vocabulary if " " not in term)


def build_features(features: FeaturesParams, normaliser: NormaliserParams) -> ColumnTransformer:
    """The feature half of the model: everything between a posts frame and the classifier."""
    text = Pipeline(
        [
            (
                "normalise",
                SpacyNormaliser(
                    model=normaliser.model,
                    lemmatize=normaliser.lemmatize,
                    mark_negation=normaliser.mark_negation,
                ),
            ),
            ("ngrams", _text_vectorisers(features)),
        ]
    )
    transformers: list = [("text", text, "text")]
    weights = {"text": 1.0}
    if features.embeddings:
        from triage_ml.model.embeddings import SentenceEmbeddings

        transformers.append(("embeddings", SentenceEmbeddings(features.embeddings), "text"))
        weights["embeddings"] = features.embeddings_weight
    if features.metadata:
        transformers.append(("meta", MetadataFeatures(), METADATA_COLUMNS))
        weights["meta"] = features.metadata_weight
    return ColumnTransformer(
        transformers,
        transformer_weights=weights,
        sparse_threshold=1.0,
        verbose_feature_names_out=True,
    )
