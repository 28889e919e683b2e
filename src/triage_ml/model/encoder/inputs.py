"""What the encoder reads beside the text: author and channel metadata as a small dense matrix.

Followers enter as ``log1p`` (reach spans six orders of magnitude), verification as 0/1, and
the channel one-hot over the channels seen in training; missing values stay NaN and are
replaced by the training mean inside the runtime (after standardisation, a 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_CHANNELS = 12


def training_channels(posts: pd.DataFrame) -> list[str]:
    """The most frequent channels of the history (the one-hot columns)."""
    if "channel" not in posts:
        return []
    counts = posts["channel"].dropna().astype(str).value_counts()
    return list(counts.index[:MAX_CHANNELS])


def encoder_meta(posts: pd.DataFrame, channels: list[str]) -> np.ndarray:
    """``(n, 2 + len(channels))`` float32: log1p(followers), verified, channel one-hot."""
    n = len(posts)

    def column(name: str) -> np.ndarray:
        if name not in posts:
            return np.full(n, np.nan)
        return pd.to_numeric(posts[name], errors="coerce").to_numpy(dtype=float)

    followers = np.log1p(column("author_followers").clip(min=0))
    verified = column("author_verified")
    blocks = [followers[:, None], verified[:, None]]
    if channels:
        channel = posts["channel"].astype(str).to_numpy() if "channel" in posts else None
        onehot = np.zeros((n, len(channels)))
        if channel is not None:
            onehot = (channel[:, None] == np.asarray(channels, dtype=object)[None, :]).astype(float)
        blocks.append(onehot)
    return np.hstack(blocks).astype(np.float32)
