"""The input contract: reading and validating labelled histories and batches of posts.

Everything downstream (features, training, scoring, the service) works on the *canonical*
frame that :func:`validate_posts` returns, so every check about the shape of the input lives
here, once. Bad input raises :class:`DataError`, whose message names the file, the column,
the rows and what would be valid: the person reading it should be able to fix the file
without opening a debugger. Nothing is dropped silently: what training will not use is
counted in the :class:`LoadReport`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

URGENCY_LEVELS: dict[str, float] = {"low": 0.0, "medium": 0.33, "high": 0.67, "critical": 1.0}
REQUIRED_COLUMNS = ("id", "text")
OPTIONAL_COLUMNS = (
    "created_at",
    "channel",
    "author_followers",
    "author_verified",
    "labels",
    "urgency",
)
CANONICAL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_TEXT_CHARS = 10_000

FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_VALID_FORMATS = (
    ".csv, .jsonl / .ndjson (one JSON object per line), .json (an array of records), .parquet"
)

_SHOW_ROWS = 5
_SHOW_VALUES = 5
# Cells that mean "no value" in a CSV export. Only used for columns where a literal "NA" cannot
# be real content: a post that says "NA" is still a post.
_CSV_NULLS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "#N/A"]
_CSV_STRING_COLUMNS = ("id", "text", "channel", "labels")
_BOOLEANS = {
    "true": 1.0,
    "false": 0.0,
    "yes": 1.0,
    "no": 0.0,
    "y": 1.0,
    "n": 0.0,
    "t": 1.0,
    "f": 0.0,
    "1": 1.0,
    "0": 0.0,
    "1.0": 1.0,
    "0.0": 0.0,
}
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
    base = "data rows counted from 1" if row_base == 1 else "0-based positions"
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


# --------------------------------------------------------------------------------------------
# reading


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table of posts by its suffix, keeping ``id`` as text.

    Values are otherwise left as found (types are checked by :func:`validate_posts`), except
    that ids are never parsed as numbers ("007" stays "007") and, in CSV, a post whose text is
    "NA" is not mistaken for a missing value. In CSV an empty ``labels`` cell means "no label"
    (the contract's ``empty = none``), not "unlabelled".
    """
    path = Path(path)
    source = str(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"unknown file type '{path.suffix or '(no suffix)'}'; valid formats: {_VALID_FORMATS}",
            source=source,
        )
    if not path.exists():
        raise DataError(f"file not found; valid formats: {_VALID_FORMATS}", source=source)
    if not path.is_file():
        raise DataError("is not a file (a directory?)", source=source)
    try:
        if fmt == "csv":
            frame = _read_csv(path)
        elif fmt == "jsonl":
            frame = _read_jsonl(path)
        elif fmt == "json":
            frame = _read_json(path)
        else:
            frame = pd.read_parquet(path)
    except DataError:
        raise
    except UnicodeDecodeError as err:
        raise DataError(
            f"is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8 {fmt}",
            source=source,
        ) from None
    except (OSError, ValueError, TypeError, pd.errors.ParserError) as err:
        raise DataError(
            f"cannot be read as {fmt} ({type(err).__name__}: {_short(str(err), 200)}); "
            f"valid formats: {_VALID_FORMATS}",
            source=source,
        ) from None
    except Exception as err:  # pyarrow raises its own exception types for corrupt files
        raise DataError(
            f"cannot be read as {fmt} ({type(err).__name__}: {_short(str(err), 200)}); "
            f"valid formats: {_VALID_FORMATS}",
            source=source,
        ) from None
    if "id" in frame.columns:
        frame = frame.assign(id=_id_as_str(frame["id"]))
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns
    except pd.errors.EmptyDataError:
        raise DataError(
            "file is empty (expected a header row with at least 'id' and 'text')",
            source=str(path),
        ) from None
    na_values: dict[str, list[str]] = {}
    for col in header:
        if col == "labels":
            na_values[col] = []  # an empty cell is "no label", see read_table
        elif col in _CSV_STRING_COLUMNS:
            na_values[col] = [""]
        else:
            na_values[col] = _CSV_NULLS
    dtype = {col: str for col in _CSV_STRING_COLUMNS if col in header}
    return pd.read_csv(
        path,
        encoding="utf-8-sig",
        dtype=dtype,
        keep_default_na=False,
        na_values=na_values,
    )


def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"line {lineno} is not valid JSON ({err.msg}, column {err.colno}); "
                    "expected one JSON object per line",
                    source=str(path),
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"line {lineno} is a JSON {type(record).__name__}, expected an object "
                    '(one post per line, e.g. {"id": "p-1", "text": "..."})',
                    source=str(path),
                )
            records.append(record)
    return _records_frame(records)


def _read_json(path: Path) -> pd.DataFrame:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise DataError(
            f"is not valid JSON ({err.msg}, line {err.lineno} column {err.colno}); "
            "expected an array of records, or use .jsonl for one object per line",
            source=str(path),
        ) from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(
            'expected a JSON array of records ([{"id": "p-1", "text": "..."}, ...]), '
            f"found a {type(data).__name__}"
            + (" with non-object items" if isinstance(data, list) else ""),
            source=str(path),
        )
    return _records_frame(data)


def _records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    # Ids are fixed before pandas sees them: a column of ints with one null would become
    # floats and 7 would come back as "7.0".
    for record in records:
        value = record.get("id")
        if value is not None and not isinstance(value, str):
            record["id"] = _scalar_id(value)
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


def _scalar_id(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _id_as_str(series: pd.Series) -> pd.Series:
    """Ids as text; numbers render without a spurious ``.0`` (parquet ints with nulls)."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(values)
        if np.all(np.equal(np.mod(values[finite], 1), 0)):
            series = pd.Series(values, index=series.index).astype("Int64")
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        mask = series.notna()
        out = pd.Series(None, index=series.index, dtype=object)
        out[mask] = series[mask].astype(str)
        return out.astype("str")
    if series.dtype == object:
        mask = series.notna()
        out = series.astype(object).where(mask, None)
        out[mask] = out[mask].map(lambda v: v if isinstance(v, str) else _scalar_id(v))
        return out.astype("str")
    return series.astype("str")


# --------------------------------------------------------------------------------------------
# validation


class _Checks:
    """Collects problems so one run reports every broken column, not only the first."""

    def __init__(self, source: str, row_base: int) -> None:
        self.source = source
        self.row_base = row_base
        self.problems: list[DataError] = []

    def rows(self, mask: np.ndarray) -> list[int]:
        return (np.flatnonzero(mask) + self.row_base).tolist()

    def add(self, column: str | None, mask: np.ndarray | None, reason: str) -> None:
        rows = self.rows(mask) if mask is not None else None
        self.problems.append(
            DataError(reason, source=self.source, column=column, rows=rows, row_base=self.row_base)
        )

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        if len(self.problems) == 1:
            raise self.problems[0]
        first = self.problems[0]
        lines = [f"{len(self.problems)} problems found:"]
        lines += [f"  - {p._compose(with_source=False)}" for p in self.problems]
        raise DataError(
            "\n".join(lines),
            source=self.source,
            column=first.column,
            rows=first.rows,
            row_base=self.row_base,
            problems=self.problems,
        )


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
    if not require_labels and 0 < len(frame) <= _SMALL_BATCH:
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


def _values(series: pd.Series, mask: np.ndarray) -> str:
    """The first few distinct offending values, quoted and shortened."""
    uniq = pd.unique(series[mask].astype(object))[:_SHOW_VALUES]
    return ", ".join(_short(repr(v), 40) for v in uniq)


def _count(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    tests compare both paths on generated batches: same frame, same report.
    """
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


def _check_ids(series: pd.Series, checks: _Checks) -> pd.Series:
    raw = _id_as_str(series)
    trimmed, missing = _strings(raw)
    if missing.any():
        checks.add("id", missing, "id is missing or empty; every post needs a unique id")
    dup = raw.duplicated(keep=False).to_numpy() & ~missing
    if dup.any():
        groups = pd.Series(np.flatnonzero(dup) + checks.row_base, index=raw[dup].to_numpy())
        described = []
        for value, rows in list(groups.groupby(level=0, sort=False))[:_SHOW_ROWS]:
            shown = ", ".join(map(str, list(rows)[:_SHOW_ROWS]))
            etc = ", ..." if len(rows) > _SHOW_ROWS else ""
            described.append(f"{_short(repr(value), 40)} at rows {shown}{etc}")
        n_ids = raw[dup].nunique()
        more = f" (and {n_ids - _SHOW_ROWS} more ids)" if n_ids > _SHOW_ROWS else ""
        checks.add(
            "id",
            dup,
            f"duplicate ids: {'; '.join(described)}{more}; ids must be unique",
        )
    return raw.where(~missing, "").astype("str")


def _check_text(series: pd.Series, checks: _Checks) -> pd.Series:
    text, empty = _strings(series)
    if empty.any():
        checks.add(
            "text",
            empty,
            f"text is missing or empty; a post needs 1 to {MAX_TEXT_CHARS:,} characters",
        )
    lengths = text.str.len().fillna(0).to_numpy()
    long = lengths > MAX_TEXT_CHARS
    if long.any():
        found = ", ".join(f"{int(x):,}" for x in lengths[long][:_SHOW_VALUES])
        checks.add(
            "text",
            long,
            f"text is too long ({found} characters after trimming); "
            f"at most {MAX_TEXT_CHARS:,} characters are allowed",
        )
    return text.where(~empty, "").astype("str")


def _check_created_at(series: pd.Series | None, n: int, checks: _Checks) -> pd.Series:
    if series is None:
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.as_unit("us")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.dt.tz_localize("UTC").dt.as_unit("us")
    text, absent = _strings(series.astype(object))
    parsed = pd.to_datetime(text.where(~absent), utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy() & ~absent
    if bad.any():
        checks.add(
            "created_at",
            bad,
            f"cannot read {_values(series, bad)} as a date-time; use ISO-8601, "
            "e.g. 2024-05-01T09:30:00Z (a time without offset is taken as UTC)",
        )
    return parsed.dt.as_unit("us")


def _check_channel(series: pd.Series | None, n: int) -> pd.Series:
    if series is None:
        return pd.Series("unknown", index=range(n), dtype="str")
    text, absent = _strings(series)
    return text.str.lower().where(~absent, "unknown").astype("str")


def _check_followers(series: pd.Series | None, n: int, checks: _Checks) -> pd.Series:
    if series is None:
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if pd.api.types.is_bool_dtype(series.dtype):
        checks.add(
            "author_followers",
            np.ones(n, dtype=bool),
            "found true/false values; author_followers is a follower count (an integer >= 0)",
        )
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64")
        absent = values.isna().to_numpy()
    else:
        text, absent = _strings(series.astype(object))
        values = pd.to_numeric(text.where(~absent), errors="coerce").astype("float64")
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    non_numeric = np.isnan(arr) & ~absent
    if non_numeric.any():
        checks.add(
            "author_followers",
            non_numeric,
            f"found {_values(series, non_numeric)}; author_followers must be a whole number "
            ">= 0 (no thousands separators), or empty when unknown",
        )
    with np.errstate(invalid="ignore"):
        out_of_range = (arr < 0) | np.isinf(arr)
    if out_of_range.any():
        checks.add(
            "author_followers",
            out_of_range,
            f"found {_values(series, out_of_range)}; author_followers must be >= 0",
        )
    return pd.Series(np.where(non_numeric | out_of_range, np.nan, arr), dtype="float64")


def _check_verified(series: pd.Series | None, n: int, checks: _Checks) -> pd.Series:
    if series is None:
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").reset_index(drop=True)
    text, absent = _strings(series.astype(object))
    mapped = text.str.lower().map(_BOOLEANS).astype("float64")
    bad = mapped.isna().to_numpy() & ~absent
    if bad.any():
        checks.add(
            "author_verified",
            bad,
            f"found {_values(series, bad)}; author_verified must be a boolean: "
            "true/false, yes/no or 1/0 (empty when unknown)",
        )
    return mapped.where(~(absent | bad)).astype("float64")


def _check_labels(
    series: pd.Series | None,
    n: int,
    declared: list[str],
    exclusive: bool,
    checks: _Checks,
) -> tuple[pd.Series, np.ndarray]:
    k = len(declared)
    if series is None:
        return pd.Series([None] * n, dtype=object), np.zeros((n, k), dtype=np.int8)
    if series.dtype == object:
        # JSON arrays (["complaint", "influencer"]) are a natural way to write a label list.
        series = series.map(
            lambda v: ";".join(str(x) for x in v) if isinstance(v, list | tuple | np.ndarray) else v
        )
    null = series.isna().to_numpy()
    cells = series.where(~null, None).astype("str").fillna("")
    tokens = cells.str.split(";").explode().str.strip()
    tokens = tokens[tokens != ""]
    known = tokens.isin(declared)
    if not known.all():
        unknown = tokens[~known]
        bad = np.zeros(n, dtype=bool)
        bad[unknown.index.unique().to_numpy()] = True
        found = ", ".join(_short(repr(v), 40) for v in unknown.unique()[:10])
        hint = ""
        lowered = {d.lower(): d for d in declared}
        near = [v for v in unknown.unique() if v.lower() in lowered]
        if near:
            hint = (
                f" (labels are case-sensitive: {near[0]!r} should be {lowered[near[0].lower()]!r})"
            )
        checks.add(
            "labels",
            bad,
            f"unknown label {found}; the declared labels are {', '.join(declared)} "
            f"(';'-separated, empty = none; declared in params.yaml){hint}",
        )
        tokens = tokens[known]
    indicators = np.zeros((n, k), dtype=np.int8)
    if len(tokens):
        codes = pd.Categorical(tokens, categories=declared).codes
        indicators[tokens.index.to_numpy(), codes] = 1  # duplicates in a cell collapse to 1
    if exclusive:
        count = indicators.sum(axis=1)
        wrong = (count != 1) & ~null
        if not known.all():
            wrong &= ~bad
        if wrong.any():
            found = ", ".join(_short(repr(v), 40) for v in pd.unique(cells[wrong])[:_SHOW_VALUES])
            checks.add(
                "labels",
                wrong,
                f"found {found}; the label set is exclusive, so each labelled post needs exactly "
                f"one of {', '.join(declared)}",
            )
    joined = pd.Series("", index=range(n), dtype=object)
    for j, label in enumerate(declared):  # a loop over labels, not rows
        has = indicators[:, j].astype(bool)
        joined = joined.where(~has, np.where(joined == "", label, joined + ";" + label))
    joined = joined.where(~null, None).astype(object)
    return joined, indicators


def _check_urgency(series: pd.Series | None, n: int, checks: _Checks) -> pd.Series:
    if series is None:
        return pd.Series(np.nan, index=range(n), dtype="float64")
    levels = ", ".join(URGENCY_LEVELS)
    valid = f"a number in [0, 1] or one of {levels} (not both in one file)"
    if pd.api.types.is_bool_dtype(series.dtype):
        checks.add("urgency", np.ones(n, dtype=bool), f"found true/false; urgency must be {valid}")
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64").to_numpy(dtype="float64", na_value=np.nan)
        absent = np.isnan(values)
        named = np.zeros(n, dtype=bool)
        numeric = ~absent
        name_values = np.full(n, np.nan)
    else:
        text, absent = _strings(series.astype(object))
        values = pd.to_numeric(text.where(~absent), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        numeric = ~np.isnan(values) & ~absent
        name_values = (
            text.str.lower().map(URGENCY_LEVELS).to_numpy(dtype="float64", na_value=np.nan)
        )
        named = ~np.isnan(name_values) & ~absent
        unknown = ~absent & ~numeric & ~named
        if unknown.any():
            checks.add(
                "urgency", unknown, f"found {_values(series, unknown)}; urgency must be {valid}"
            )
        if numeric.any() and named.any():
            minority = named if named.sum() <= numeric.sum() else numeric
            checks.add(
                "urgency",
                minority,
                f"names and numbers are mixed: {_count(int(named.sum()))} use names "
                f"({levels}) and {_count(int(numeric.sum()))} use numbers; pick one form for the "
                f"whole file (the rows shown use the less common form)",
            )
    with np.errstate(invalid="ignore"):
        out_of_range = numeric & ~((values >= 0) & (values <= 1))
    if out_of_range.any():
        checks.add(
            "urgency",
            out_of_range,
            f"found {_values(series, out_of_range)}; urgency must be {valid}",
        )
    result = np.where(named, name_values, np.where(numeric & ~out_of_range, values, np.nan))
    return pd.Series(result, dtype="float64")


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


# --------------------------------------------------------------------------------------------
# helpers for training and metadata


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


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash for metadata: same rows, same order, same values -> same string."""
    digest = hashlib.sha256()
    for col in frame.columns:
        series = frame[col].reset_index(drop=True)
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.as_unit("us")
            kind = "datetime"
        elif pd.api.types.is_float_dtype(series.dtype):
            kind = "float"
        else:
            series = series.astype(object).where(series.notna(), None)
            kind = "object"
        digest.update(f"{col}\x1f{kind}\x1e".encode())
        hashes = pd.util.hash_pandas_object(series, index=False).to_numpy(dtype="<u8")
        digest.update(hashes.tobytes())
    digest.update(f"rows={len(frame)}".encode())
    return f"sha256:{digest.hexdigest()}"
