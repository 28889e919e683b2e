"""Training on a history and agents' corrections together, the corrections winning.

``triage-ml train --data history.csv --data corrections.csv`` reads every file; a file with the
provenance columns ``reviewer`` and ``corrected_at`` (what ``triage-ml feedback export``
writes) is a corrections file, any other is a history. Histories are stacked (a post id in two
of them is an error: which label would be right?); corrections are then applied in the order
given, whatever their position on the command line: for a post already in a history, a
correction replaces the fields it corrects (``labels``, ``urgency``; the post's text and
metadata stay the history's); a post only in the corrections is added. The result says how many
rows came from feedback, for the bundle's metadata and the MLflow run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage_ml.contract.columns import CANONICAL_COLUMNS
from triage_ml.contract.errors import DataError, LoadReport
from triage_ml.contract.readers import read_table
from triage_ml.contract.validation import validate_posts

_MARKERS = ("reviewer", "corrected_at")


@dataclass
class TrainingData:
    """A merged, validated training frame and where its rows came from."""

    frame: pd.DataFrame
    report: LoadReport
    from_feedback: np.ndarray
    """Per row of ``frame``: its labels or urgency came from a correction."""
    added: np.ndarray
    """Per row of ``frame``: the post is in no history, only in the corrections."""
    histories: list[str] = field(default_factory=list)
    corrections: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return " + ".join([*self.histories, *self.corrections])


def is_corrections(frame: pd.DataFrame) -> bool:
    """Whether a table read from a file is a corrections export (it has provenance columns)."""
    return all(column in frame.columns for column in _MARKERS)


def _corrected_fields(raw: pd.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Which rows correct the labels and which the urgency."""
    if "corrected_fields" not in raw.columns:
        labels = raw["labels"].notna().to_numpy() if "labels" in raw.columns else None
        urgency = raw["urgency"].notna().to_numpy() if "urgency" in raw.columns else None
        n = len(raw)
        return (
            labels if labels is not None else np.zeros(n, bool),
            urgency if urgency is not None else np.zeros(n, bool),
        )
    cells = raw["corrected_fields"].astype(object).where(raw["corrected_fields"].notna(), "")
    tokens = cells.astype(str).str.split(";").map(lambda parts: {p.strip() for p in parts} - {""})
    bad = tokens.map(lambda t: not t <= {"labels", "urgency"}).to_numpy()
    if bad.any():
        raise DataError(
            "corrected_fields must be labels, urgency or labels;urgency",
            source=source,
            column="corrected_fields",
            rows=(np.flatnonzero(bad) + 1).tolist(),
        )
    return (
        tokens.map(lambda t: "labels" in t).to_numpy(dtype=bool),
        tokens.map(lambda t: "urgency" in t).to_numpy(dtype=bool),
    )


def merge_training_data(
    paths: Sequence[str | Path],
    *,
    label_set: Sequence[str],
    exclusive: bool = False,
    min_examples: int = 5,
) -> TrainingData:
    """Read histories and corrections files and merge them (see the module's docstring)."""
    histories: list[tuple[str, pd.DataFrame]] = []
    corrections: list[tuple[str, pd.DataFrame, np.ndarray, np.ndarray]] = []
    for path in paths:
        source = str(path)
        raw = read_table(path)
        if is_corrections(raw):
            fix_labels, fix_urgency = _corrected_fields(raw, source)
            posts = raw[[c for c in CANONICAL_COLUMNS if c in raw.columns]].copy()
            if "labels" in posts.columns:  # not corrected: not a claim that there is no label
                posts["labels"] = posts["labels"].astype(object).where(fix_labels, None)
            frame, _ = validate_posts(
                posts, label_set=label_set, exclusive=exclusive, source=source, row_base=1
            )
            corrections.append((source, frame, fix_labels, fix_urgency))
        else:
            frame, _ = validate_posts(
                raw, label_set=label_set, exclusive=exclusive, source=source, row_base=1
            )
            histories.append((source, frame))
    if not histories and not corrections:
        raise DataError("no training data given: pass --data at least once")

    merged = pd.concat([f for _, f in histories], ignore_index=True) if histories else None
    if merged is None:
        merged = corrections[0][1].iloc[:0].copy()
    owner = np.concatenate([[s] * len(f) for s, f in histories]) if histories else np.array([])
    dup = merged["id"].duplicated(keep=False).to_numpy()
    if dup.any():
        first = merged["id"][dup].iloc[0]
        files = sorted(set(owner[(merged["id"] == first).to_numpy()]))
        raise DataError(
            f"post id {first!r} is in several histories ({', '.join(files)}; "
            f"{int(merged['id'][dup].nunique())} ids in all); a post may be in one history "
            "only: pass its corrections as a corrections file (triage-ml feedback export)",
            column="id",
        )

    from_feedback = np.zeros(len(merged), dtype=bool)
    added = np.zeros(len(merged), dtype=bool)
    for _source, frame, fix_labels, fix_urgency in corrections:
        index = pd.Index(merged["id"])
        position = index.get_indexer(frame["id"])
        known = position >= 0
        for column, fix in (("labels", fix_labels), ("urgency", fix_urgency)):
            rows = known & fix
            if rows.any():
                values = merged[column].to_numpy(dtype=object if column == "labels" else None)
                values = values.copy()
                values[position[rows]] = frame[column].to_numpy()[rows]
                merged[column] = pd.Series(values, dtype=merged[column].dtype)
                from_feedback[position[rows]] = True
        new = ~known & (fix_labels | fix_urgency)
        if new.any():
            extra = frame[new].copy()
            extra.loc[~fix_urgency[new], "urgency"] = np.nan
            merged = pd.concat([merged, extra], ignore_index=True)
            from_feedback = np.concatenate([from_feedback, np.ones(int(new.sum()), bool)])
            added = np.concatenate([added, np.ones(int(new.sum()), bool)])

    sources = [s for s, _ in histories] + [s for s, *_ in corrections]
    final, report = validate_posts(
        merged,
        label_set=label_set,
        exclusive=exclusive,
        require_labels=True,
        min_examples=min_examples,
        source=" + ".join(sources),
        row_base=0,
    )
    return TrainingData(
        frame=final,
        report=report,
        from_feedback=from_feedback,
        added=added,
        histories=[s for s, _ in histories],
        corrections=[s for s, *_ in corrections],
    )
