"""The plain path of scoring (a few posts as JSON objects, no pandas) gives what the general
path gives: the same feature rows and probabilities bit for bit, the same labels, tiers,
deadlines and reasons, the same canonical values, and ``None`` wherever it does not apply.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract.fastpath import plain_posts
from triage_ml.contract.validation import validate_posts
from triage_ml.decide.playbook import parse_playbook
from triage_ml.decide.scoring import score_posts, score_records
from triage_ml.model.compiled import build_plain_features, plain_features, score_plain
from triage_ml.synthetic.generator import generate_sample

NOW = pd.Timestamp("2026-12-01T09:30:15.250Z")
FIELDS = ("id", "text", "created_at", "channel", "author_followers", "author_verified")

EDGE_POSTS = [
    {"id": "e-1", "text": "😀😀😀"},
    {"id": "e-2", "text": "!!!"},
    {"id": "e-3", "text": "   a   ", "channel": "  Twitter "},
    {"id": "e-4", "text": "http://example.com/x?y=1", "channel": ""},
    {"id": "e-5", "text": "@someone", "author_followers": 0, "author_verified": False},
    {"id": 6, "text": "sooooo BAD!!! never again 😡😡 #fail#now", "author_followers": 2**53},
    {"id": "e-7", "text": "Ça ne marche pas, ÉTÉ déjà fini. Remboursez-moi maintenant!"},
    {
        "id": "e-8",
        "text": "Das Paket ist seit zwei Wochen nicht angekommen und niemand antwortet mir",
    },
    {"id": "e-9", "text": "&lt;b&gt;refund&lt;/b&gt; &amp; now\tplease\nthanks"},
    {"id": "e-10", "text": "I can't log in, it won't work and I ain't happy", "created_at": None},
    {"id": "e-11", "text": "price for 20 seats? call 0123456789", "created_at": "2026-11-22"},
    {"id": "e-12", "text": "love it", "created_at": "2026-11-22T23:59:59.123456Z"},
    {"id": "e-13", "text": "broken again", "created_at": "2026-11-22T10:00:00+05:30"},
    {"id": "e-14", "text": "broken again", "created_at": "2026-11-22 10:00"},
    {"id": "e-15", "text": "broken again", "created_at": " 2026-11-22T10:00:00-08:00 "},
    {"id": "e-16", "text": "x " * 4000 + "terrible service, cancel my order", "channel": "forum"},
    {"id": "e-17", "text": "great product " * 600, "author_followers": 48200.0},
    {"id": "e-18", "text": "1", "author_verified": True, "author_followers": 1_250_000},
    {"id": "e-19", "text": "🏳️‍🌈 ✂ ☀ 🤷🏽‍♀️", "channel": "instagram"},
    {"id": "e-20", "text": "WHY IS NOBODY ANSWERING??? ORDER #12345 STILL MISSING"},
]


def _json_posts(rows: int, seed: int) -> list[dict]:
    """Generated posts as a helpdesk sends them: JSON types, some fields left out."""
    frame = generate_sample(rows, seed=seed)
    posts = []
    for i, row in enumerate(frame[list(FIELDS)].astype(object).to_dict("records")):
        post = {k: v for k, v in row.items() if v is not None and v == v}
        post["id"] = str(post["id"])
        post["created_at"] = pd.Timestamp(post["created_at"]).strftime("%Y-%m-%dT%H:%M:%SZ")
        if "author_followers" in post:
            post["author_followers"] = int(post["author_followers"])
        if "author_verified" in post:
            post["author_verified"] = bool(post["author_verified"])
        if i % 7 == 0:  # no metadata at all
            post = {"id": post["id"], "text": post["text"]}
        elif i % 11 == 0:
            post.pop("created_at")
        posts.append(post)
    return posts


@pytest.fixture(scope="module")
def posts() -> list[dict]:
    return _json_posts(300, seed=11) + EDGE_POSTS


def _batches(posts: list[dict]) -> list[list[dict]]:
    singles = [[p] for p in posts]
    return singles + [posts[i : i + 7] for i in range(0, len(posts), 7)]


def _canonical(bundle, batch: list[dict]) -> pd.DataFrame:
    frame, _ = validate_posts(pd.DataFrame(batch), label_set=bundle.labels)
    return frame


def test_the_plain_posts_are_the_canonical_frame(bundle, posts) -> None:
    for batch in _batches(posts):
        plain = plain_posts(batch)
        assert plain is not None, batch
        frame = _canonical(bundle, batch)
        assert plain.ids == frame["id"].tolist()
        assert plain.texts == frame["text"].tolist()
        assert plain.channels == frame["channel"].tolist()
        np.testing.assert_array_equal(plain.followers, frame["author_followers"].to_numpy())
        np.testing.assert_array_equal(plain.verified, frame["author_verified"].to_numpy())
        created = [None if pd.isna(t) else t.to_pydatetime() for t in frame["created_at"]]
        assert plain.created_at == created


def test_the_feature_rows_are_identical(bundle, posts) -> None:
    triager = bundle.triager
    plain = plain_features(triager)
    assert plain is not None
    for batch in _batches(posts):
        frame = _canonical(bundle, batch)
        expected = triager.transform(frame)
        got = plain.transform(
            frame["text"].tolist(),
            frame["author_followers"].to_numpy(),
            frame["author_verified"].to_numpy(),
            frame["channel"].tolist(),
        )
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_array_equal(got.indptr, expected.indptr)
        np.testing.assert_array_equal(got.indices, expected.indices)
        assert got.data.tobytes() == expected.data.tobytes()  # bit for bit


@pytest.mark.parametrize("with_reasons", [True, False])
def test_the_scores_are_identical(bundle, posts, with_reasons) -> None:
    triager = bundle.triager
    plain = plain_features(triager)
    for batch in _batches(posts):
        frame = _canonical(bundle, batch)
        expected = triager.score(frame, with_reasons=with_reasons)
        got = score_plain(
            triager,
            plain,
            frame["text"].tolist(),
            frame["author_followers"].to_numpy(),
            frame["author_verified"].to_numpy(),
            frame["channel"].tolist(),
            with_reasons,
        )
        assert got.probabilities.tobytes() == expected.probabilities.tobytes()
        np.testing.assert_array_equal(got.predicted, expected.predicted)
        np.testing.assert_array_equal(got.needs_human, expected.needs_human)
        assert got.urgency.tobytes() == expected.urgency.tobytes()
        assert got.reasons == expected.reasons


def test_the_records_are_identical(bundle, posts) -> None:
    for batch in _batches(posts):
        got = score_records(bundle, batch, now=NOW)
        assert got is not None
        expected = score_posts(bundle, pd.DataFrame(batch), now=NOW)
        assert got.records == expected.records()
        assert got.model_version == expected.model_version


def test_the_cases_are_covered(bundle, posts) -> None:
    """The comparisons above include posts that need a human, reasons and every tier."""
    records = [r for p in posts for r in score_records(bundle, [p], now=NOW).records]
    reasons = [why for r in records for why in r["reasons"]]
    assert any(why["label"] == "needs_human" for why in reasons)
    assert any(why["signal"].startswith("author followers") for why in reasons)
    assert sum(len(r["predicted_labels"]) > 1 for r in records) > 5
    assert {r["priority"]["tier"] for r in records} >= {"P1", "P2", "P3", "P4"}


def test_the_frame_and_predictions_after_the_response_are_score_posts(bundle, posts) -> None:
    batch = posts[:5] + EDGE_POSTS[9:13]
    frame, preds = score_records(bundle, batch, now=NOW).scored()
    expected = score_posts(bundle, pd.DataFrame(batch), now=NOW)
    pd.testing.assert_frame_equal(frame, _canonical(bundle, batch))
    for name in ("probabilities", "predicted", "needs_human", "urgency", "tier", "score"):
        np.testing.assert_array_equal(getattr(preds, name), getattr(expected, name), name)
    pd.testing.assert_series_equal(preds.respond_by, expected.respond_by)
    assert preds.records() == expected.records()


def test_the_drift_signals_kept_by_the_plain_path_are_those_of_the_frame(bundle, posts) -> None:
    from triage_ml.monitor import plain_signal_rows, post_signal_rows

    for batch in ([p] for p in [*posts[:12], *EDGE_POSTS]):
        scored = score_records(bundle, batch, now=NOW)
        if scored is None:
            continue
        frame, preds = scored.scored()
        got = pd.DataFrame(plain_signal_rows(bundle.triager, scored))
        expected = pd.DataFrame(post_signal_rows(bundle.triager, frame, preds))
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert scored.docs is not None and scored.posts is not None  # the last one was plain


def test_without_created_at_the_clock_starts_now(bundle) -> None:
    got = score_records(bundle, [{"id": "1", "text": "refund please"}], now=NOW).records[0]
    minutes = got["priority"]["respond_within_minutes"]
    expected = (NOW + pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert got["priority"]["respond_by"] == expected


@pytest.mark.parametrize(
    "post",
    [
        {"id": "1", "text": "   "},
        {"id": "", "text": "x"},
        {"id": True, "text": "x"},
        {"id": 1.0, "text": "x"},
        {"id": "1", "text": 5},
        {"id": "1", "text": "x" * 10_001},
        {"id": "1", "text": "x", "author_followers": -1},
        {"id": "1", "text": "x", "author_followers": True},
        {"id": "1", "text": "x", "author_followers": "12"},
        {"id": "1", "text": "x", "author_followers": 2**53 + 2},
        {"id": "1", "text": "x", "author_verified": 1},
        {"id": "1", "text": "x", "channel": "Fòrum"},
        {"id": "1", "text": "x", "channel": 3},
        {"id": "1", "text": "x", "created_at": "2026-02-30T10:00:00Z"},
        {"id": "1", "text": "x", "created_at": "yesterday"},
        {"id": "1", "text": "x", "created_at": "1969-12-31T23:59:59Z"},
        {"id": "1", "text": "x", "created_at": "2026-11-22T10:00:00.1234567Z"},
        {"id": "1", "text": "x", "created_at": "20261122T100000Z"},
        {"id": "1", "text": "x", "created_at": 1700000000},
        {"id": "1", "text": "x", "labels": "complaint"},
        {"text": "x"},
    ],
)
def test_anything_unusual_goes_the_general_way(bundle, post) -> None:
    assert plain_posts([post]) is None
    assert score_records(bundle, [post], now=NOW) is None


def test_duplicate_ids_and_large_batches_go_the_general_way(bundle) -> None:
    assert plain_posts([{"id": "1", "text": "a"}, {"id": "1", "text": "b"}]) is None
    many = [{"id": str(i), "text": "a"} for i in range(65)]
    assert plain_posts(many) is None
    assert plain_posts(many[:64]) is not None


def test_business_hours_go_the_general_way(bundle) -> None:
    raw = bundle.playbook.model_dump(mode="json")
    raw["business_hours"] = {"time_zone": "Europe/Paris", "hours": {"mon": "09:00-17:00"}}
    playbook = parse_playbook(raw)
    post = [{"id": "1", "text": "refund please"}]
    assert score_records(bundle, post, playbook, now=NOW) is None
    assert score_records(bundle, post, now=NOW) is not None


def test_the_encoder_family_and_other_feature_trees_have_no_plain_path(bundle) -> None:
    twin = copy.copy(bundle.triager)
    twin.__dict__.pop("_plain_features", None)
    twin.encoder = object()
    assert plain_features(twin) is None
    features = copy.deepcopy(bundle.triager.features)
    name, trans, columns = features.transformers_[0]
    features.transformers_[0] = (name, "passthrough", columns)
    assert build_plain_features(features) is None
    assert build_plain_features(bundle.triager.features) is not None


def test_a_copy_with_other_coefficients_does_not_reuse_the_tables(bundle, posts) -> None:
    triager = bundle.triager
    score_records(bundle, posts[:1], now=NOW)  # the original's tables are built
    twin = copy.copy(triager)
    twin.coef_ = triager.coef_ * 2.0
    frame = _canonical(bundle, posts[:20])
    values = (
        frame["text"].tolist(),
        frame["author_followers"].to_numpy(),
        frame["author_verified"].to_numpy(),
        frame["channel"].tolist(),
    )
    expected = twin.score(frame)
    got = score_plain(twin, plain_features(twin), *values)
    assert got.probabilities.tobytes() == expected.probabilities.tobytes()
    assert got.reasons == expected.reasons
    original = score_plain(triager, plain_features(triager), *values)
    assert original.probabilities.tobytes() == triager.score(frame).probabilities.tobytes()
