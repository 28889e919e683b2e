"""``triage-ml sample`` streams: chunks written one by one give the file written at once."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from triage_ml.cli import app
from triage_ml.contract import write_table
from triage_ml.synthetic import generate_sample

runner = CliRunner()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_streamed_sample_file_is_the_file_written_at_once(tmp_path, suffix) -> None:
    streamed = tmp_path / f"streamed{suffix}"
    result = runner.invoke(
        app,
        ["sample", "--rows", "300", "--seed", "7", "--chunk-rows", "64", "--out", str(streamed)],
    )
    assert result.exit_code == 0, result.output
    whole = write_table(generate_sample(300, seed=7), tmp_path / f"whole{suffix}")
    if suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(streamed), pd.read_parquet(whole))
    else:
        assert streamed.read_bytes() == whole.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))
