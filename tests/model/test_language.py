"""Which posts the model cannot read: language of the history vs the post (py3langid)."""

from __future__ import annotations

import numpy as np
import pytest

from triage_ml.model import language
from triage_ml.model.language import foreign, history_languages
from triage_ml.model.triager import readable_signal

EN = [
    "my order never arrived and nobody answers my emails",
    "the new headphones sound great and the battery lasts all day",
    "thinking about buying the premium plan for my whole team",
    "app keeps crashing every time I try to pay for something",
]
ES = [
    "mi pedido nunca llegó y nadie responde a mis mensajes",
    "los auriculares nuevos suenan muy bien y la batería dura todo el día",
    "estoy pensando en comprar el plan premium para todo mi equipo",
]


def test_a_bilingual_history_keeps_both_languages() -> None:
    assert history_languages(EN * 30 + ES * 20) == ["en", "es"]
    assert history_languages(EN * 30) == ["en"]


def test_only_languages_outside_the_history_are_foreign() -> None:
    german = "Wo ist meine Bestellung? Seit drei Wochen warte ich auf eine Antwort"
    assert foreign([ES[0], german, EN[0], "lol ok"], ["en", "es"]) == [None, "de", None, None]
    assert foreign([german], None) == [None]


GERMAN = "Wo ist meine Bestellung? Seit drei Wochen warte ich auf eine Antwort"


class _Counting:
    """The real identifier, counting the texts it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.real = language._identifier()

    def classify(self, text: str):
        self.asked.append(text)
        return self.real.classify(text)


def test_posts_made_of_the_models_own_words_are_not_sent_to_the_identifier(monkeypatch) -> None:
    counting = _Counting()
    monkeypatch.setattr(language, "_identifier", lambda: counting)
    vocabulary = {w for text in EN for w in text.lower().split()}
    assert foreign(EN, ["en"], vocabulary) == [None] * len(EN)
    assert counting.asked == []
    # a post of unknown words still is, and is flagged
    assert foreign([EN[0], GERMAN], ["en"], vocabulary) == [None, "de"]
    assert len(counting.asked) == 1 and "Bestellung" in counting.asked[0]


def test_a_post_just_under_the_known_share_is_still_checked(monkeypatch) -> None:
    counting = _Counting()
    monkeypatch.setattr(language, "_identifier", lambda: counting)
    words = sorted({w.lower() for w in GERMAN.replace("?", "").split()})  # 11 distinct words
    enough = int(np.ceil(language.KNOWN_SHARE * len(words)))
    assert foreign([GERMAN], ["en"], set(words[:enough])) == [None]
    assert counting.asked == []
    assert foreign([GERMAN], ["en"], set(words[: enough - 1])) == ["de"]
    assert len(counting.asked) == 1


def test_known_words_are_the_single_words_of_the_word_block() -> None:
    import pandas as pd

    from triage_ml.contract.params import FeaturesParams, NormaliserParams
    from triage_ml.model.features import build_features, word_vocabulary

    settings = FeaturesParams(min_df=1, metadata=False, char_weight=1.0)
    features = build_features(settings, NormaliserParams())
    features.fit(pd.DataFrame({"text": ["my order", "my order"]}))
    assert word_vocabulary(features) == {"my", "order"}  # no "my order", no char n-grams
    assert word_vocabulary(object()) is None  # a tree of another shape


@pytest.mark.parametrize(
    ("signal", "above", "followers", "expected"),
    [
        ("author_followers", True, 48_000, "author followers: 48k"),
        ("author_followers", True, 999_999, "author followers: 1M"),
        ("author_followers", True, 1_250_000, "author followers: 1.25M"),
        ("author_followers", True, 312, "author followers: 312"),
        ("length_log", True, None, "long post"),
        ("length_log", False, None, "short post"),
        ("exclamations", True, None, "exclamation marks"),
        ("exclamations", False, None, "few exclamation marks"),
        ("author_verified", True, None, "verified author"),
        ("channel=forum", True, None, "channel: forum"),
    ],
)
def test_metadata_signals_read_as_words(signal, above, followers, expected) -> None:
    assert readable_signal(signal, above, followers) == expected
