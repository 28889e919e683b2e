"""Composing the text of each synthetic post: sentences, informal styling, typos, decoration.

A post is a core sentence from its scenario plus a few details and maybe a closer, with slots
(``{product}``, ``{order}``...) filled per post; then it is styled (shouting, "!!!", "sooo",
"u"/"pls"), given typos, influencer cues, and the conventions of its channel (greetings,
ratings, sign-offs, emoji, mentions, hashtags, links). The words come from
:mod:`triage_ml.synthetic.phrasebook`; every random choice comes from the one
``random.Random`` passed in, in a fixed order, so the same seed gives the same texts.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Sequence

import numpy as np

from triage_ml.synthetic.phrasebook import FAMILIES, Phrasebook, Scenario, phrasebook

# share of influencer posts with an audience cue ("my followers", "#ad", "collab"...), and of
# other posts (aspiring creators, people quoting a creator)
_CUE_RATE_INFLUENCER = 0.88
_CUE_RATE_OTHER = 0.025


class _Slots(dict):
    """Per-post slot values, drawn lazily so a product named twice stays the same product."""

    def __init__(self, r: random.Random, book: Phrasebook) -> None:
        super().__init__(brand=book.brand)
        self.r = r
        self.book = book

    def __missing__(self, key: str) -> str:
        r, book = self.r, self.book
        if key == "product":
            value = r.choice(book.product_names)
        elif key == "product2":
            first = self["product"]
            value = r.choice([p for p in book.product_names if p != first])
        elif key == "feature":
            value = r.choice(book.products[self["product"]])
        elif key == "handle":
            value = r.choice(book.handles)
        elif key == "order":
            value = f"#LM{r.randrange(100000, 999999)}"
        elif key == "friend":
            value = (
                "@" + r.choice(book.friend_names) + (str(r.randrange(10, 99)) * (r.random() < 0.4))
            )
        elif key == "code":
            value = r.choice(book.friend_names).upper().replace("_", "") + str(
                r.choice((10, 15, 20))
            )
        elif key == "rating":
            value = str(r.choice((4, 5, 5)))
        else:
            value = r.choice(book.fillers[key])
        self[key] = value
        return value


def compose_texts(
    r: random.Random,
    scenarios: Sequence[Scenario],
    channels: Sequence[str],
    influencer: np.ndarray,
    complaint: np.ndarray,
) -> tuple[list[str], list[str]]:
    """Assemble each post; returns (final text, text before typos for urgency cues).

    ``scenarios``, ``channels``, ``influencer`` and ``complaint`` (the clean label) are per post.
    """
    book = phrasebook()
    texts: list[str] = []
    styled_all: list[str] = []
    for i, (s, channel) in enumerate(zip(scenarios, channels, strict=True)):
        slots = _Slots(r, book)
        short = channel in ("twitter", "instagram")
        n_details = r.choice((0, 0, 1) if short else (0, 1, 1, 2, 3))

        sentences = [_fill(r.choice(s.core), slots)]
        if n_details and s.details:
            for d in r.sample(s.details, min(n_details, len(s.details))):
                sentences.append(_fill(d, slots))
        if s.closers and r.random() < s.closer_p:
            sentences.append(_fill(r.choice(s.closers), slots))
        if len(sentences) > 2 and r.random() < 0.25:
            sentences.insert(0, sentences.pop(1))

        body = _style(r, sentences, s, book)
        styled_all.append(body)
        body = _typos(r, body, r.choice((0.0, 0.0, 0.0, 0.0, 0.0, 0.01, 0.01, 0.01, 0.03)), book)

        # influencer cues: frequent for influencers, occasional for aspiring small accounts
        is_infl = bool(influencer[i])
        if r.random() < (_CUE_RATE_INFLUENCER if is_infl else _CUE_RATE_OTHER):
            first, second = r.sample(book.influencer_cues, 2)
            if r.random() < 0.5:
                first = r.choice(book.audience_leads) + " " + r.choice(book.audiences) + "."
            if r.random() < 0.5:
                body = f"{_fill(first, slots)} {body}"
            else:
                body = f"{body} {_fill(first, slots)}"
            if is_infl and r.random() < 0.5:
                body = f"{body} {_fill(second, slots)}"
        is_complaint = bool(complaint[i])
        texts.append(_decorate(r, body, channel, s, slots, is_infl, is_complaint, book))
    return texts, styled_all


def _fill(template: str, slots: _Slots) -> str:
    text = template.format_map(slots)
    if text[-1] not in ".?!:" and not text.rsplit(" ", 1)[-1].startswith("#"):
        text += "."
    return text


def _style(r: random.Random, sentences: list[str], s: Scenario, book: Phrasebook) -> str:
    """Informal writing: shouting, '!!!', elongations ("sooo"), text-speak ("u", "pls")."""
    angry = s.family == "complaint" and s.name != "sarcasm" and r.random() < 0.35
    if angry:
        if r.random() < 0.35:
            k = r.randrange(len(sentences))
            sentences[k] = sentences[k].upper()
        sentences = [
            x[:-1] + r.choice(("!!!", "!!", "!!!!", "!")) if x[-1] == "." else x for x in sentences
        ]
    elif s.family == "review" and "product_review" in s.labels and r.random() < 0.2:
        sentences[-1] = sentences[-1][:-1] + "!"
    elif r.random() < 0.03:
        k = r.randrange(len(sentences))
        sentences[k] = sentences[k].upper()
    text = " ".join(sentences)
    if r.random() < 0.12:
        text = _substitute(r, text, book.elongate, 0.7)
    if r.random() < 0.15:
        text = _substitute(r, text, book.textspeak, 0.8)
    if r.random() < 0.15:
        text = text.lower()
    return text


@functools.cache
def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)


def _substitute(r: random.Random, text: str, table: dict[str, str], p: float) -> str:
    lowered = text.lower()
    for word, repl in table.items():
        if word in lowered and r.random() < p:
            text = _word_pattern(word).sub(
                lambda m, repl=repl: repl.upper() if m.group(0).isupper() else repl, text, count=1
            )
    return text


def _typos(r: random.Random, text: str, rate: float, book: Phrasebook) -> str:
    """Character-level slips: swap, drop, double, neighbouring key."""
    if rate <= 0.0:
        return text
    count = int(len(text) * rate + r.random())
    chars = list(text)
    for _ in range(count):
        i = r.randrange(len(chars))
        c = chars[i]
        if len(c) != 1 or not c.isalpha() or not c.isascii():
            continue
        op = r.random()
        if op < 0.3 and i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], c
        elif op < 0.55:
            chars[i] = ""
        elif op < 0.75:
            chars[i] = c + c
        else:
            sub = r.choice(book.keyboard[c.lower()])
            chars[i] = sub.upper() if c.isupper() else sub
    return "".join(chars)


def _decorate(
    r: random.Random,
    body: str,
    channel: str,
    s: Scenario,
    slots: _Slots,
    is_infl: bool,
    is_complaint: bool,
    book: Phrasebook,
) -> str:
    """Channel conventions (greetings, ratings, sign-offs) and emoji, mentions, tags, URLs."""
    fam = s.family
    parts: list[str] = []
    if channel in ("twitter", "instagram") and r.random() < (0.55 if fam != "none" else 0.3):
        parts.append(slots["handle"] if r.random() < 0.8 else slots["friend"])
    elif channel in book.greetings and r.random() < 0.6:
        parts.append(_fill_plain(r.choice(book.greetings[channel]), slots))
    if channel == "review_site":
        # a complaint posted on a review site still carries a (low) rating
        stars = r.choice(s.stars) if s.stars else (1 if is_complaint else r.choice((2, 3, 4)))
        if r.random() < 0.5:
            parts.append(f"Rating: {stars}/5.")
        else:
            parts.append("★" * stars + "☆" * (5 - stars))
    parts.append(body)
    if channel in book.signoffs and r.random() < 0.5:
        parts.append(_fill_plain(r.choice(book.signoffs[channel]), slots))

    emoji_key = "sarcasm" if s.name == "sarcasm" else fam
    if r.random() < (0.45 if channel in ("twitter", "instagram", "facebook") else 0.12):
        pool = book.emoji[emoji_key] if r.random() < 0.85 else book.emoji[r.choice(FAMILIES)]
        em = r.choice(pool)
        parts.append(em * r.choice((1, 1, 1, 2, 3)))
    if r.random() < 0.12:
        parts.append(slots["friend"])
    if r.random() < (0.14 if fam == "complaint" or is_infl else 0.06):
        parts.append(r.choice(book.url_hosts[fam]) + _token(r))
    if channel in ("twitter", "instagram") and r.random() < (0.5 if is_infl else 0.25):
        hashtags = book.hashtags
        pools = [hashtags[fam], hashtags["shared"]] + ([hashtags["influencer"]] * is_infl)
        tags = {r.choice(r.choice(pools)) for _ in range(r.choice((1, 1, 2, 3)))}
        parts.append(" ".join(sorted(tags)))
    return " ".join(parts)


def _fill_plain(template: str, slots: _Slots) -> str:
    return template.format_map(slots)


def _token(r: random.Random) -> str:
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(r.choice(alphabet) for _ in range(r.choice((6, 7, 8, 10))))
