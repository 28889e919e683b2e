"""The orders an inbox can be worked in, each as a rank per post (lower = answered first).

- ``fifo``: arrival order, what a community manager does without triage.
- ``model``: triage-ml's priority: the predicted tier, then the earliest ``respond_by``.
- ``keywords``: the kind of rules inbox tools ship (:mod:`triage_ml.replay.keywords`): posts
  with an urgency term first, then posts with a complaint term, each in arrival order.
- ``oracle``: the tier and deadline the *true* labels and urgency give under the same
  playbook: the best order any model could reach with this playbook.

Ties always go in arrival order (the simulation breaks them so), so every order is a total one
and the replay is deterministic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ORDERINGS: tuple[str, ...] = ("fifo", "model", "keywords", "oracle")
TITLES = {
    "fifo": "arrival order (FIFO)",
    "model": "triage-ml priority",
    "keywords": "keyword rules",
    "oracle": "oracle (true labels)",
}


def fifo_rank(n: int) -> np.ndarray:
    """Every post ranks the same: the queue is served in arrival order."""
    return np.zeros(n, dtype=np.int64)


def priority_rank(tier: np.ndarray, tier_names: list[str], respond_by: pd.Series) -> np.ndarray:
    """Rank by tier (the playbook's order, most urgent first), then by deadline."""
    position = {name: k for k, name in enumerate(tier_names)}
    tier_idx = np.array([position[str(t)] for t in tier], dtype=np.int64)
    due = pd.to_datetime(respond_by, utc=True).dt.as_unit("ns").astype("int64").to_numpy()
    order = np.lexsort((due, tier_idx))
    # equal (tier, deadline) pairs share a rank, so arrival order decides between them
    same = np.zeros(len(order), dtype=bool)
    if len(order) > 1:
        same[1:] = (tier_idx[order][1:] == tier_idx[order][:-1]) & (
            due[order][1:] == due[order][:-1]
        )
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.cumsum(~same) - 1
    return rank
