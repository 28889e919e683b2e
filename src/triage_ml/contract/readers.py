"""Reading a table of posts from CSV, JSONL, JSON or Parquet by its suffix.

Values are left as found (types are the business of the checks), except ids, which are always
text: "007" stays "007" and 7 never comes back as "7.0".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage_ml.contract.columns import ID_RULE, MAX_FLOAT_ID
from triage_ml.contract.errors import DataError, _short

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

# Cells that mean "no value" in a CSV export. Only used for columns where a literal "NA" cannot
# be real content: a post that says "NA" is still a post.
_CSV_NULLS = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "#N/A"]
_CSV_STRING_COLUMNS = ("id", "text", "channel", "labels")


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
            frame = _read_parquet(path)
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
    return _ids_as_text(frame, source)


def _ids_as_text(frame: pd.DataFrame, source: str, offset: int = 0) -> pd.DataFrame:
    """Ids as text under one rule (:data:`ID_RULE`); an inexact float id is an error naming its
    rows (``offset``: rows of the file before this frame, for a chunk of a streamed file)."""
    if "id" not in frame.columns:
        return frame
    inexact = _inexact_ids(frame["id"])
    if inexact.any():
        shown = ", ".join(repr(v) for v in pd.unique(frame["id"][inexact].astype(object))[:5])
        raise DataError(
            f"found {shown}; {ID_RULE}",
            source=source,
            column="id",
            rows=(np.flatnonzero(inexact) + offset + 1).tolist(),
        )
    return frame.assign(id=_id_as_str(frame["id"]))


def _read_parquet(path: Path) -> pd.DataFrame:
    """Parquet, with text checked: binary columns are decoded as UTF-8, and string columns
    (which Parquet readers do not check) must be valid UTF-8; invalid bytes are an error that
    names the column and rows. Anything else malformed is refused before pandas sees it."""
    import pyarrow.parquet as pq

    return _text_checked(pq.read_table(path), path).to_pandas()


def _text_checked(table, path: Path, offset: int = 0):
    """``table`` with binary columns decoded as UTF-8 and string columns checked to be UTF-8;
    bad bytes are an error naming the column and the rows (``offset``: rows before this table in
    the file, for a chunk of a streamed file)."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            try:
                column.validate(full=True)
                continue
            except pa.ArrowInvalid:
                column = column.cast(pa.large_binary())
        elif not (
            pa.types.is_binary(field.type)
            or pa.types.is_large_binary(field.type)
            or pa.types.is_binary_view(field.type)
        ):
            continue
        decoded: list[str | None] = []
        bad: list[int] = []
        for row, value in enumerate(column.to_pylist(), start=offset + 1):
            try:
                decoded.append(None if value is None else value.decode("utf-8"))
            except UnicodeDecodeError:
                bad.append(row)
                decoded.append(None)
        if bad:
            raise DataError(
                "holds bytes that are not UTF-8 text; store the column as UTF-8 strings",
                source=str(path),
                column=field.name,
                rows=bad,
            )
        table = table.set_column(i, field.name, pa.array(decoded, type=pa.string()))
    table.validate(full=True)  # e.g. invalid UTF-8 inside nested or dictionary columns
    return table


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, **_csv_options(path))


def _csv_options(path: Path) -> dict:
    """``pd.read_csv`` options for a history file: the contract's text columns read as text,
    its null spellings elsewhere (the header is read here; an empty file is an error)."""
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
    return {
        "encoding": "utf-8-sig",
        "dtype": dtype,
        "keep_default_na": False,
        "na_values": na_values,
    }


def _read_jsonl(path: Path) -> pd.DataFrame:
    return _records_frame(list(_jsonl_records(path)))


def _jsonl_records(path: Path) -> Iterator[dict]:
    """The objects of a JSONL file, one per non-blank line; anything else is an error naming
    the line."""
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
            yield record


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


_CONTAINERS = (list, tuple, dict, set, np.ndarray)


def _scalar_id(value: Any) -> Any:
    """An id as text; a float that cannot stand for a whole number exactly stays a float, so
    that :func:`_inexact_ids` finds it and the error names it."""
    if isinstance(value, float | np.floating):
        return _float_id(float(value)) or value
    if isinstance(value, _CONTAINERS):
        return value  # a JSON array or object: the checks name it instead of its text form
    return str(value)


def _float_id(value: float) -> str | None:
    """The whole number a float holds exactly, as text; ``None`` if it holds none."""
    if math.isfinite(value) and value.is_integer() and abs(value) <= MAX_FLOAT_ID:
        return str(int(value))
    return None


def _inexact_ids(series: pd.Series) -> np.ndarray:
    """Rows whose id is a float with a fraction, beyond 2**53, or not finite (see ID_RULE)."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            exact = (np.abs(values) <= MAX_FLOAT_ID) & (np.mod(values, 1) == 0)
        return ~exact & ~np.isnan(values)
    if series.dtype == object:
        return np.fromiter(
            (
                isinstance(v, float | np.floating) and v == v and _float_id(float(v)) is None
                for v in series.to_numpy(dtype=object)
            ),
            dtype=bool,
            count=len(series),
        )
    return np.zeros(len(series), dtype=bool)


def _id_as_str(series: pd.Series) -> pd.Series:
    """Ids as text; numbers render without a spurious ``.0`` (parquet ints with nulls)."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        if not _inexact_ids(series).any():
            series = pd.Series(values, index=series.index).astype("Int64")
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        mask = series.notna()
        out = pd.Series(None, index=series.index, dtype=object)
        out[mask] = series[mask].astype(str)
        return out.astype("str")
    if series.dtype == object:
        mask = series.map(lambda v: isinstance(v, _CONTAINERS) or pd.notna(v)).astype(bool)
        out = series.astype(object).where(mask, None)
        out[mask] = out[mask].map(lambda v: v if isinstance(v, str) else _scalar_id(v))
        if any(isinstance(v, _CONTAINERS) for v in out[mask]):
            return out  # left for the checks to refuse, with the values shown
        return out.astype("str")
    return series.astype("str")
