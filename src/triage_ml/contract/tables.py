"""Writing tables and prediction files, atomically: a failed run leaves no half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path

import pandas as pd

from triage_ml.contract.errors import DataError

TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")


def _tmp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def _check_suffix(path: Path, allowed: tuple[str, ...]) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise DataError(
            f"cannot write '{suffix or '(no suffix)'}' files; use one of {', '.join(allowed)}",
            source=str(path),
        )
    return suffix


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV, JSONL or Parquet, chosen by the file's suffix."""
    path = Path(path)
    suffix = _check_suffix(path, TABLE_SUFFIXES)
    tmp = _tmp_beside(path)
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_table_chunks(chunks: Iterable[pd.DataFrame], path: str | Path) -> int:
    """Write frames one after the other as one CSV, JSONL or Parquet file (by its suffix),
    atomically, holding one frame at a time; returns the number of rows written.

    CSV and JSONL get the same bytes as :func:`write_table` of the frames concatenated."""
    path = Path(path)
    suffix = _check_suffix(path, TABLE_SUFFIXES)
    tmp = _tmp_beside(path)
    rows = 0
    parquet = None
    try:
        text = suffix in (".csv", ".jsonl")
        with tmp.open("w", encoding="utf-8", newline="") if text else nullcontext() as fh:
            for i, frame in enumerate(chunks):
                if suffix == ".csv":
                    frame.to_csv(fh, index=False, header=i == 0)
                elif suffix == ".jsonl":
                    if len(frame):
                        frame.to_json(fh, orient="records", lines=True, force_ascii=False)
                else:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if parquet is None:
                        parquet = pq.ParquetWriter(tmp, table.schema)
                    parquet.write_table(table)
                rows += len(frame)
        if parquet is not None:
            parquet.close()
            parquet = None
        tmp.replace(path)
    except BaseException:
        if parquet is not None:
            parquet.close()
        tmp.unlink(missing_ok=True)
        raise
    return rows


class PredictionWriter:
    """Stream scored batches to ``.jsonl`` (nested records) or ``.csv``/``.parquet`` (flat form).

    The file appears under its name only when the context exits without an error. Parquet
    batches are gathered into row groups of :attr:`ROW_GROUP_ROWS` posts: the writer keeps
    every row group's metadata until it closes (~8.5 MB per 1M posts in groups of 2,000).
    """

    ROW_GROUP_ROWS = 50_000

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.suffix = _check_suffix(self.path, TABLE_SUFFIXES)
        self._tmp: Path | None = None
        self._fh = None
        self._parquet = None
        self._pending: list = []  # Arrow tables not yet written (under ROW_GROUP_ROWS posts)
        self._header = True

    def __enter__(self) -> PredictionWriter:
        self._tmp = _tmp_beside(self.path)
        if self.suffix in (".jsonl", ".csv"):
            self._fh = self._tmp.open("w", encoding="utf-8", newline="")
        return self

    def write(self, preds) -> None:
        if self.suffix == ".jsonl":
            for record in preds.records():
                self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.suffix == ".csv":
            preds.flat().to_csv(self._fh, index=False, header=self._header)
            self._header = False
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(preds.flat(), preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._tmp, table.schema)
            self._pending.append(table)
            if sum(t.num_rows for t in self._pending) >= self.ROW_GROUP_ROWS:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pending:
            table = pa.concat_tables(self._pending)
            self._pending = []
            self._parquet.write_table(table, row_group_size=table.num_rows)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._parquet is not None:
            if exc_type is None:
                self._flush()
            self._parquet.close()
        if exc_type is None:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)
