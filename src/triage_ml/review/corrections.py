"""The learning loop for analysts: export the rows to re-check as a spreadsheet, read the
corrected file back and apply it to the history by id.

The export's texts are masked (:func:`~triage_ml.review.pii.mask_pii`); the import matches rows
by ``id`` and never reads text back, so masking loses nothing from the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage_ml.contract.columns import URGENCY_LEVELS
from triage_ml.contract.errors import DataError
from triage_ml.contract.validation import validate_posts
from triage_ml.review.pii import mask_pii

EXPORT_COLUMNS = [
    "id",
    "why",
    "labels",
    "suggested_labels",
    "corrected_labels",
    "urgency",
    "corrected_urgency",
    "text",
    "channel",
    "author_followers",
    "author_verified",
    "created_at",
]


def relabel_export(
    history: pd.DataFrame,
    suspects: pd.DataFrame | None = None,
    errors: pd.DataFrame | None = None,
    urgency: pd.DataFrame | None = None,
    ids: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows to re-check, one per post, for a person to correct in a spreadsheet.

    ``corrected_labels`` and ``corrected_urgency`` start as the recorded values: edit them
    (an empty ``corrected_labels`` cell means "no label"), leave the rest, and import the file
    with :func:`import_corrections`. ``why`` says which review table put the row here. Texts
    are masked; the import matches rows by ``id`` and never reads text back.
    """
    why: dict[str, list[str]] = {}
    suggested: dict[str, str] = {}

    def add(post_id: str, reason: str) -> None:
        why.setdefault(str(post_id), []).append(reason)

    if suspects is not None:
        for row in suspects.itertuples(index=False):
            add(row.id, f"suspected mislabel ({row.disputed})")
            suggested.setdefault(str(row.id), row.suggested_labels)
    if errors is not None:
        for row in errors.itertuples(index=False):
            add(row.id, f"{row.error} {row.label} (p={row.probability:.2f})")
            suggested.setdefault(str(row.id), row.predicted_labels)
    if urgency is not None:
        for row in urgency.itertuples(index=False):
            add(row.id, f"urgency {row.urgency:.2f} scored {row.predicted_urgency:.2f}")
            suggested.setdefault(str(row.id), row.predicted_labels)
    for post_id in ids:
        add(post_id, "chosen by hand")
    if not why:
        return pd.DataFrame(columns=EXPORT_COLUMNS)

    ids_wanted = list(why)
    frame = history.assign(id=history["id"].astype(str)).set_index("id", drop=False)
    missing = [i for i in ids_wanted if i not in frame.index]
    if missing:
        raise DataError(
            f"{len(missing)} id(s) are not in the history: {', '.join(missing[:5])}", column="id"
        )
    rows = frame.loc[ids_wanted].reset_index(drop=True)
    labels = rows["labels"].astype(object).where(rows["labels"].notna(), "")
    urgency_values = rows["urgency"] if "urgency" in rows else pd.Series(np.nan, index=rows.index)
    out = pd.DataFrame(
        {
            "id": rows["id"].astype(str),
            "why": ["; ".join(why[i]) for i in ids_wanted],
            "labels": labels,
            "suggested_labels": [suggested.get(i, "") for i in ids_wanted],
            "corrected_labels": labels,
            "urgency": urgency_values.to_numpy(),
            "corrected_urgency": urgency_values.to_numpy(),
            "text": mask_pii(rows["text"]).to_numpy(),
        }
    )
    for col in ("channel", "author_followers", "author_verified", "created_at"):
        out[col] = rows[col].to_numpy() if col in rows else None
    # whole numbers and true/false read better in a spreadsheet than 6282.0 and 1.0
    if pd.api.types.is_float_dtype(out["author_followers"].dtype):
        out["author_followers"] = out["author_followers"].round().astype("Int64")
    if pd.api.types.is_float_dtype(out["author_verified"].dtype):
        out["author_verified"] = out["author_verified"].map({1.0: True, 0.0: False})
    return out[EXPORT_COLUMNS]


def read_corrections(path: str | Path) -> pd.DataFrame:
    """Read a corrected export as text, so that an empty cell stays "" (= no label) and ids
    keep their leading zeros, whatever a spreadsheet did to the types."""
    from triage_ml.contract.readers import read_table

    path = Path(path)
    if path.suffix.lower() != ".csv":
        return read_table(path)
    if not path.is_file():
        raise DataError("file not found", source=str(path))
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@dataclass
class Corrections:
    """The result of importing corrections.

    ``history`` is the updated history (same rows, order and columns as given, only the
    corrected cells differ); ``changes`` has one row per changed post; ``by_label`` counts
    labels added and removed.
    """

    history: pd.DataFrame
    changes: pd.DataFrame
    by_label: pd.DataFrame
    rows_in_file: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the console and the notebook."""
        changed = len(self.changes)
        per = ", ".join(
            f"{r.label} +{r.added}/-{r.removed}"
            for r in self.by_label.itertuples(index=False)
            if r.added or r.removed
        )
        return (
            f"{self.rows_in_file} corrected rows read, {changed} posts changed"
            + (f" ({per})" if per else "")
            + f", {self.rows_in_file - changed} unchanged"
        )


def _label_sets(values: pd.Series) -> list[frozenset[str] | None]:
    out: list[frozenset[str] | None] = []
    for v in values.astype(object):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        else:
            out.append(frozenset(t.strip() for t in str(v).split(";") if t.strip()))
    return out


def import_corrections(
    history: pd.DataFrame,
    corrections: pd.DataFrame,
    label_set: Sequence[str],
    exclusive: bool = False,
    source: str = "<corrections>",
) -> Corrections:
    """Apply corrected labels (and urgency) to a history, by id, and record what changed.

    ``corrections`` needs ``id`` and ``corrected_labels`` (or ``labels``); ``corrected_urgency``
    (or ``urgency``) is optional. A missing cell (None/NaN) keeps the recorded value; an empty
    labels cell means "no label". Rows of the history that are not in the file stay exactly as
    they were. Unknown ids, duplicate ids and labels outside the label set are errors that name
    the rows.
    """
    labels_declared = list(label_set)
    if "id" not in corrections.columns:
        raise DataError("the corrections need an 'id' column", source=source, column="id")
    label_col = next((c for c in ("corrected_labels", "labels") if c in corrections), None)
    urgency_col = next((c for c in ("corrected_urgency", "urgency") if c in corrections), None)
    if label_col is None and urgency_col is None:
        raise DataError(
            "nothing to import: expected a 'corrected_labels' (or 'labels') column and/or a "
            "'corrected_urgency' (or 'urgency') column",
            source=source,
        )
    if "labels" not in history.columns:
        raise DataError("the history has no 'labels' column to correct", column="labels")
    corrections = corrections.reset_index(drop=True)
    ids = corrections["id"].astype(str).str.strip()
    text_placeholder = pd.Series("-", index=corrections.index)
    raw_labels = corrections[label_col] if label_col else pd.Series(None, index=ids.index)
    raw_urgency = corrections[urgency_col] if urgency_col else pd.Series(None, index=ids.index)
    raw_urgency = raw_urgency.astype(object).where(
        raw_urgency.notna() & (raw_urgency.astype(str).str.strip() != ""), None
    )
    # the contract's own checks: unknown labels (listing the declared ones), bad urgency,
    # duplicate ids, with the file's row numbers
    canonical, _ = validate_posts(
        pd.DataFrame(
            {"id": ids, "text": text_placeholder, "labels": raw_labels, "urgency": raw_urgency}
        ),
        label_set=labels_declared,
        exclusive=exclusive,
        source=source,
    )
    history_ids = history["id"].astype(str)
    position = pd.Series(np.arange(len(history)), index=history_ids)
    if not history_ids.is_unique:
        raise DataError("the history has duplicate ids; fix them first", column="id")
    unknown = ~ids.isin(history_ids)
    if unknown.any():
        raise DataError(
            f"{int(unknown.sum())} id(s) are not in the history (e.g. "
            f"{', '.join(ids[unknown].head(5))}); corrections only change existing posts",
            source=source,
            column="id",
            rows=np.flatnonzero(unknown).tolist(),
            row_base=1,
        )
    at = position.loc[ids].to_numpy()

    updated = history.copy()
    before_sets = _label_sets(history["labels"].iloc[at])
    after_sets = _label_sets(canonical["labels"])
    if label_col is None:
        after_sets = [None] * len(at)
    urgency_names = _uses_urgency_names(history)
    before_u = (
        _urgency_numbers(history["urgency"].iloc[at])
        if "urgency" in history
        else np.full(len(at), np.nan)
    )
    after_u = canonical["urgency"].to_numpy(dtype=float)

    records = []
    label_cells: dict[int, object] = {}
    urgency_cells: dict[int, object] = {}
    for j, row in enumerate(at):
        before, after = before_sets[j], after_sets[j]
        label_changed = after is not None and after != (before or frozenset())
        if after is not None and before is None and not after:
            label_changed = False  # an unlabelled row exported as "" and left alone
        u_changed = not np.isnan(after_u[j]) and not (
            not np.isnan(before_u[j]) and abs(after_u[j] - before_u[j]) < 1e-9
        )
        if not (label_changed or u_changed):
            continue
        added = sorted(after - (before or frozenset())) if label_changed else []
        removed = sorted((before or frozenset()) - after) if label_changed else []
        if label_changed:
            label_cells[row] = ";".join(lab for lab in labels_declared if lab in after)
        if u_changed:
            urgency_cells[row] = _urgency_cell(after_u[j], urgency_names, source, j)
        records.append(
            {
                "id": ids.iloc[j],
                "labels_before": _format_set(before, labels_declared),
                "labels_after": _format_set(after if label_changed else before, labels_declared),
                "added": ";".join(added),
                "removed": ";".join(removed),
                "urgency_before": before_u[j],
                "urgency_after": after_u[j] if u_changed else before_u[j],
            }
        )
    if label_cells:
        rows = list(label_cells)
        col = updated["labels"].astype(object)
        col.iloc[rows] = list(label_cells.values())
        updated["labels"] = col
    if urgency_cells:
        col = updated["urgency"].astype(object) if "urgency" in updated else None
        if col is None:
            col = pd.Series(np.nan, index=updated.index, dtype=object)
        col.iloc[list(urgency_cells)] = list(urgency_cells.values())
        updated["urgency"] = col if urgency_names else pd.to_numeric(col)
    changes = pd.DataFrame(
        records,
        columns=[
            "id",
            "labels_before",
            "labels_after",
            "added",
            "removed",
            "urgency_before",
            "urgency_after",
        ],
    )
    by_label = pd.DataFrame(
        {
            "label": labels_declared,
            "added": [
                int(changes["added"].str.split(";").explode().eq(lab).sum())
                for lab in labels_declared
            ],
            "removed": [
                int(changes["removed"].str.split(";").explode().eq(lab).sum())
                for lab in labels_declared
            ],
        }
    )
    by_label["net"] = by_label["added"] - by_label["removed"]
    return Corrections(updated, changes, by_label, rows_in_file=len(corrections))


def _format_set(values: frozenset[str] | None, order: Sequence[str]) -> str | None:
    if values is None:
        return None
    return ";".join(lab for lab in order if lab in values)


def _uses_urgency_names(history: pd.DataFrame) -> bool:
    if "urgency" not in history:
        return False
    present = history["urgency"].dropna().astype(str).str.strip().str.lower()
    return bool(len(present)) and bool(present.isin(list(URGENCY_LEVELS)).all())


def _urgency_numbers(values: pd.Series) -> np.ndarray:
    names = values.astype(object).map(
        lambda v: URGENCY_LEVELS.get(v.strip().lower(), v) if isinstance(v, str) else v
    )
    return pd.to_numeric(names, errors="coerce").to_numpy(dtype=float)


def _urgency_cell(value: float, as_name: bool, source: str, row: int) -> object:
    """A corrected urgency in the history's own form: the contract forbids mixing names and
    numbers in one file."""
    if not as_name:
        return float(value)
    for name, level in URGENCY_LEVELS.items():
        if abs(level - value) < 1e-9:
            return name
    raise DataError(
        f"the history writes urgency as names ({', '.join(URGENCY_LEVELS)}), so a corrected "
        f"urgency must be one of them, got {value}",
        source=source,
        column="urgency",
        rows=[row],
        row_base=0,
    )
