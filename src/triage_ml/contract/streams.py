"""Reading and validating a table of posts in chunks, so that a file of any size is scored in
bounded memory.

:func:`iter_table` reads CSV (pandas' chunked reader, the same parsing options as
:func:`~triage_ml.contract.readers.read_table`), JSONL (line by line) and Parquet (pyarrow
record batches) ``chunk_rows`` rows at a time; :func:`validate_chunks` checks each chunk against
the input contract with its rows numbered as in the whole file, and refuses an id already seen in
an earlier chunk. Every chunk but the last holds exactly ``chunk_rows`` posts whatever the file's
own layout (Parquet row groups included), so batch boundaries are the same as for the whole file
read at once. A ``.json`` array cannot be streamed: it is read whole and then cut into chunks.
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from triage_ml.contract.errors import DataError, _short
from triage_ml.contract.readers import (
    _VALID_FORMATS,
    FORMATS,
    _csv_options,
    _ids_as_text,
    _jsonl_records,
    _records_frame,
    _text_checked,
    read_table,
)
from triage_ml.contract.validation import validate_posts


def count_rows(path: str | Path) -> int | None:
    """The number of posts in a Parquet file (from its footer), else ``None`` (unknown until
    read: CSV and JSONL are not counted ahead, which would read them twice)."""
    path = Path(path)
    if FORMATS.get(path.suffix.lower()) != "parquet" or not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # a corrupt file is reported, with its name, by iter_table
        return None


def iter_table(path: str | Path, chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """Yield the file's posts ``chunk_rows`` at a time, each chunk as :func:`read_table` would
    give those rows (ids as text); the chunk's first row is data row ``offset + 1`` where
    ``offset`` is the number of rows yielded before it."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    path = Path(path)
    source = str(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None or fmt == "json" or not path.is_file():
        frame = read_table(path)  # errors for these cases are read_table's
        for start in range(0, max(len(frame), 1), chunk_rows):
            yield frame.iloc[start : start + chunk_rows].reset_index(drop=True)
        return
    chunks = {"csv": _csv_chunks, "jsonl": _jsonl_chunks, "parquet": _parquet_chunks}[fmt]
    offset = 0
    yielded = False
    with _read_errors(fmt, source):
        for frame in chunks(path, chunk_rows):
            frame = _ids_as_text(frame, source, offset)
            offset += len(frame)
            yielded = True
            yield frame
    if not yielded:
        yield pd.DataFrame()


@contextlib.contextmanager
def _read_errors(fmt: str, source: str) -> Iterator[None]:
    """The same wording as :func:`read_table` for a file that cannot be read."""
    try:
        yield
    except DataError:
        raise
    except UnicodeDecodeError as err:
        raise DataError(
            f"is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8 {fmt}",
            source=source,
        ) from None
    except GeneratorExit:
        raise
    except Exception as err:  # pandas' ParserError, pyarrow's own types for corrupt files
        raise DataError(
            f"cannot be read as {fmt} ({type(err).__name__}: {_short(str(err), 200)}); "
            f"valid formats: {_VALID_FORMATS}",
            source=source,
        ) from None


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    with pd.read_csv(path, chunksize=chunk_rows, **_csv_options(path)) as reader:
        yield from reader


def _jsonl_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    records: list[dict] = []
    for record in _jsonl_records(path):
        records.append(record)
        if len(records) == chunk_rows:
            yield _records_frame(records)
            records = []
    if records:
        yield _records_frame(records)


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pending: list = []
    held = 0
    offset = 0
    with pq.ParquetFile(path) as parquet:
        # one row group at a time: a single iter_batches over the whole file kept ~45 MB more
        # of Arrow memory per 1M posts read (170 MB allocated after 2M), one per group stays flat
        batches = (
            batch
            for group in range(parquet.num_row_groups)
            for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=[group])
        )
        for batch in batches:
            pending.append(batch)
            held += batch.num_rows
            while held >= chunk_rows:
                table = pa.Table.from_batches(pending)
                yield _text_checked(table.slice(0, chunk_rows), path, offset).to_pandas()
                offset += chunk_rows
                rest = table.slice(chunk_rows)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield _text_checked(pa.Table.from_batches(pending), path, offset).to_pandas()


def validate_chunks(
    chunks: Iterator[pd.DataFrame],
    *,
    label_set: Sequence[str],
    source: str,
    reread: Callable[[], Iterator[pd.DataFrame]] | None = None,
) -> Iterator[pd.DataFrame]:
    """Validate posts chunk by chunk (:func:`validate_posts`, no labels required), numbering
    rows across chunks as in the whole file, and refuse an id seen in an earlier chunk.

    Ids already seen are kept as 64-bit hashes in a temporary SQLite file (:class:`SeenIds`),
    not in memory. A hash seen again is checked against the real ids by reading the file again
    (``reread`` starts another pass of :func:`iter_table` over the same file) to name both rows,
    so a hash collision is never reported as a duplicate.
    """
    seen = SeenIds()
    offset = 0
    try:
        for chunk in chunks:
            canonical, _ = validate_posts(
                chunk, label_set=label_set, require_labels=False, source=source, row_base=offset + 1
            )
            again = seen.check_and_add(canonical["id"].to_numpy(dtype=object))
            if again.any():
                _raise_duplicates(canonical["id"], again, offset, source, reread)
            offset += len(canonical)
            yield canonical
    finally:
        seen.close()


class SeenIds:
    """Hashes of the ids seen so far, in an SQLite table on disk (a temporary file), so that the
    memory they take does not grow with the file: 10M posts would be 80 MB of hashes in memory,
    more than everything else a streamed run holds grows by. SQLite keeps a few MB of its pages
    in memory (``cache_size``) and looks each new hash up in the table's B-tree."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="triage-ids-")
        self._db = sqlite3.connect(Path(self._folder.name) / "ids.sqlite")
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -16000"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE seen (h INTEGER PRIMARY KEY)")
        self._db.execute("CREATE TABLE batch (i INTEGER PRIMARY KEY, h INTEGER)")

    def check_and_add(self, ids: np.ndarray) -> np.ndarray:
        """A mask of the ``ids`` whose hash was added before (by an earlier call); adds them."""
        return self.check_and_add_hashes(pd.util.hash_array(ids))

    def check_and_add_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """:meth:`check_and_add` of ids already hashed (``pandas.util.hash_array``), as the
        workers of a Dask run send them."""
        hashes = np.asarray(hashes).view(np.int64)  # SQLite integers are signed 64-bit
        db = self._db
        db.execute("DELETE FROM batch")
        db.executemany("INSERT INTO batch VALUES (?, ?)", enumerate(hashes.tolist()))
        again = np.zeros(len(hashes), dtype=bool)
        hits = db.execute("SELECT batch.i FROM batch JOIN seen ON seen.h = batch.h").fetchall()
        again[[i for (i,) in hits]] = True
        db.execute("INSERT OR IGNORE INTO seen SELECT h FROM batch ORDER BY h")
        return again

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()


def _raise_duplicates(
    ids: pd.Series,
    again: np.ndarray,
    offset: int,
    source: str,
    reread: Callable[[], Iterator[pd.DataFrame]] | None,
) -> None:
    at = np.flatnonzero(again)
    wanted = {v: offset + 1 + int(i) for i, v in zip(at, ids.to_numpy()[at], strict=True)}
    earlier: dict[str, int] = {}
    if reread is not None:
        start = 0
        for chunk in reread():
            if start >= offset:
                break
            for i, value in enumerate(chunk["id"].to_numpy(dtype=object)[: offset - start]):
                if value in wanted and value not in earlier:
                    earlier[value] = start + 1 + i
            start += len(chunk)
        wanted = {v: row for v, row in wanted.items() if v in earlier}
        if not wanted:
            return  # hash collisions only: no id is really repeated
    described = [
        f"{_short(repr(v), 40)} at rows {earlier[v]}, {row}"
        if v in earlier
        else f"{_short(repr(v), 40)} at row {row} (and in an earlier chunk)"
        for v, row in list(wanted.items())[:5]
    ]
    more = f" (and {len(wanted) - 5} more ids)" if len(wanted) > 5 else ""
    rows = sorted({*earlier.values(), *wanted.values()})
    raise DataError(
        f"duplicate ids: {'; '.join(described)}{more}; ids must be unique",
        source=source,
        column="id",
        rows=rows,
    )
