"""Behavioural tests of the fitted model (Made-With-ML style): invariance and direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage_ml.decide.scoring import score_posts

BASE = [
    "my order never arrived and nobody answers",
    "thinking about buying the premium plan for my team",
    "the new headphones sound great, battery lasts all day",
    "what time do you open on sunday",
    "app keeps crashing when I pay",
]


def _posts(texts, **cols) -> pd.DataFrame:
    frame = pd.DataFrame({"id": [f"t{i}" for i in range(len(texts))], "text": texts})
    for key, value in cols.items():
        frame[key] = value
    return frame


def test_swapping_handles_and_urls_keeps_the_labels(bundle) -> None:
    a = [f"@AcmeHelp {t} https://t.co/abc" for t in BASE]
    b = [f"@ZetaSupport {t} https://bit.ly/xyz987" for t in BASE]
    pa = score_posts(bundle, _posts(a))
    pb = score_posts(bundle, _posts(b))
    np.testing.assert_allclose(pa.probabilities, pb.probabilities, atol=1e-9)
    assert pa.predicted_labels() == pb.predicted_labels()


# cues the sample history teaches; "worst" is not one: it only appears in posts that other
# cues already mark as complaints, so the fitted weight of "worst" is about zero
@pytest.mark.parametrize(
    "phrase",
    ["third time I'm cancelling", "still waiting for a refund!!!", "this is not acceptable"],
)
def test_strong_complaint_phrase_never_lowers_complaint_probability(bundle, phrase) -> None:
    k = bundle.labels.index("complaint")
    base = score_posts(bundle, _posts(BASE)).probabilities[:, k]
    more = score_posts(bundle, _posts([f"{t}. {phrase}" for t in BASE])).probabilities[:, k]
    assert (more >= base - 1e-9).all()
    assert (more > base).any()


def test_followers_raise_the_influencer_probability(bundle) -> None:
    k = bundle.labels.index("influencer")
    few = score_posts(bundle, _posts(BASE, author_followers=50)).probabilities[:, k]
    many = score_posts(bundle, _posts(BASE, author_followers=900_000)).probabilities[:, k]
    assert (many > few).all()


def test_output_is_in_input_order_with_ids_echoed(bundle) -> None:
    texts = BASE * 3
    posts = _posts(texts)
    posts["id"] = [f"z{i:02d}" for i in reversed(range(len(texts)))]
    preds = score_posts(bundle, posts)
    assert preds.ids == list(posts["id"])
    records = preds.records()
    assert [r["id"] for r in records] == list(posts["id"])


def test_records_follow_the_output_contract(bundle) -> None:
    record = score_posts(bundle, _posts(BASE[:1], created_at="2026-11-22T10:00:00Z")).records()[0]
    assert set(record) == {
        "id",
        "labels",
        "predicted_labels",
        "urgency",
        "priority",
        "route",
        "escalate",
        "needs_human",
        "reasons",
        "model_version",
    }
    assert set(record["labels"]) == set(bundle.labels)
    assert set(record["priority"]) == {"tier", "score", "respond_within_minutes", "respond_by"}
    assert record["priority"]["respond_by"].endswith("Z")
    assert 0 <= record["urgency"] <= 1
    # an order that never arrived is a complaint the sample teaches: it must come with reasons
    assert "complaint" in record["predicted_labels"]
    assert {r["label"] for r in record["reasons"]} == set(record["predicted_labels"])
    assert all(r["weight"] > 0 for r in record["reasons"])


def test_reasons_are_the_models_own_contributions(bundle, canonical_history) -> None:
    """The weights shown are x_j * w_j of the fitted model: they sum to at most the logit."""
    tri = bundle.triager
    posts = canonical_history.head(50)
    X = tri.transform(posts)
    logits = tri.decision(X)
    preds = score_posts(bundle, posts, validated=True)
    shown = [(i, r) for i, reasons in enumerate(preds.reasons) for r in reasons]
    assert len(shown) >= 10, "50 sample posts must give some reasons to check"
    for i, reasons in enumerate(preds.reasons):
        for r in reasons:
            k = tri.labels.index(r["label"])
            contrib = tri.contributions(X[i], k).toarray().ravel()
            assert np.isclose(
                contrib.max(),
                max(x["weight"] for x in reasons if x["label"] == r["label"]),
                atol=1e-3,
            )
            # contributions are measured from the average training post: adding back the
            # average's share of the post's own features gives the logit that decided
            active = X[i].indices
            baseline = (tri.coef_[k] * tri.feature_mean_)[active].sum()
            assert np.isclose(contrib.sum() + baseline + tri.intercept_[k], logits[i, k])


def test_flat_form_columns(bundle) -> None:
    flat = score_posts(bundle, _posts(BASE)).flat()
    expected = ["id"]
    for lab in bundle.labels:
        expected += [f"p_{lab}", f"is_{lab}"]
    expected += [
        "predicted_labels",
        "urgency",
        "priority_tier",
        "priority_score",
        "respond_within_minutes",
        "respond_by",
        "route",
        "escalate",
        "needs_human",
        "reasons",
        "model_version",
    ]
    assert list(flat.columns) == expected
    assert len(flat) == len(BASE)


@pytest.mark.parametrize(
    "text",
    [
        "my order never arrived and nobody answers, still waiting for a refund",
        "app keeps crashing when I pay. third time I'm cancelling",
    ],
)
def test_top_reason_of_a_strong_complaint_is_a_word_of_the_post(bundle, text) -> None:
    """Reasons are measured from the average post, so post length (shared by every post) does
    not head them: the top reason is something this post says."""
    record = score_posts(bundle, _posts([text])).records()[0]
    mine = [r for r in record["reasons"] if r["label"] == "complaint"]
    assert mine, record
    assert mine[0]["signal"].strip("~") in text.lower(), mine
    assert not {"long post", "short post"} & {r["signal"] for r in mine}, mine


def test_metadata_reasons_read_as_words(bundle) -> None:
    posts = _posts(["loving the new headphones, review coming to my channel"])
    posts["author_followers"] = 48_000
    posts["author_verified"] = True
    record = score_posts(bundle, posts).records()[0]
    signals = [r["signal"] for r in record["reasons"] if r["label"] == "influencer"]
    assert "influencer" in record["predicted_labels"], record
    assert "author followers: 48k" in signals, signals
    assert not any(s in {"author_followers", "length_log"} for s in signals)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Wo ist meine Bestellung? Seit drei Wochen warte ich auf eine Antwort", "written in 'de'"),
        ("Mi pedido nunca llegó y nadie responde a mis mensajes", "written in 'es'"),
        ("ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ", "no readable words"),
    ],
)
def test_posts_the_model_cannot_read_need_a_human_with_a_reason(bundle, text, why) -> None:
    assert bundle.triager.language_ == ["en"]
    record = score_posts(bundle, _posts([text])).records()[0]
    assert record["needs_human"] is True
    flagged = [r for r in record["reasons"] if r["label"] == "needs_human"]
    assert len(flagged) == 1 and why in flagged[0]["signal"], record["reasons"]


@pytest.mark.parametrize("text", [*BASE, "lol", "@LumoraHelp 👍👍"])
def test_english_and_too_short_to_tell_posts_are_not_flagged_for_language(bundle, text) -> None:
    record = score_posts(bundle, _posts([text])).records()[0]
    assert not [r for r in record["reasons"] if r["label"] == "needs_human"], record["reasons"]


def test_posts_in_the_models_own_words_skip_the_language_identifier(bundle, monkeypatch) -> None:
    from triage_ml.model import language

    real, asked = language._identifier(), []

    class Counting:
        def classify(self, text: str):
            asked.append(text)
            return real.classify(text)

    monkeypatch.setattr(language, "_identifier", Counting)
    score_posts(bundle, _posts(BASE))
    assert asked == []
    record = score_posts(bundle, _posts(["Mi pedido nunca llegó y nadie responde a mis mensajes"]))
    assert len(asked) == 1 and record.records()[0]["needs_human"] is True
