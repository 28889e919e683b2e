"""The word material of the synthetic history, read from the package's ``phrases.json``.

Phrase banks, slot fillers, the scenario table (which labels a kind of post gets, how common it
is, which banks its words come from) and the styling tables (emoji, hashtags, greetings,
text-speak, keyboard neighbours) are data, so they live in JSON beside this module and the code
that draws from them stays short. :func:`phrasebook` reads the file on first use and keeps it;
nothing is read at import time. The brand is fictional ("Lumora"); so are its competitors.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

PHRASES_FILE = "phrases.json"
#: Scenario families: they pick the channel mix, emoji, hashtags and link hosts of a post.
FAMILIES: tuple[str, ...] = ("complaint", "lead", "review", "none")


@dataclass(frozen=True)
class Scenario:
    """One kind of post: which label(s) the annotator gives it and where its words come from."""

    name: str
    weight: float  # share before normalisation
    labels: tuple[str, ...]
    family: str  # one of FAMILIES
    core: tuple[str, ...]
    details: tuple[str, ...]
    closers: tuple[str, ...] = ()
    closer_p: float = 0.0
    # extra label with probability: annotators disagree on borderline posts
    maybe: tuple[tuple[str, float], ...] = ()
    # weight multiplier when the author is an influencer
    infl: float = 1.0
    stars: tuple[int, ...] = ()


@dataclass(frozen=True)
class Phrasebook:
    """Everything ``phrases.json`` holds, as tuples and dicts in the file's order."""

    brand: str
    handles: tuple[str, ...]
    friend_names: tuple[str, ...]
    products: dict[str, tuple[str, ...]]  # product -> features that make sense for it
    fillers: dict[str, tuple[str, ...]]  # slot -> values
    scenarios: tuple[Scenario, ...]
    influencer_cues: tuple[str, ...]
    audience_leads: tuple[str, ...]
    audiences: tuple[str, ...]
    emoji: dict[str, tuple[str, ...]]
    hashtags: dict[str, tuple[str, ...]]
    url_hosts: dict[str, tuple[str, ...]]
    greetings: dict[str, tuple[str, ...]]
    signoffs: dict[str, tuple[str, ...]]
    textspeak: dict[str, str]
    elongate: dict[str, str]
    keyboard: dict[str, str]
    product_names: tuple[str, ...]  # the keys of ``products``, for drawing one


@functools.cache
def phrasebook() -> Phrasebook:
    """The phrase book, read once per process."""
    source = resources.files(__package__).joinpath(PHRASES_FILE)
    raw = json.loads(source.read_text(encoding="utf-8"))
    try:
        return _build(raw)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{source}: {err}") from None


def _tuples(table: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {key: tuple(values) for key, values in table.items()}


def _build(raw: dict[str, Any]) -> Phrasebook:
    banks = _tuples(raw["banks"])
    scenarios = tuple(_scenario(row, banks) for row in raw["scenarios"])
    products = _tuples(raw["products"])
    return Phrasebook(
        brand=raw["brand"],
        handles=tuple(raw["handles"]),
        friend_names=tuple(raw["friend_names"]),
        products=products,
        fillers=_tuples(raw["fillers"]),
        scenarios=scenarios,
        influencer_cues=tuple(raw["influencer_cues"]),
        audience_leads=tuple(raw["audience_leads"]),
        audiences=tuple(raw["audiences"]),
        emoji=_tuples(raw["emoji"]),
        hashtags=_tuples(raw["hashtags"]),
        url_hosts=_tuples(raw["url_hosts"]),
        greetings=_tuples(raw["greetings"]),
        signoffs=_tuples(raw["signoffs"]),
        textspeak=dict(raw["textspeak"]),
        elongate=dict(raw["elongate"]),
        keyboard=dict(raw["keyboard"]),
        product_names=tuple(products),
    )


def _scenario(row: dict[str, Any], banks: dict[str, tuple[str, ...]]) -> Scenario:
    """A scenario row; its bank names are replaced by the banks (``details`` concatenated)."""
    name = row["name"]

    def bank(key: str) -> tuple[str, ...]:
        if key not in banks:
            raise ValueError(
                f"scenario {name!r} names the bank {key!r}, which is not under 'banks' "
                f"(known: {', '.join(banks)})"
            )
        return banks[key]

    if row["family"] not in FAMILIES:
        raise ValueError(
            f"scenario {name!r} has family {row['family']!r}; valid: {', '.join(FAMILIES)}"
        )
    return Scenario(
        name=name,
        weight=float(row["weight"]),
        labels=tuple(row["labels"]),
        family=row["family"],
        core=bank(row["core"]),
        details=tuple(p for key in row["details"] for p in bank(key)),
        closers=bank(row["closers"]) if row["closers"] else (),
        closer_p=float(row["closer_p"]),
        maybe=tuple((label, float(p)) for label, p in row["maybe"].items()),
        infl=float(row["infl"]),
        stars=tuple(int(s) for s in row["stars"]),
    )
