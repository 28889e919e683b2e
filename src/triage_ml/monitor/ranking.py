"""The next posts worth labelling: uncertain near a threshold, weighted by predicted urgency.

A label teaches the model most where it is unsure, and for a label the model is unsure where
its probability sits near the label's decision threshold (not near 0.5: thresholds are chosen
per label on validation data). Per post and label, closeness is
``1 - min(|p - threshold| / width, 1)`` with ``width`` twice the abstain band (at least 0.1), so
it is 1 on the threshold and 0 once a post is clearly on one side; a post's uncertainty is its
largest closeness over the labels. A mistake costs more on an urgent post, so posts are ranked
by ``uncertainty * (URGENCY_FLOOR + predicted urgency)``: urgency weights the choice without
hiding an uncertain calm post entirely.

Plain numpy: small-text and modAL implement query strategies (least confidence, margin,
entropy) over a model they retrain in a loop; here the model is fixed, the thresholds are the
model's own and the urgency weight is ours, which is one vectorised expression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from triage_ml.decide.scoring import score_posts

if TYPE_CHECKING:
    from triage_ml.store.bundle import Bundle

URGENCY_FLOOR = 0.1
MIN_WIDTH = 0.1


def suggest(bundle: Bundle, posts: pd.DataFrame, n: int = 200) -> pd.DataFrame:
    """The ``n`` posts (a canonical posts frame) most worth labelling, best first: ``id``,
    ``rank``, ``priority``, ``uncertainty``, ``urgency``, the label nearest its threshold, its
    probability and threshold. No text."""
    preds = score_posts(bundle, posts, validated=True, with_reasons=False)
    thresholds = np.asarray(bundle.triager.thresholds_, dtype=float)
    if bundle.triager.exclusive or not np.any(thresholds):
        # one label per post: unsure where the two most likely labels are close
        top = np.sort(preds.probabilities, axis=1)[:, ::-1]
        closeness = 1 - (top[:, 0] - top[:, 1 if top.shape[1] > 1 else 0])
        nearest = preds.probabilities.argmax(axis=1)
        uncertainty = np.clip(closeness, 0, 1)
        near_t = np.full(len(posts), np.nan)
    else:
        width = max(2 * float(bundle.triager.abstain_band), MIN_WIDTH)
        distance = np.abs(preds.probabilities - thresholds) / width
        closeness = 1 - np.minimum(distance, 1)
        nearest = closeness.argmax(axis=1)
        uncertainty = closeness[np.arange(len(posts)), nearest]
        near_t = thresholds[nearest]
    urgency = np.asarray(preds.urgency, dtype=float)
    priority = uncertainty * (URGENCY_FLOOR + urgency)
    order = np.lexsort((-uncertainty, -priority))[: max(n, 0)]
    labels = np.asarray(preds.labels, dtype=object)
    rows = np.arange(len(posts))
    return pd.DataFrame(
        {
            "id": np.asarray(preds.ids, dtype=object)[order],
            "rank": np.arange(1, len(order) + 1),
            "priority": np.round(priority[order], 4),
            "uncertainty": np.round(uncertainty[order], 4),
            "urgency": np.round(urgency[order], 4),
            "nearest_label": labels[nearest[order]],
            "probability": np.round(preds.probabilities[rows, nearest][order], 4),
            "threshold": np.round(near_t[order], 4),
        }
    )
