"""How the contract reports: errors for input that breaks it, a report for what was read.

:class:`DataError` is raised; its message names the file, the column, the rows and what would
be valid, so that the person reading it can fix the file without opening a debugger.
:class:`LoadReport` counts what training will not use, so nothing disappears without a trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

_SHOW_ROWS = 5
SKIP_NO_LABELS = "no labels (not used for training)"
SKIP_NO_URGENCY = "no urgency (not used for the urgency model)"


class DataError(ValueError):
    """Input breaks the contract.

    ``str(err)`` is a complete message for a person: the file (``source``), the column, the
    first offending rows and the total count, then ``reason`` (what was found and what would be
    valid). Row numbers are 1-based data rows for files (the first row after the header is 1)
    and 0-based positions for in-memory frames (``row_base=0``). ``rows`` holds every
    offending row, the message shows the first five.

    When several kinds of problem are found at once, one error lists them all and ``problems``
    holds the individual errors (``column`` and ``rows`` are then those of the first one).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        rows: Sequence[int] | None = None,
        row_base: int = 1,
        problems: Sequence[DataError] | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.column = column
        self.rows = [int(r) for r in rows] if rows is not None else None
        self.row_base = row_base
        self.problems = list(problems) if problems else []
        super().__init__(self._compose(with_source=True))

    def __reduce__(self):  # keyword-only arguments: keep the error picklable (dask, joblib)
        return (
            _rebuild_error,
            (self.reason, self.source, self.column, self.rows, self.row_base, self.problems),
        )

    def __str__(self) -> str:
        return self._compose(with_source=True)

    def _compose(self, *, with_source: bool) -> str:
        where = []
        if with_source and self.source:
            where.append(self.source)
        if self.column and not self.problems:  # a list of problems names its own columns
            where.append(f"column '{self.column}'")
        if self.rows and not self.problems:
            where.append(_describe_rows(self.rows, self.row_base))
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason


def _rebuild_error(reason, source, column, rows, row_base, problems) -> DataError:
    return DataError(
        reason, source=source, column=column, rows=rows, row_base=row_base, problems=problems
    )


def _describe_rows(rows: Sequence[int], row_base: int) -> str:
    n = len(rows)
    shown = ", ".join(str(r) for r in rows[:_SHOW_ROWS])
    word = "row" if n == 1 else "rows"
    # row_base is where numbering starts: 0 for frames, 1 for files, or the first row of a
    # later chunk of a file read in chunks (still data rows counted from 1)
    base = "0-based positions" if row_base == 0 else "data rows counted from 1"
    if n > _SHOW_ROWS:
        return f"{word} {shown} and {n - _SHOW_ROWS} more ({n} in all; {base})"
    return f"{word} {shown} ({base})"


@dataclass
class LoadReport:
    """What was read and what will not be used, so nothing disappears without a trace."""

    source: str
    rows_read: int
    rows_with_labels: int
    rows_with_urgency: int
    skipped: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the console and the training log."""
        lines = [f"{self.source}: {self.rows_read:,} rows read"]
        if self.label_counts and self.rows_with_labels:
            counts = ", ".join(f"{k} {v:,}" for k, v in self.label_counts.items())
            lines.append(f"  labelled: {self.rows_with_labels:,} rows ({counts})")
        else:
            lines.append("  labelled: none")
        lines.append(f"  with urgency: {self.rows_with_urgency:,} rows")
        for reason, count in self.skipped.items():
            lines.append(f"  skipped: {_count(count)}: {reason}")
        if self.ignored_columns:
            lines.append(f"  ignored columns: {', '.join(self.ignored_columns)}")
        return "\n".join(lines)


def _count(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
