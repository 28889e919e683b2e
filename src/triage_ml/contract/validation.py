"""Validating posts against the input contract: :func:`validate_posts` and :func:`load_history`.

Everything downstream (features, training, scoring, the service) works on the *canonical*
frame that :func:`validate_posts` returns, so every check about the shape of the input runs
from here, once. Bad input raises :class:`~triage_ml.contract.errors.DataError`; nothing is
dropped silently: what training will not use is counted in the
:class:`~triage_ml.contract.errors.LoadReport`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from triage_ml.contract.checks import (
    _check_channel,
    _check_created_at,
    _check_followers,
    _check_ids,
    _check_labels,
    _check_not_containers,
    _check_text,
    _check_urgency,
    _check_verified,
    _Checks,
)
from triage_ml.contract.columns import CANONICAL_COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from triage_ml.contract.errors import (
    SKIP_NO_LABELS,
    SKIP_NO_URGENCY,
    DataError,
    LoadReport,
    _count,
)
from triage_ml.contract.fastpath import _valid_small_batch
from triage_ml.contract.labels import _check_label_set
from triage_ml.contract.readers import read_table


def validate_posts(
    frame: pd.DataFrame,
    *,
    label_set: Sequence[str],
    exclusive: bool = False,
    require_labels: bool = False,
    min_examples: int = 0,
    source: str = "<data frame>",
    row_base: int | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """Check a frame against the input contract and return its canonical form and a report.

    The canonical frame is new (the input is not modified), keeps the input's row order with
    a fresh index, and has exactly the columns :data:`CANONICAL_COLUMNS` with fixed types, so
    that training and serving see the same thing whatever the file format was. Unknown
    columns are dropped and listed in the report.

    Row numbers in errors are 1-based data rows when ``source`` names a file and 0-based
    positions when it is ``"<...>"`` (an in-memory frame); ``row_base`` overrides this.
    """
    labels_declared = _check_label_set(label_set)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"expected a pandas DataFrame of posts, got {type(frame).__name__}", source=source
        )
    if min_examples < 0:
        raise ValueError(f"min_examples must be >= 0, got {min_examples}")
    if not require_labels:
        fast = _valid_small_batch(frame, labels_declared, source)
        if fast is not None:
            return fast
    base = row_base if row_base is not None else (0 if source.startswith("<") else 1)
    checks = _Checks(source, base)

    columns = [str(c) for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = ", ".join(f"'{c}'" for c in columns) if columns else "no columns"
        hint = ""
        near = [c for c in columns if c.strip().lower() in missing and c not in missing]
        if near:
            renames = ", ".join(map(repr, near))
            hint = f" (column names are case- and space-sensitive: rename {renames})"
        raise DataError(
            f"missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)}; found {found}. Required: "
            f"{', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}{hint}",
            source=source,
            column=missing[0],
        )

    frame = frame.reset_index(drop=True)
    frame.columns = columns
    n = len(frame)

    ids = _check_ids(frame["id"], checks)
    text = _check_text(frame["text"], checks)
    created_at = _check_created_at(frame.get("created_at"), n, checks)
    _check_not_containers(frame.get("channel"), "channel", checks)
    channel = _check_channel(frame.get("channel"), n)
    followers = _check_followers(frame.get("author_followers"), n, checks)
    verified = _check_verified(frame.get("author_verified"), n, checks)
    labels, indicators = _check_labels(frame.get("labels"), n, labels_declared, exclusive, checks)
    urgency = _check_urgency(frame.get("urgency"), n, checks)

    has_labels = labels.notna().to_numpy()
    if require_labels and not has_labels.any():
        if "labels" not in columns:
            reason = (
                "no 'labels' column: training needs labels "
                f"(zero or more of {', '.join(labels_declared)}, ';'-separated; empty = none)"
            )
        else:
            reason = "every row's label is empty/null: training needs labelled rows"
        checks.add("labels", None, reason)
    checks.raise_if_any()

    positives = indicators[has_labels].sum(axis=0) if n else np.zeros(len(labels_declared))
    if require_labels and min_examples > 0:
        _check_min_examples(
            positives, int(has_labels.sum()), labels_declared, exclusive, min_examples, checks
        )
        checks.raise_if_any()

    canonical = pd.DataFrame(
        {
            "id": ids,
            "text": text,
            "created_at": created_at,
            "channel": channel,
            "author_followers": followers,
            "author_verified": verified,
            "labels": labels,
            "urgency": urgency,
        }
    )
    rows_with_labels = int(has_labels.sum())
    rows_with_urgency = int(urgency.notna().sum())
    skipped: dict[str, int] = {}
    if 0 < rows_with_labels < n or (require_labels and rows_with_labels < n):
        skipped[SKIP_NO_LABELS] = n - rows_with_labels
    if rows_with_urgency < n:
        skipped[SKIP_NO_URGENCY] = n - rows_with_urgency
    report = LoadReport(
        source=source,
        rows_read=n,
        rows_with_labels=rows_with_labels,
        rows_with_urgency=rows_with_urgency,
        skipped=skipped,
        label_counts={lab: int(c) for lab, c in zip(labels_declared, positives, strict=True)},
        ignored_columns=[c for c in columns if c not in CANONICAL_COLUMNS],
    )
    return canonical, report


def load_history(
    path: str | Path,
    *,
    label_set: Sequence[str],
    exclusive: bool = False,
    require_labels: bool = True,
    min_examples: int = 5,
) -> tuple[pd.DataFrame, LoadReport]:
    """Read and validate a labelled history; errors name the file and its 1-based data rows."""
    frame = read_table(path)
    return validate_posts(
        frame,
        label_set=label_set,
        exclusive=exclusive,
        require_labels=require_labels,
        min_examples=min_examples,
        source=str(path),
        row_base=1,
    )


def _check_min_examples(
    positives: np.ndarray,
    labelled: int,
    declared: list[str],
    exclusive: bool,
    min_examples: int,
    checks: _Checks,
) -> None:
    short = []
    for label, pos in zip(declared, positives, strict=True):
        pos = int(pos)
        neg = labelled - pos
        if pos < min_examples:
            short.append(f"{label!r} has {pos} positive ({_count(pos)} with it)")
        elif not exclusive and neg < min_examples:
            short.append(f"{label!r} has {neg} negative ({_count(neg)} without it)")
    if short:
        need = "with" if exclusive else "with and without"
        checks.add(
            "labels",
            None,
            f"too few examples to learn: {'; '.join(short)}; each label needs at least "
            f"{min_examples} labelled rows {need} it (add examples, or remove the label "
            "from params.yaml)",
        )
