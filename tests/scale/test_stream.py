"""Streaming ``triage-ml predict``: chunked reading gives the records of the whole-file path,
bit for bit, and errors still name the rows of the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from triage_ml.cli import app
from triage_ml.contract import (
    DataError,
    PredictionWriter,
    iter_table,
    read_table,
    validate_chunks,
    validate_posts,
)
from triage_ml.decide import score_in_batches
from triage_ml.store import load_bundle

runner = CliRunner()
BATCH = 16
CHUNK = 40  # rounded up to 48: three batches a chunk, so chunks and batches both cut the file


@pytest.fixture(scope="module")
def posts(sample_history) -> pd.DataFrame:
    frame = sample_history.drop(columns=["labels", "urgency"]).head(150).copy()
    frame.loc[frame.index[::7], "created_at"] = None  # scored at 'now': one time for all chunks
    return frame.reset_index(drop=True)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:  # small row groups that do not line up with the chunks
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=7)
    return path


def _whole_file(bundle_dir: Path, data: Path, out: Path, now: pd.Timestamp) -> None:
    """The path predict took before streaming: read, validate and score the file at once."""
    bundle = load_bundle(bundle_dir)
    frame, _ = validate_posts(
        read_table(data), label_set=bundle.labels, require_labels=False, source=str(data)
    )
    with PredictionWriter(out) as writer:
        for preds in score_in_batches(bundle, frame, None, BATCH, now=now):
            writer.write(preds)


def _predict(bundle_dir: Path, data: Path, out: Path):
    return runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(bundle_dir),
            "--data",
            str(data),
            "--out",
            str(out),
            "--batch-size",
            str(BATCH),
            "--chunk-rows",
            str(CHUNK),
        ],
    )


@pytest.mark.parametrize(
    ("in_suffix", "out_suffix"),
    [(".csv", ".csv"), (".jsonl", ".jsonl"), (".parquet", ".parquet"), (".parquet", ".csv")],
)
def test_streamed_predict_matches_the_whole_file_bit_for_bit(
    bundle_dir, posts, tmp_path, in_suffix, out_suffix
) -> None:
    data = _write(posts, tmp_path / f"posts{in_suffix}")
    streamed = tmp_path / f"streamed{out_suffix}"
    result = _predict(bundle_dir, data, streamed)
    assert result.exit_code == 0, result.output
    # posts without created_at are due 'now' + the deadline: take the streamed run's 'now'
    first_due = pd.read_parquet(streamed) if out_suffix == ".parquet" else None
    whole = tmp_path / f"whole{out_suffix}"
    now = _now_of(streamed, posts, first_due)
    _whole_file(bundle_dir, data, whole, now)
    if out_suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(streamed), pd.read_parquet(whole))
        assert pq.read_table(streamed).schema.equals(pq.read_table(whole).schema)
    else:
        assert streamed.read_bytes() == whole.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def _now_of(out: Path, posts: pd.DataFrame, frame: pd.DataFrame | None) -> pd.Timestamp:
    """The scoring time of the streamed run, from a post without created_at."""
    i = int(np.flatnonzero(posts["created_at"].isna())[0])
    if out.suffix == ".jsonl":
        prio = json.loads(out.read_text().splitlines()[i])["priority"]
        due, minutes = prio["respond_by"], prio["respond_within_minutes"]
    else:
        frame = frame if frame is not None else pd.read_csv(out, dtype={"id": str})
        due, minutes = frame["respond_by"][i], frame["respond_within_minutes"][i]
    # respond_by is written to the second: the whole-file run takes the same second
    return pd.Timestamp(due) - pd.Timedelta(minutes=int(minutes))


def test_chunks_are_whole_and_in_order_whatever_the_row_groups(posts, tmp_path) -> None:
    data = _write(posts, tmp_path / "posts.parquet")
    chunks = list(iter_table(data, 48))
    assert [len(c) for c in chunks] == [48, 48, 48, 6]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), read_table(data))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_invalid_post_in_a_later_chunk_is_named_by_its_row_in_the_file(
    bundle_dir, posts, tmp_path, suffix
) -> None:
    bad = posts.copy()
    bad.loc[99, "text"] = "   "  # data row 100, in the third chunk
    data = _write(bad, tmp_path / f"posts{suffix}")
    out = tmp_path / "out.csv"
    result = _predict(bundle_dir, data, out)
    assert result.exit_code == 2, result.output
    assert "row 100 (data rows counted from 1)" in result.output
    assert "text is missing or empty" in result.output
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_an_id_seen_in_an_earlier_chunk_is_a_duplicate_with_both_rows(
    bundle_dir, posts, tmp_path
) -> None:
    bad = posts.copy()
    bad.loc[120, "id"] = bad.loc[3, "id"]
    data = _write(bad, tmp_path / "posts.csv")
    out = tmp_path / "out.jsonl"
    result = _predict(bundle_dir, data, out)
    assert result.exit_code == 2, result.output
    assert f"duplicate ids: '{bad.loc[3, 'id']}' at rows 4, 121" in result.output
    assert not out.exists()


def test_a_hash_collision_is_not_a_duplicate(posts, tmp_path, monkeypatch) -> None:
    import triage_ml.contract.streams as streams

    data = _write(posts, tmp_path / "posts.csv")
    monkeypatch.setattr(streams.pd.util, "hash_array", lambda v: np.zeros(len(v), np.uint64))
    chunks = validate_chunks(
        iter_table(data, 48),
        label_set=["complaint"],
        source=str(data),
        reread=lambda: iter_table(data, 48),
    )
    assert sum(len(c) for c in chunks) == len(posts)
    with pytest.raises(DataError, match="duplicate ids"):  # without the file to check against
        list(validate_chunks(iter_table(data, 48), label_set=["complaint"], source=str(data)))


def test_the_ids_seen_are_kept_in_a_temporary_file_removed_at_the_end(
    posts, tmp_path, monkeypatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    data = _write(posts, tmp_path / "posts.csv")

    def folders() -> list[Path]:
        return list((tmp_path / "temp").glob("triage-ids-*"))

    chunks = validate_chunks(iter_table(data, 48), label_set=["complaint"], source=str(data))
    next(chunks)
    assert [f.name for f in folders()[0].iterdir()] == ["ids.sqlite"]
    assert sum(len(c) for c in chunks) == len(posts) - 48
    assert folders() == []  # read to the end
    bad = posts.copy()
    bad.loc[149, "id"] = bad.loc[0, "id"]  # the last chunk repeats the first post's id
    data = _write(bad, tmp_path / "bad.csv")
    with pytest.raises(DataError, match="duplicate ids"):
        list(validate_chunks(iter_table(data, 48), label_set=["complaint"], source=str(data)))
    assert folders() == []  # stopped by the error
    early = validate_chunks(iter_table(data, 48), label_set=["complaint"], source=str(data))
    next(early)
    early.close()
    assert folders() == []  # abandoned after one chunk


def test_parquet_output_is_written_in_row_groups_of_many_batches(
    bundle_dir, posts, tmp_path, monkeypatch
) -> None:
    """The Parquet writer keeps each row group's metadata until it closes: a row group per
    scoring batch grew the process by ~8.5 MB per 1M posts."""
    monkeypatch.setattr(PredictionWriter, "ROW_GROUP_ROWS", 40)
    data = _write(posts, tmp_path / "posts.parquet")
    out = tmp_path / "scored.parquet"
    assert _predict(bundle_dir, data, out).exit_code == 0
    meta = pq.ParquetFile(out).metadata
    # batches of 16 gathered until 40 posts are held: 48, 48, 48, then the last 6 at close
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [48, 48, 48, 6]
    assert pd.read_parquet(out)["id"].tolist() == posts["id"].astype(str).tolist()
