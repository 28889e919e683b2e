"""Error rates by slice (channel, author follower tier, post length, time): where the model
fails more often than overall, with an interval so that small slices do not look alarming by
chance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage_ml.review.tables import ReviewData

_FOLLOWER_EDGES = [0, 1_000, 10_000, 100_000, 1_000_000, np.inf]
_FOLLOWER_NAMES = ["<1k", "1k-10k", "10k-100k", "100k-1M", "1M+"]
_LENGTH_EDGES = [0, 80, 160, 280, np.inf]
_LENGTH_NAMES = ["<80 chars", "80-159 chars", "160-279 chars", "280+ chars"]


def follower_tier(followers: pd.Series) -> pd.Series:
    """Author reach in tiers people use (<1k ... 1M+); ``unknown`` where it is missing."""
    values = pd.to_numeric(followers, errors="coerce")
    tier = pd.cut(values, _FOLLOWER_EDGES, labels=_FOLLOWER_NAMES, right=False)
    return tier.cat.add_categories("unknown").fillna("unknown")


def length_bucket(text: pd.Series) -> pd.Series:
    """Post length in characters: a tweet-sized post and an e-mail fail differently."""
    lengths = text.astype(str).str.len()
    return pd.cut(lengths, _LENGTH_EDGES, labels=_LENGTH_NAMES, right=False)


def time_bucket(created_at: pd.Series) -> pd.Series:
    """Week of posting (month when the data spans more than half a year): drift shows here."""
    ts = pd.to_datetime(created_at, utc=True)
    if ts.notna().sum() == 0:
        return pd.Series("unknown", index=created_at.index, dtype=object)
    span = ts.max() - ts.min()
    naive = ts.dt.tz_localize(None)
    if span > pd.Timedelta(days=183):
        bucket = naive.dt.to_period("M").dt.start_time.dt.strftime("%Y-%m")
    else:
        bucket = naive.dt.to_period("W-SUN").dt.start_time.dt.strftime("week of %Y-%m-%d")
    return bucket.astype(object).where(ts.notna(), "unknown")


def _wilson(errors: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """95% interval of an error rate: small slices look extreme by chance."""
    n = np.maximum(n, 1)
    p = errors / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


SLICES = ("channel", "follower tier", "text length", "time")


def slice_error_rates(data: ReviewData, min_posts: int = 1) -> pd.DataFrame:
    """Error rates by channel, follower tier, text length and time.

    ``error_rate`` is the share of posts with at least one wrong label decision, with a 95%
    (Wilson) interval; ``vs_overall`` is its difference to the whole batch, so the slices that
    need attention sort to the top within each slice. ``worst_label`` is the label with the
    most wrong decisions in the slice.
    """
    frame = data.frame
    wrong = data.wrong
    post_wrong = wrong.any(axis=1)
    pred = data.predictions.predicted.astype(bool)
    fp = (wrong & pred).sum(axis=1)
    fn = (wrong & ~pred).sum(axis=1)
    true_u = frame["urgency"].to_numpy(dtype=float)
    abs_u = np.abs(true_u - data.predictions.urgency)
    keys = {
        "channel": frame["channel"].astype(object).fillna("unknown").astype(str),
        "follower tier": follower_tier(frame["author_followers"]).astype(str),
        "text length": length_bucket(frame["text"]).astype(str),
        "time": time_bucket(frame["created_at"]).astype(str),
    }
    natural = {
        "follower tier": [*_FOLLOWER_NAMES, "unknown"],
        "text length": _LENGTH_NAMES,
    }
    overall = float(post_wrong.mean())
    labels = np.asarray(data.labels, dtype=object)
    parts = []
    for name, key in keys.items():
        key = key.to_numpy()
        values = natural.get(name) or (
            sorted(pd.unique(key)) if name == "time" else list(pd.Series(key).value_counts().index)
        )
        for value in values:
            mask = key == value
            n = int(mask.sum())
            if n < max(min_posts, 1):
                continue
            has_u = mask & ~np.isnan(true_u)
            per_label = wrong[mask].sum(axis=0)
            parts.append(
                {
                    "slice": name,
                    "value": value,
                    "posts": n,
                    "share": n / len(frame),
                    "wrong_posts": int(post_wrong[mask].sum()),
                    "error_rate": float(post_wrong[mask].mean()),
                    "false_pos": int(fp[mask].sum()),
                    "false_neg": int(fn[mask].sum()),
                    "worst_label": str(labels[per_label.argmax()]) if per_label.any() else "",
                    "urgency_mae": float(abs_u[has_u].mean()) if has_u.any() else np.nan,
                }
            )
    columns = [
        "slice",
        "value",
        "posts",
        "share",
        "wrong_posts",
        "error_rate",
        "error_rate_low",
        "error_rate_high",
        "vs_overall",
        "false_pos",
        "false_neg",
        "worst_label",
        "urgency_mae",
    ]
    out = pd.DataFrame(parts)
    if out.empty:
        return pd.DataFrame(columns=columns)
    low, high = _wilson(out["wrong_posts"].to_numpy(), out["posts"].to_numpy())
    out["error_rate_low"], out["error_rate_high"] = low, high
    out["vs_overall"] = out["error_rate"] - overall
    for col in ("share", "error_rate", "error_rate_low", "error_rate_high", "vs_overall"):
        out[col] = out[col].round(3)
    out["urgency_mae"] = out["urgency_mae"].round(3)
    return out[columns]
