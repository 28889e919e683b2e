"""Normaliser rules, one table row each: replace, never delete meaning."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest

from triage_ml.model import normalise
from triage_ml.model.normalise import SpacyNormaliser, load_nlp


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@AcmeHelp where is my order", "<user> where is my order"),
        ("see https://t.co/abc123 now", "see <url> now"),
        ("see www.acme.com/help", "see <url>"),
        ("mail me at jo@example.com", "mail me at <email>"),
        ("I can't log in", "i can not log in"),
        ("it won't start", "it will not start"),
        ("this doesn't work", "this does not work"),
        ("not happy", "not happy"),
        ("no refund yet", "no refund yet"),
        ("sooooo slow", "soo <elong> slow"),
        ("why!!!!!", "why !!!"),
        ("#fail again", "<hashtag> fail again"),
        ("#fun#friday", "<hashtag> fun <hashtag> friday"),
        ("love it 😍", "love it 😍"),
        ("THIS IS BROKEN", "this is broken"),
        ("Fish &amp; chips", "fish & chips"),
        ("order 1234567890 missing", "order <num> missing"),
        ("order 42 missing", "order 42 missing"),
    ],
)
def test_rule(raw: str, expected: str) -> None:
    assert SpacyNormaliser().fit([raw]).transform([raw])[0] == expected


def test_negation_scope_marks_words_until_punctuation() -> None:
    out = SpacyNormaliser(mark_negation=True).fit(["x"]).transform(["not happy at all. great"])
    assert out[0] == "not happy_NEG at_NEG all_NEG . great"


def test_pickled_normaliser_holds_no_spacy_object() -> None:
    norm = SpacyNormaliser().fit(["hello"])
    blob = pickle.dumps(norm)
    assert b"spacy" not in blob
    assert len(blob) < 1000
    assert pickle.loads(blob).transform(["@a hi"])[0] == "<user> hi"


def test_pipeline_loaded_once_per_process() -> None:
    assert load_nlp("blank:en") is load_nlp("blank:en", False)


def test_a_pipeline_that_collected_too_many_strings_is_rebuilt(monkeypatch) -> None:
    """Handles, order numbers and links are new strings in every post: spaCy's vocabulary
    keeps them (it grew by ~17 MB per 100,000 posts in a streamed backfill), so a pipeline
    that has collected MAX_NEW_STRINGS is replaced by a fresh one."""
    monkeypatch.setattr(normalise, "MAX_NEW_STRINGS", 1200)
    monkeypatch.setattr(normalise, "_PIPELINES", {})
    norm = SpacyNormaliser().fit(["x"])
    first = load_nlp("blank:en")
    fresh = len(first.vocab.strings)
    texts = [f"@fan{i} my order #LM{i:06d} https://t.co/q{i} zqx{i}word" for i in range(150)]
    out = norm.transform(texts)
    assert out[7] == "<user> my order <hashtag> lm000007 <url> zqx7word"
    assert len(first.vocab.strings) - fresh > 1000  # what it kept: ~7 strings a post
    assert load_nlp("blank:en") is first  # under the bound
    assert norm.transform(texts[:120]).tolist() == out[:120].tolist()  # known: nothing new
    assert load_nlp("blank:en") is first
    more = [t.replace("zqx", "new") for t in texts]
    assert norm.transform(more)[7] == "<user> my order <hashtag> lm000007 <url> new7word"
    second = load_nlp("blank:en")  # 150 more strings: past the bound, rebuilt
    assert second is not first
    assert len(second.vocab.strings) == fresh
    assert norm.transform(texts).tolist() == out.tolist()  # the same output from the new one


def test_threads_normalise_at_once_as_one_thread_does() -> None:
    texts = [f"@fan{i} sooo late!!! order {i * 7919} #fail{i} can't wait" for i in range(400)]
    norm = SpacyNormaliser().fit(["x"])
    expected = [norm.transform(texts[k::8]).tolist() for k in range(8)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda k: norm.transform(texts[k::8]).tolist(), range(8)))
    assert got == expected


def test_missing_spacy_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not installed"):
        load_nlp("xx_no_such_model_sm")


def test_batch_keeps_order_and_length() -> None:
    texts = [f"post {i} @user" for i in range(1000)]
    out = SpacyNormaliser().fit(texts).transform(texts)
    assert len(out) == 1000
    assert out[999] == "post 999 <user>"


def _counting(monkeypatch) -> list[int]:
    """Patch the normaliser's spaCy pass to record how many texts each call tokenises."""
    seen: list[int] = []
    real = SpacyNormaliser._normalise

    def counting(self, texts):
        seen.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(SpacyNormaliser, "_normalise", counting)
    return seen


def test_a_batch_normalised_again_is_not_tokenised_again(monkeypatch) -> None:
    texts = ["My order #12345 never arrived!!!", "Sooo good", "@brand where is it?"]
    expected = SpacyNormaliser().transform(texts).tolist()
    seen = _counting(monkeypatch)
    norm = SpacyNormaliser()
    assert norm.transform(texts).tolist() == expected
    assert norm.transform(texts[::-1]).tolist() == expected[::-1]  # the drift window's pass
    assert norm.transform([*texts, "new one"]).tolist() == [*expected, "new one"]
    assert seen == [3, 1]  # only the new text the third time


def test_remembered_texts_stay_within_their_bound_and_large_batches_are_not_kept(
    monkeypatch,
) -> None:
    monkeypatch.setattr(normalise, "RECENT_CHARS", 200)
    norm = SpacyNormaliser()
    for i in range(50):
        norm.transform([f"post number {i} about my order"])
    recent = norm.__dict__["_recent"]
    assert 0 < len(recent) < 50 and recent._held <= 200
    big = SpacyNormaliser()
    big.transform([f"post {i}" for i in range(normalise.RECENT_BATCH + 1)])
    assert "_recent" not in big.__dict__


def test_a_copied_normaliser_leaves_its_remembered_texts_behind() -> None:
    norm = SpacyNormaliser()
    norm.transform(["where is my refund"])
    copied = pickle.loads(pickle.dumps(norm))  # as Dask ships it to a worker
    assert "_recent" not in copied.__dict__
    assert copied.transform(["where is my refund"]).tolist() == ["where is my refund"]
