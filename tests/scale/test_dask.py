"""``triage-ml predict --dask``: partitions scored in parallel on a 2-worker LocalCluster give
the records of the in-process path."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("distributed", reason="the 'scale' extra (dask, distributed) is not installed")

from triage_ml.contract import DataError  # noqa: E402
from triage_ml.scale import score_dataset_dask, score_file  # noqa: E402
from triage_ml.store import load_bundle  # noqa: E402

NOW = pd.Timestamp("2026-11-30T12:00:00Z")


@pytest.fixture(scope="module")
def dataset(sample_history, tmp_path_factory):
    """Two files, row groups of 40: several partitions that cut neither file's order."""
    folder = tmp_path_factory.mktemp("posts")
    posts = sample_history.drop(columns=["labels", "urgency"]).head(300).reset_index(drop=True)
    posts.loc[posts.index[::9], "created_at"] = None
    for name, part in (("a.parquet", posts.iloc[:170]), ("b.parquet", posts.iloc[170:])):
        table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
        pq.write_table(table, folder / name, row_group_size=40)
    return folder, posts


def test_dask_records_are_the_in_process_records(bundle_dir, dataset, tmp_path) -> None:
    folder, posts = dataset
    out = tmp_path / "scored"
    summary = score_dataset_dask(
        bundle_dir, folder, out, n_workers=2, processes=False, partition_rows=80, now=NOW
    )
    assert summary.posts == len(posts)
    parts = sorted(p.name for p in out.iterdir())
    assert parts == [f"part-{i:05d}.parquet" for i in range(len(parts))] and len(parts) == 5
    whole = tmp_path / "posts.parquet"
    posts.to_parquet(whole, index=False)
    in_process = tmp_path / "in_process.parquet"
    score_file(load_bundle(bundle_dir), whole, in_process, batch_size=64, now=NOW)
    pd.testing.assert_frame_equal(
        pd.read_parquet(out).reset_index(drop=True), pd.read_parquet(in_process)
    )


def test_an_id_repeated_across_partitions_names_both_rows(bundle_dir, dataset, tmp_path) -> None:
    folder, posts = dataset
    bad = tmp_path / "bad"
    bad.mkdir()
    for src in folder.iterdir():
        frame = pd.read_parquet(src)
        if src.name == "b.parquet":
            frame.loc[10, "id"] = posts.loc[5, "id"]
        pq.write_table(pa.Table.from_pandas(frame), bad / src.name, row_group_size=40)
    out = tmp_path / "scored"
    with pytest.raises(
        DataError, match=r"duplicate ids: '[^']+' at .*a.parquet row 6, .*b.parquet row 11"
    ):
        score_dataset_dask(bundle_dir, bad, out, n_workers=2, processes=False, now=NOW)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
