"""The committed 20-line baseline runs the three protocols on data in the real files' shapes."""

from __future__ import annotations

import re

from benchmarks import baseline


def test_baseline_reports_each_task_with_its_protocol(datasets, capsys) -> None:
    assert baseline.main(["--datasets", str(datasets)]) == 0
    out = capsys.readouterr().out
    for task, metric, protocol in [
        ("twitter-complaints", "macro-F1", "10-fold CV, seed 0"),
        ("banking77", "accuracy", "official train/test split"),
        ("severity", "macro-F1", "10-fold CV, seed 0"),
    ]:
        line = re.search(rf"^{task}: {metric} (\d\.\d{{3}}) \({re.escape(protocol)}\)$", out, re.M)
        assert line, out
        assert 0.0 <= float(line.group(1)) <= 1.0


def test_absent_data_sets_are_skipped_with_where_they_were_looked_for(tmp_path, capsys) -> None:
    assert baseline.main(["--datasets", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped, data set not found under") == 3
