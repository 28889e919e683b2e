"""The small-batch path of validation: a few ordinary posts checked with plain Python.

The service validates one request at a time, often a single post, and the general checks
(:mod:`triage_ml.contract.checks`) spend milliseconds in pandas' fixed costs per call. Two
things here avoid them for batches of at most ``_SMALL_BATCH`` posts: :func:`_valid_small_batch`
(the whole canonical frame of valid, ordinary posts) and the loop in :func:`_strings` (the
trimming every column check uses). Both read ``_SMALL_BATCH`` when called, so setting it to 0
turns them off; the tests do that to compare them with the general path, bit for bit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from triage_ml.contract.columns import MAX_TEXT_CHARS, MAX_YEAR, MIN_YEAR, REQUIRED_COLUMNS
from triage_ml.contract.errors import SKIP_NO_URGENCY, LoadReport

_SMALL_BATCH = 64
_SMALL_BATCH_COLUMNS = frozenset(
    ("id", "text", "created_at", "channel", "author_followers", "author_verified")
)


def _absent(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and value != value)
    )


def _valid_small_batch(
    frame: pd.DataFrame, declared: list[str], source: str
) -> tuple[pd.DataFrame, LoadReport] | None:
    """The canonical frame of a few ordinary, valid posts, built from Python lists.

    The service validates one request at a time, often a single post, and the general checks
    spend milliseconds in pandas' fixed costs per call. This path covers the common case only
    (plain strings, ints, bools, no labels or urgency) and returns ``None`` on anything else,
    including every invalid value, so the general checks decide and word every error. The
    tests compare both paths on generated batches: same frame, same report. Empty batches and
    batches of more than ``_SMALL_BATCH`` posts go the general way too.
    """
    if not 0 < len(frame) <= _SMALL_BATCH:
        return None
    columns = list(frame.columns)
    if (
        len(set(columns)) != len(columns)
        or not all(isinstance(c, str) for c in columns)
        or not set(REQUIRED_COLUMNS) <= set(columns)
        or not set(columns) <= _SMALL_BATCH_COLUMNS
    ):
        return None
    n = len(frame)
    cells = {c: frame[c].to_numpy(dtype=object) for c in columns}

    ids: list[str] = []
    for value in cells["id"]:
        if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            return None
        ids.append(value)
    if len(set(ids)) != n:
        return None
    texts: list[str] = []
    for value in cells["text"]:
        if not isinstance(value, str):
            return None
        value = value.strip()
        if not value or len(value) > MAX_TEXT_CHARS:
            return None
        texts.append(value)

    created_at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    if "created_at" in cells and not all(_absent(v) for v in cells["created_at"]):
        if not all(_absent(v) or isinstance(v, str) for v in cells["created_at"]):
            return None
        text, absent = _strings(frame["created_at"].reset_index(drop=True).astype(object))
        parsed = pd.to_datetime(text.where(~absent), utc=True, errors="coerce", format="ISO8601")
        if (parsed.isna().to_numpy() & ~absent).any():
            return None
        if not all(_year_in_range(t) for t in text[~absent]):
            return None  # out of range: the general check words the error
        created_at = parsed.dt.as_unit("us")

    channels = ["unknown"] * n
    for i, value in enumerate(cells.get("channel", ())):
        if _absent(value):
            continue
        if not isinstance(value, str) or not value.isascii():
            return None  # non-ASCII lower-casing is left to pandas
        channels[i] = value.strip().lower() or "unknown"

    followers = [np.nan] * n
    for i, value in enumerate(cells.get("author_followers", ())):
        if _absent(value):
            continue
        if isinstance(value, bool | np.bool_) or not isinstance(
            value, int | float | np.integer | np.floating
        ):
            return None
        if not 0 <= value <= 2**53:  # negative, infinite or beyond exact floats
            return None
        followers[i] = float(value)

    verified = [np.nan] * n
    for i, value in enumerate(cells.get("author_verified", ())):
        if _absent(value):
            continue
        if not isinstance(value, bool | np.bool_):
            return None
        verified[i] = float(value)

    canonical = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="str"),
            "text": pd.Series(texts, dtype="str"),
            "created_at": created_at,
            "channel": pd.Series(channels, dtype="str"),
            "author_followers": pd.Series(followers, dtype="float64"),
            "author_verified": pd.Series(verified, dtype="float64"),
            "labels": pd.Series([None] * n, dtype=object),
            "urgency": pd.Series(np.nan, index=range(n), dtype="float64"),
        }
    )
    report = LoadReport(
        source=source,
        rows_read=n,
        rows_with_labels=0,
        rows_with_urgency=0,
        skipped={SKIP_NO_URGENCY: n},
        label_counts={label: 0 for label in declared},
        ignored_columns=[],
    )
    return canonical, report


def _year_in_range(text: str) -> bool:
    year = text[:4]
    return year.isascii() and year.isdigit() and MIN_YEAR <= int(year) <= MAX_YEAR


def _strings(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Trimmed text of each cell and a null mask (null, or empty after trimming, is null)."""
    null = series.isna().to_numpy()
    if len(series) <= _SMALL_BATCH:
        # a few posts (the service scoring one request): a loop beats pandas' fixed costs
        cells = list(zip(series.to_numpy(dtype=object), null, strict=True))
        if all(m or isinstance(v, str) for v, m in cells):
            trimmed = [None if m else (v.strip() or None) for v, m in cells]
            out = pd.Series(trimmed, index=series.index, dtype="str")
            return out, out.isna().to_numpy()
    # mask after the cast: pandas 2 turns None into "None" where pandas 3 keeps it missing
    out = series.astype("str").where(~null).str.strip()
    null = null | (out.fillna("") == "").to_numpy()
    return out.where(~null), null


# -- posts as plain values (the service's single posts) ----------------------------------------

# The ISO-8601 forms the plain path reads itself; any other form goes through pandas.
_PLAIN_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:\d{2})?"
)


@dataclass
class PlainPosts:
    """Canonical posts as plain lists: the values :func:`_valid_small_batch` puts in its frame
    (``None`` for a missing ``created_at``, NaN for missing followers or verified)."""

    ids: list[str]
    texts: list[str]
    created_at: list[datetime | None]
    channels: list[str]
    followers: np.ndarray
    verified: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def plain_posts(posts: Sequence[Mapping[str, Any]]) -> PlainPosts | None:
    """The canonical values of a few ordinary, valid posts given as mappings (JSON objects),
    without a frame; ``None`` for anything else, which then goes the general way (and gets its
    errors worded there). The same rules as :func:`_valid_small_batch`, plus: ``created_at``
    only in the plain ISO-8601 forms of ``_PLAIN_DATE`` (others go through pandas). The tests
    compare both on generated posts."""
    n = len(posts)
    if not 0 < n <= _SMALL_BATCH:
        return None
    ids: list[str] = []
    texts: list[str] = []
    created: list[datetime | None] = []
    channels: list[str] = []
    followers = np.full(n, np.nan)
    verified = np.full(n, np.nan)
    for i, post in enumerate(posts):
        if not isinstance(post, Mapping) or not _SMALL_BATCH_COLUMNS.issuperset(post):
            return None
        value = post.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            return None
        ids.append(value)
        value = post.get("text")
        if not isinstance(value, str):
            return None
        value = value.strip()
        if not value or len(value) > MAX_TEXT_CHARS:
            return None
        texts.append(value)
        value = post.get("created_at")
        when = None
        if not _absent(value):
            if not isinstance(value, str):
                return None
            value = value.strip()
            if value:
                when = _plain_date(value)
                if when is None:
                    return None
        created.append(when)
        value = post.get("channel")
        channel = "unknown"
        if not _absent(value):
            if not isinstance(value, str) or not value.isascii():
                return None
            channel = value.strip().lower() or "unknown"
        channels.append(channel)
        value = post.get("author_followers")
        if not _absent(value):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            if not 0 <= value <= 2**53:
                return None
            followers[i] = float(value)
        value = post.get("author_verified")
        if not _absent(value):
            if not isinstance(value, bool):
                return None
            verified[i] = float(value)
    if len(set(ids)) != n:
        return None
    return PlainPosts(ids, texts, created, channels, followers, verified)


def _plain_date(text: str) -> datetime | None:
    """A UTC datetime of a plain ISO-8601 date or date-time (no offset = UTC), as pandas'
    ``to_datetime(format="ISO8601", utc=True)`` reads it; ``None`` when not plain or invalid."""
    if not _PLAIN_DATE.fullmatch(text) or not _year_in_range(text):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
