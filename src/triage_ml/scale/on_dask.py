"""Scoring a Parquet dataset on Dask: partitions scored in parallel by the workers of a
``distributed`` cluster (a ``LocalCluster`` on this machine, or a scheduler address), each
written as one Parquet part of a partitioned output folder.

A partition is a run of whole row groups of one input file, so its place in the dataset (and
the file's row numbers in errors) is known from the Parquet footers before anything is read.
Each worker loads the bundle from ``bundle_dir`` once (verified, as everywhere: checksums and
the ``TRIAGE_BUNDLE_KEY`` signature), so the path must be readable by the workers (a shared
file system, or the same path on every machine). The records are those of
:func:`~triage_ml.scale.stream.score_file`: the same validation, the same ``score_posts``, one
scoring time for posts without ``created_at``; ids are checked for uniqueness across the whole
dataset. The output folder appears only when every part was written.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from triage_ml._extras import require
from triage_ml.contract.errors import DataError
from triage_ml.contract.streams import SeenIds, _ids_as_text, _text_checked
from triage_ml.contract.tables import PredictionWriter
from triage_ml.contract.validation import validate_posts
from triage_ml.decide.scoring import score_in_batches
from triage_ml.scale.stream import ScoreSummary

#: Posts a partition holds at most (whole row groups; a larger row group is one partition).
DEFAULT_PARTITION_ROWS = 100_000


@dataclass(frozen=True)
class _Part:
    """One partition: row groups of one file, and its first row's place in the dataset."""

    index: int
    path: str
    row_groups: tuple[int, ...]
    offset: int  # rows of the dataset before this partition
    file_offset: int  # rows of its file before it (errors name rows of the file)


def parquet_partitions(data: str | Path, partition_rows: int = DEFAULT_PARTITION_ROWS):
    """The dataset's partitions, from the Parquet footers (nothing else is read)."""
    import pyarrow.parquet as pq

    data = Path(data)
    if data.is_dir():
        files = sorted(p for p in data.rglob("*.parquet") if not p.name.startswith((".", "_")))
    elif data.suffix.lower() in (".parquet", ".pq") and data.is_file():
        files = [data]
    else:
        raise DataError(
            "Dask scoring reads Parquet: a .parquet file or a folder of them "
            "(convert CSV/JSONL with pyarrow, or score them with 'triage-ml predict' alone)",
            source=str(data),
        )
    if not files:
        raise DataError("holds no .parquet files", source=str(data))
    parts: list[_Part] = []
    offset = 0
    for path in files:
        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as err:
            raise DataError(f"cannot be read as parquet ({err})", source=str(path)) from None
        groups: list[int] = []
        rows = start = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if groups and rows + n > partition_rows:
                parts.append(_Part(len(parts), str(path), tuple(groups), offset, start))
                offset, start = offset + rows, start + rows
                groups, rows = [], 0
            groups.append(g)
            rows += n
        if groups:
            parts.append(_Part(len(parts), str(path), tuple(groups), offset, start))
            offset += rows
    return parts


@functools.lru_cache(maxsize=2)
def _bundle(bundle_dir: str):
    from triage_ml.store.bundle import load_bundle

    return load_bundle(bundle_dir)


def _score_part(
    part: _Part,
    bundle_dir: str,
    out_dir: str,
    playbook_path: str | None,
    posts_per_batch: int,
    with_reasons: bool,
    now: pd.Timestamp,
) -> tuple[int, dict[str, int], np.ndarray]:
    """Runs on a worker: read, validate, score and write one partition."""
    import pyarrow.parquet as pq

    from triage_ml.decide.playbook import load_playbook

    bundle = _bundle(bundle_dir)
    book = load_playbook(playbook_path) if playbook_path else None
    table = pq.ParquetFile(part.path).read_row_groups(list(part.row_groups))
    frame = _text_checked(table, Path(part.path), part.file_offset).to_pandas()
    frame = _ids_as_text(frame, part.path, part.file_offset)
    posts, _ = validate_posts(
        frame,
        label_set=bundle.labels,
        require_labels=False,
        source=part.path,
        row_base=part.file_offset + 1,
    )
    tiers: dict[str, int] = {}
    with PredictionWriter(Path(out_dir) / f"part-{part.index:05d}.parquet") as writer:
        for preds in score_in_batches(
            bundle, posts, book, posts_per_batch, with_reasons=with_reasons, now=now
        ):
            writer.write(preds)
            for tier in preds.tier:
                tiers[tier] = tiers.get(tier, 0) + 1
    return len(posts), tiers, pd.util.hash_array(posts["id"].to_numpy(dtype=object))


def score_dataset_dask(
    bundle_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    processes: bool = True,
    playbook_path: str | Path | None = None,
    batch_size: int = 2000,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    with_reasons: bool = True,
    on_part: Callable[[int], None] | None = None,
    now: pd.Timestamp | None = None,
) -> ScoreSummary:
    """Score a Parquet file or folder on Dask into the folder ``out`` (one ``part-NNNNN.parquet``
    per partition, in input order: ``pandas.read_parquet(out)`` reads them back in order).

    ``scheduler`` is a Dask scheduler address (``tcp://host:8786``); without it a
    ``LocalCluster`` of ``n_workers`` single-threaded workers runs here (``processes=False``
    keeps them in this process, for tests).
    """
    require("distributed", "scale", "scoring on Dask")
    from distributed import Client, LocalCluster, as_completed

    bundle_dir, out = Path(bundle_dir).resolve(), Path(out)
    from triage_ml.store.bundle import load_bundle

    load_bundle(bundle_dir)  # a bad bundle stops here, with its message, before any worker
    parts = parquet_partitions(data, partition_rows)
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    summary = ScoreSummary()
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
            )
        with Client(scheduler or cluster) as client:
            futures = client.map(
                _score_part,
                parts,
                bundle_dir=str(bundle_dir),
                out_dir=str(tmp),
                playbook_path=str(playbook_path) if playbook_path else None,
                posts_per_batch=batch_size,  # client.map has a batch_size of its own
                with_reasons=with_reasons,
                now=now,
                pure=False,
            )
            seen, collided = SeenIds(), False
            try:
                for future in as_completed(futures):
                    n, tiers, ids = future.result()
                    summary.posts += n
                    for tier, count in tiers.items():
                        summary.tiers[tier] = summary.tiers.get(tier, 0) + count
                    collided |= bool(seen.check_and_add_hashes(ids).any())
                    if on_part:
                        on_part(n)
            finally:
                seen.close()
        if collided:
            _name_duplicates(parts)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if cluster is not None:
            cluster.close()
    return summary


def _name_duplicates(parts: list[_Part]) -> None:
    """Two partitions sent the same id hash (each partition checked its own ids; the hashes
    went through :class:`SeenIds` as they came, so the client's memory does not grow with the
    file): read the ids themselves to name the rows, or return on a mere hash collision."""
    import pyarrow.parquet as pq

    frames = []
    for part in parts:
        ids = pq.ParquetFile(part.path).read_row_groups(list(part.row_groups), columns=["id"])
        frame = _ids_as_text(ids.to_pandas(), part.path, part.file_offset)
        frame["where"] = [f"{part.path} row {part.file_offset + 1 + i}" for i in range(len(ids))]
        frames.append(frame)
    ids = pd.concat(frames, ignore_index=True)
    dup = ids[ids["id"].duplicated(keep=False)]
    if dup.empty:
        return  # hash collisions only
    described = [
        f"{value!r} at {', '.join(group['where'][:5])}"
        for value, group in list(dup.groupby("id", sort=False))[:5]
    ]
    raise DataError(f"duplicate ids: {'; '.join(described)}; ids must be unique", column="id")


def _replace_dir(tmp: Path, out: Path) -> None:
    """Put the finished folder in place; an older output is removed only after that."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{tmp.name}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
