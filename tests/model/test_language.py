"""Which posts the model cannot read: language of the history vs the post (py3langid)."""

from __future__ import annotations

import pytest

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
