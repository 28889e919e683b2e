"""Which language a post is written in, to flag posts the model cannot read.

A model trained on an English history guesses on a German post from character n-grams and
metadata alone; its probabilities look confident and mean little. The language of the training
history is recorded at training; at scoring, a post confidently written in another language
(or with nothing left to read after normalisation) gets ``needs_human`` and a reason saying
why. Detection is py3langid (langid.py's model, shipped in its wheel as arrays, no pickle).

Short posts are where language identifiers guess ("lol" comes out as Sesotho), so only posts
with at least ``MIN_WORDS`` words and a normalised probability of at least ``MIN_PROBABILITY``
are ever flagged.

Most posts need no identifier at all: where at least ``KNOWN_SHARE`` of a post's distinct words
are words of the model's own vocabulary (learnt from the history), the model can read it
whatever an identifier would say, and the check stops there. That keeps the check cheap on
the scoring path, where py3langid walks each post byte by byte in Python.
``python -m benchmarks.language_gate`` measures it on real tweets (twitter-airline-sentiment,
vocabulary of 80%, the other 20% checked): 99.7% of them skip the identifier, no post is
flagged differently, the check costs 8 instead of 62 us a post; six complaints written in
other languages share at most 36% of their words with that vocabulary and are all flagged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from functools import lru_cache

import numpy as np

MIN_WORDS = 4
MIN_PROBABILITY = 0.95
KNOWN_SHARE = 0.7
_WORD = re.compile(r"[^\W\d_]{2,}")
_NOISE = re.compile(r"@\w+|#\w+|https?://\S+|www\.\S+")


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _words(text: str) -> tuple[str, list[str]]:
    """The text without handles, hashtags and links, and its words."""
    clean = _NOISE.sub(" ", str(text))
    return clean, _WORD.findall(clean)


def detect(texts: Sequence[str]) -> tuple[list[str | None], np.ndarray]:
    """Language code and probability per text; ``None`` where the text is too short to tell
    (handles, hashtags and links do not count as words)."""
    langs: list[str | None] = []
    probs = np.zeros(len(texts))
    for i, text in enumerate(texts):
        clean, words = _words(text)
        if len(words) < MIN_WORDS:
            langs.append(None)
            continue
        lang, prob = _identifier().classify(clean)
        langs.append(lang)
        probs[i] = prob
    return langs, probs


def history_languages(
    texts: Sequence[str], sample: int = 2000, seed: int = 0, share: float = 0.05
) -> list[str]:
    """The languages the history is confidently written in (each at least ``share`` of the
    confident posts of a sample): a bilingual brand's model flags neither language."""
    texts = list(texts)
    if len(texts) > sample:
        pick = np.random.default_rng(seed).choice(len(texts), size=sample, replace=False)
        texts = [texts[i] for i in pick]
    langs, probs = detect(texts)
    confident = [lang for lang, p in zip(langs, probs, strict=True) if lang and p >= 0.9]
    counts = Counter(confident)
    return sorted(lang for lang, n in counts.items() if n >= share * len(confident))


def known_share(text: str, known_words: Collection[str]) -> float | None:
    """The share of the text's distinct words (lowercased) in ``known_words``; ``None`` for a
    text too short to tell (fewer than ``MIN_WORDS`` words), which is never flagged."""
    words = _words(text)[1]
    if len(words) < MIN_WORDS:
        return None
    distinct = {w.lower() for w in words}
    return sum(w in known_words for w in distinct) / len(distinct)


def foreign(
    texts: Sequence[str],
    languages: Sequence[str] | None,
    known_words: Collection[str] | None = None,
) -> list[str | None]:
    """Per text, the language it is confidently written in when that is none of the
    history's ``languages``, else ``None``. A text of which at least ``KNOWN_SHARE`` of the
    distinct words (lowercased) are in ``known_words`` is readable without asking."""
    out: list[str | None] = [None] * len(texts)
    if not languages:
        return out
    ask = [i for i, text in enumerate(texts) if not _readable(text, known_words)]
    langs, probs = detect([texts[i] for i in ask])
    for i, lang, prob in zip(ask, langs, probs, strict=True):
        if lang and lang not in languages and prob >= MIN_PROBABILITY:
            out[i] = lang
    return out


def _readable(text: str, known_words: Collection[str] | None) -> bool:
    if not known_words:
        return False
    share = known_share(text, known_words)
    return share is not None and share >= KNOWN_SHARE
