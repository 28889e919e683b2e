"""The single-post fast paths added for serving give exactly what the general code gives.

Scoring one post used to spend most of its time in fixed per-call costs (scikit-learn's
transform dispatch, pandas string methods); the fast paths skip them. These tests pin them
to the reference computations, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from triage_ml import data
from triage_ml.features import _EMOJI, _HANDLE_OR_LINK, _UPPER, _surface_cues

TRICKY = [
    "ÉTÉ ABC déjà VU",
    "éABC def",
    "Straße ÖÖÖ AAA!!",
    "@user ABC http://x.y/z?a=1 www.foo.com ??",
    "😀😀 ☀ ✂ NOT GOOD!!!\nABC",
    "a\x0bBCD EFG",
    "\u00a0ABC\u2003",
    "ABCabc ABC_DEF ABC1 1ABC",
    "İSTANBUL ǅABC",
    "??!!?!",
    "🏳️‍🌈 ABC",
    " ",
]


def _reference_cues(text: pd.Series) -> dict[str, np.ndarray]:
    """The original pandas implementation of the surface cues."""
    text = text.astype(str).str.replace(_HANDLE_OR_LINK, "@", regex=True)
    return {
        "length_log": np.log1p(text.str.len().to_numpy(dtype=float)),
        "exclamations": np.log1p(text.str.count("!").to_numpy(dtype=float)),
        "questions": np.log1p(text.str.count(r"\?").to_numpy(dtype=float)),
        "shouted_words": np.log1p(text.str.count(_UPPER).to_numpy(dtype=float)),
        "emoji": np.log1p(text.str.count(_EMOJI).to_numpy(dtype=float)),
    }


def _reference_strings(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    null = series.isna().to_numpy()
    out = series.astype("str").where(~null).str.strip()
    null = null | (out.fillna("") == "").to_numpy()
    return out.where(~null), null


@pytest.mark.parametrize("dtype", ["str", object])
def test_surface_cues_match_the_pandas_reference(sample_history, dtype) -> None:
    texts = pd.concat([sample_history["text"].head(400), pd.Series(TRICKY)], ignore_index=True)
    texts = texts.astype(dtype)
    expected, got = _reference_cues(texts), _surface_cues(texts)
    assert list(expected) == list(got)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_surface_cues_keep_missing_text_missing() -> None:
    texts = pd.Series(["ABC!", None, 5], dtype=object)
    for name, values in _reference_cues(texts).items():
        np.testing.assert_array_equal(_surface_cues(texts)[name], values, err_msg=name)


@pytest.mark.parametrize(
    "values",
    [
        pd.Series(["a", " b ", "", "  ", None, "\x1c x \u3000"], dtype="str"),
        pd.Series(["a", None, np.nan, " x", 3, 2.5, True], dtype=object),
        pd.Series([" a", "b"], dtype=object),
        pd.Series([1.0, np.nan]),
        pd.Series([], dtype="str"),
        pd.Series(["x", "y"], index=[5, 7], dtype="str"),
        pd.Series([pd.NA, "x"], dtype=object),
    ],
)
def test_small_batch_strings_match_the_reference(values: pd.Series) -> None:
    got, got_null = data._strings(values)
    expected, expected_null = _reference_strings(values)
    np.testing.assert_array_equal(got_null, expected_null)
    pd.testing.assert_series_equal(got, expected)


@pytest.mark.parametrize("n", [1, 2, 17, 300])
def test_direct_transform_equals_the_column_transformer(triager, canonical_history, n) -> None:
    posts = canonical_history.head(n).reset_index(drop=True)
    expected = sparse.csr_matrix(triager.features.transform(posts))
    got = triager.transform(posts)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


def test_unknown_steps_fall_back_to_scikit_learn(triager, canonical_history) -> None:
    import copy

    from sklearn.compose import ColumnTransformer

    posts = canonical_history.head(5).reset_index(drop=True)
    odd = copy.copy(triager)
    features = copy.deepcopy(triager.features)
    features.sparse_output_ = False  # a dense ColumnTransformer: not on the direct path
    odd.features = features
    assert isinstance(odd.features, ColumnTransformer)
    np.testing.assert_allclose(
        odd.transform(posts).toarray(), np.asarray(features.transform(posts)), rtol=0, atol=0
    )
