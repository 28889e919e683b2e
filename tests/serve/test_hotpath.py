"""The single-post fast paths added for serving give exactly what the general code gives.

Scoring one post used to spend most of its time in fixed per-call costs (scikit-learn's
transform dispatch, pandas string methods); the fast paths skip them. These tests pin them
to the reference computations, bit for bit.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from triage_ml.contract import fastpath
from triage_ml.contract.errors import DataError
from triage_ml.contract.validation import validate_posts
from triage_ml.model.features import _EMOJI, _HANDLE_OR_LINK, _UPPER, _surface_cues

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
    got, got_null = fastpath._strings(values)
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


# -- validate_posts: the small-batch path gives what the general checks give ----------------

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]
_missing = st.sampled_from([None, float("nan")])
_ids = st.one_of(
    st.text(max_size=6),
    st.integers(min_value=-5, max_value=10**6),
    st.sampled_from(["a", "a ", " a", "007", ""]),
    st.floats(min_value=-1e6, max_value=1e6),  # beyond int64 the general path fails
)
_texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["  ", "x" * 10_000, " " + "x" * 10_000 + " ", "x" * 10_001, "ok"]),
    _missing,
    st.integers(0, 5),
)
_created = st.one_of(
    _missing,
    st.sampled_from(
        [
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00+02:00",
            "2026-11-22 10:00",
            "2026-11-22",
            "  2026-11-22T10:00:00Z ",
            "yesterday",
            "",
            "2026-13-40",
        ]
    ),
    st.text(max_size=5),
)
_channels = st.one_of(
    _missing,
    st.sampled_from(["twitter", " Twitter ", "", "  ", "FORUM", "Ünïcode", "İ"]),
    st.text(max_size=5),
    st.integers(0, 3),
)
_followers = st.one_of(
    _missing,
    st.integers(-3, 10**7),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["12", "many", True, 2**60]),
)
_verified = st.one_of(_missing, st.booleans(), st.sampled_from(["true", "no", 1, 0, 2, 1.0]))
_OPTIONAL = {
    "created_at": _created,
    "channel": _channels,
    "author_followers": _followers,
    "author_verified": _verified,
}


# what a helpdesk usually sends: the small-batch path should take these
_ORDINARY = {
    "id": st.one_of(st.text(min_size=1, max_size=6).filter(str.strip), st.integers(0, 10**9)),
    "text": st.text(min_size=1, max_size=40).filter(str.strip),
    "created_at": st.one_of(
        st.none(), st.sampled_from(["2026-11-22T10:00:00Z", "2026-01-02T03:04:05+01:00"])
    ),
    "channel": st.one_of(st.none(), st.sampled_from(["twitter", " Forum ", "EMAIL", ""])),
    "author_followers": st.one_of(st.none(), st.integers(0, 10**9)),
    "author_verified": st.one_of(st.none(), st.booleans()),
}


@st.composite
def _small_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 6))
    optional = draw(st.lists(st.sampled_from(sorted(_OPTIONAL)), unique=True))
    pick = _ORDINARY if draw(st.booleans()) else {"id": _ids, "text": _texts, **_OPTIONAL}
    columns = {"id": draw(st.lists(pick["id"], min_size=n, max_size=n, unique_by=str))}
    columns["text"] = draw(st.lists(pick["text"], min_size=n, max_size=n))
    for name in optional:
        columns[name] = draw(st.lists(pick[name], min_size=n, max_size=n))
    if draw(st.booleans()):  # as the service builds it: one list per column
        return pd.DataFrame(columns)
    rows = zip(*columns.values(), strict=True)
    return pd.DataFrame.from_records([dict(zip(columns, row, strict=True)) for row in rows])


def _outcome(frame: pd.DataFrame):
    try:
        return validate_posts(frame, label_set=LABELS, source="<request>")
    except DataError as err:
        return str(err)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_small_frames())
def test_small_batches_validate_exactly_like_the_general_checks(frame: pd.DataFrame) -> None:
    fast = _outcome(frame.copy())
    with mock.patch.object(fastpath, "_SMALL_BATCH", 0):  # the general path only
        general = _outcome(frame.copy())
    if isinstance(general, str):
        assert fast == general
        return
    assert not isinstance(fast, str), fast
    pd.testing.assert_frame_equal(fast[0], general[0], check_exact=True)
    assert fast[1] == general[1]


def test_small_batch_path_is_taken_for_ordinary_posts() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b"],
            "text": [" hello ", "world"],
            "created_at": ["2026-11-22T10:00:00Z", None],
            "channel": ["Twitter", None],
            "author_followers": [12, None],
            "author_verified": [True, None],
        }
    )
    fast = fastpath._valid_small_batch(frame, LABELS, "<request>")
    assert fast is not None
    assert list(fast[0]["channel"]) == ["twitter", "unknown"]
