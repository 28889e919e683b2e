"""Keyword rules: the baseline an inbox tool ships without a model.

Two lists of terms: a post containing an *urgency* term goes first, a post containing a
*complaint* term next, everything else after, each group in arrival order. A term matches
whole words, case-insensitively; ``cancel*`` matches every word starting with ``cancel``;
phrases ("still waiting") match as written. The rules live in YAML (``urgent:`` and
``complaint:`` lists); :func:`default_keywords` gives the generic list shipped with triage-ml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from triage_ml.contract.params import ConfigError

#: Fewer terms than this is not the rule set an inbox tool would ship.
MIN_TERMS = 20


@dataclass(frozen=True)
class KeywordRules:
    urgent: tuple[str, ...]
    complaint: tuple[str, ...]
    source: str = "<keywords>"

    def _pattern(self, terms: tuple[str, ...]) -> re.Pattern:
        parts = []
        for term in terms:
            stem = term.endswith("*")
            words = term.rstrip("*").split()
            body = r"\s+".join(re.escape(w) for w in words)
            # word boundaries where the term begins or ends with a letter ("!!!" has none)
            head = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
            tail = r"\w*" if stem else (r"(?!\w)" if re.search(r"\w$", words[-1]) else "")
            parts.append(f"{head}{body}{tail}")
        return re.compile("|".join(parts) or r"(?!x)x", flags=re.IGNORECASE)

    def matches(self, texts: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Which posts contain an urgency term, and which a complaint term."""
        texts = texts.astype(str)
        urgent = texts.str.contains(self._pattern(self.urgent), regex=True).to_numpy()
        complaint = texts.str.contains(self._pattern(self.complaint), regex=True).to_numpy()
        return urgent.astype(bool), complaint.astype(bool)

    def rank(self, texts: pd.Series) -> np.ndarray:
        """0 = an urgency term, 1 = a complaint term, 2 = neither."""
        urgent, complaint = self.matches(texts)
        return np.where(urgent, 0, np.where(complaint, 1, 2)).astype(np.int64)


def default_keywords_path() -> Path:
    return Path(str(resources.files("triage_ml.replay") / "keywords.yaml"))


def load_keywords(path: str | Path | None = None) -> KeywordRules:
    """Read keyword rules from YAML; ``None`` gives the generic list shipped with triage-ml."""
    path = Path(path) if path is not None else default_keywords_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: keyword rules file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: keyword rules are not valid YAML ({err})") from None
    return parse_keywords(raw, source=str(path))


def parse_keywords(raw: object, source: str = "<keywords>") -> KeywordRules:
    if not isinstance(raw, dict) or set(raw) - {"urgent", "complaint"}:
        raise ConfigError(
            f"{source}: keyword rules are a mapping with two lists, 'urgent' and 'complaint'"
        )
    lists = {}
    for key in ("urgent", "complaint"):
        terms = raw.get(key) or []
        if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
            raise ConfigError(f"{source}: '{key}' must be a list of non-empty terms")
        lists[key] = tuple(t.strip().lower() for t in terms)
    total = len(set(lists["urgent"]) | set(lists["complaint"]))
    if total < MIN_TERMS:
        raise ConfigError(
            f"{source}: {total} distinct terms; a keyword baseline needs at least {MIN_TERMS}"
        )
    return KeywordRules(lists["urgent"], lists["complaint"], source)
