"""The declared label set and the indicator matrix of a canonical frame's labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from triage_ml.contract.errors import DataError


def _check_label_set(label_set: Sequence[str]) -> list[str]:
    if isinstance(label_set, str):
        raise ValueError(f"label_set must be a list of labels, got the string {label_set!r}")
    labels = [str(x) for x in label_set]
    if not labels:
        raise ValueError("label_set is empty: declare at least one label")
    bad = [x for x in labels if not x.strip() or ";" in x or x != x.strip()]
    if bad:
        raise ValueError(f"labels must be non-empty, untrimmed-space-free and without ';': {bad}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"label_set declares a label twice: {labels}")
    return labels


def label_matrix(frame: pd.DataFrame, label_set: Sequence[str]) -> np.ndarray:
    """The (n, k) int8 indicator matrix of a canonical frame's ``labels``.

    Unlabelled rows are all zeros, the same as "no label": the caller decides whether to keep
    them (``frame["labels"].notna()``).
    """
    declared = _check_label_set(label_set)
    if "labels" not in frame.columns:
        raise DataError(
            "no 'labels' column; pass the frame returned by validate_posts", column="labels"
        )
    cells = frame["labels"].astype(object).where(frame["labels"].notna(), None)
    padded = (";" + cells.astype("str").fillna("") + ";").reset_index(drop=True)
    out = np.zeros((len(frame), len(declared)), dtype=np.int8)
    for j, label in enumerate(declared):  # a loop over labels, not rows
        out[:, j] = padded.str.contains(f";{label};", regex=False).to_numpy(dtype=bool)
    tokens = cells.astype("str").fillna("").str.count(";").to_numpy() + 1
    tokens = np.where(cells.astype("str").fillna("").to_numpy() == "", 0, tokens)
    unknown = tokens != out.sum(axis=1)
    if unknown.any():
        raise DataError(
            f"labels outside the label set {', '.join(declared)} (or not in canonical form); "
            "pass the frame returned by validate_posts with the same label_set",
            column="labels",
            rows=np.flatnonzero(unknown).tolist(),
            row_base=0,
        )
    return out
