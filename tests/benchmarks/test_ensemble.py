"""benchmarks.quality.ensemble: the average of runs' saved predictions, scored like the harness."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import quality as bm
from benchmarks.quality import ensemble
from tests.benchmarks.test_quality import write_datasets


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Severity (4 exclusive levels) twice on the same folds of two seeds: the linear default at
    two C; and twitter-complaints (binary) once."""
    datasets = write_datasets(tmp_path_factory.mktemp("datasets"))
    out = {}
    for name, sets in (("c8", []), ("c05", ["train.classifier.C=0.05"])):
        folder = tmp_path_factory.mktemp(name)
        opts = bm.BenchmarkOptions(
            tasks=["severity"],
            datasets=datasets,
            out=folder,
            folds=3,
            seeds=[1, 2],
            systems=[bm.OURS],
            overrides=sets,
            save_predictions=True,
        )
        bm.run_suite(opts)
        out[name] = folder
    folder = tmp_path_factory.mktemp("binary")
    bm.run_suite(
        bm.BenchmarkOptions(
            tasks=["twitter-complaints"],
            datasets=datasets,
            out=folder,
            folds=3,
            systems=[bm.BASELINE],
            save_predictions=True,
        )
    )
    out["binary"] = folder
    return out


def test_saved_predictions_cover_every_row_once(runs) -> None:
    with np.load(runs["c8"] / "severity-predictions.npz") as z:
        idx = np.concatenate([z[f"ours/1/{f}/test_idx"] for f in (1, 2, 3)])
        assert sorted(idx.tolist()) == list(range(len(z["target"])))
        proba = z["ours/1/1/proba"]
        assert proba.shape == (len(z["ours/1/1/test_idx"]), 4)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert z["ours/1/1/urgency"].shape == (proba.shape[0],)
        assert z["levels"].tolist() == [1, 2, 3, 4]


def test_one_member_scores_what_the_harness_reported(runs) -> None:
    report = ensemble.run("severity", [runs["c8"]], "ours")
    (row,) = report["subsets"]
    saved = json.loads((runs["c8"] / "severity.json").read_text(encoding="utf-8"))
    ours = saved["systems"]["ours"]
    assert row["score"] == pytest.approx(ours["score"]["mean"], abs=1e-9)
    assert row["spearman"] == pytest.approx(ours["spearman"]["mean"], abs=1e-6)
    assert row["spearman_urgency_model"] == pytest.approx(
        ours["spearman_urgency_model"]["mean"], abs=1e-6
    )


def test_two_members_average_their_probabilities(runs) -> None:
    report = ensemble.run("severity", [runs["c8"], runs["c05"]], "ours")
    assert [len(r["members"]) for r in report["subsets"]] == [1, 1, 2]
    pair = report["subsets"][2]
    per_seed = {}
    with (
        np.load(runs["c8"] / "severity-predictions.npz") as a,
        np.load(runs["c05"] / "severity-predictions.npz") as b,
    ):
        target = a["target"]
        for seed in (1, 2):
            scores = []
            for fold in (1, 2, 3):
                idx = a[f"ours/{seed}/{fold}/test_idx"]
                mean = (a[f"ours/{seed}/{fold}/proba"] + b[f"ours/{seed}/{fold}/proba"]) / 2
                scores.append(bm.score("macro-F1", target[idx], mean.argmax(axis=1), 4))
            per_seed[str(seed)] = float(np.mean(scores))
        # the members' probabilities differ, so the average is not simply one of them
        assert not np.allclose(a["ours/1/1/proba"], b["ours/1/1/proba"])
    assert pair["per_seed"] == pytest.approx(per_seed)
    assert pair["score"] == pytest.approx(float(np.mean(list(per_seed.values()))))


def _copy(runs, tmp_path, change) -> object:
    other = tmp_path / "other"
    other.mkdir()
    with np.load(runs["c8"] / "severity-predictions.npz") as z:
        arrays = change({k: z[k] for k in z.files})
    np.savez(other / "severity-predictions.npz", **arrays)
    return other


def test_runs_on_other_folds_are_refused(runs, tmp_path) -> None:
    other = _copy(runs, tmp_path, lambda a: {k: v for k, v in a.items() if "/2/" not in k})
    with pytest.raises(ensemble.EnsembleError, match="seeds 1,2 x 3 folds in the first, seeds 1 x"):
        ensemble.run("severity", [runs["c8"], other], "ours")


def test_runs_that_tested_other_rows_are_refused(runs, tmp_path) -> None:
    def swap(arrays):
        arrays["ours/1/1/test_idx"], arrays["ours/1/2/test_idx"] = (
            arrays["ours/1/2/test_idx"],
            arrays["ours/1/1/test_idx"],
        )
        return arrays

    other = _copy(runs, tmp_path, swap)
    with pytest.raises(ensemble.EnsembleError, match="seed 1 fold 1: the runs tested different"):
        ensemble.run("severity", [runs["c8"], other], "ours")


def test_a_binary_task_is_refused(runs) -> None:
    with pytest.raises(ensemble.EnsembleError, match="not an exclusive label set"):
        ensemble.run("twitter-complaints", [runs["binary"]], "baseline")


def test_without_the_saved_flag_the_tasks_params_decide(runs, tmp_path) -> None:
    older = _copy(runs, tmp_path, lambda a: {k: v for k, v in a.items() if k != "exclusive"})
    assert ensemble.run("severity", [older], "ours")["subsets"][0]["score"] is not None
    folder = tmp_path / "binary"
    folder.mkdir()
    with np.load(runs["binary"] / "twitter-complaints-predictions.npz") as z:
        np.savez(
            folder / "twitter-complaints-predictions.npz",
            **{k: z[k] for k in z.files if k != "exclusive"},
        )
    with pytest.raises(ensemble.EnsembleError, match="not an exclusive label set"):
        ensemble.run("twitter-complaints", [folder], "baseline")


def test_a_file_that_is_not_predictions_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "severity-predictions.npz").write_text("not an archive", encoding="utf-8")
    with pytest.raises(ensemble.EnsembleError, match="not a predictions file of the harness"):
        ensemble.run("severity", [tmp_path], "ours")


def test_cli_names_a_missing_file_and_a_missing_system(runs, tmp_path, capsys) -> None:
    assert ensemble.main(["--task", "severity", str(tmp_path)]) == 2
    assert "severity-predictions.npz: not found" in capsys.readouterr().err
    assert ensemble.main(["--task", "severity", "--system", "baseline", str(runs["c8"])]) == 2
    assert "no predictions of system 'baseline' (it holds: ours)" in capsys.readouterr().err
    nowhere = str(tmp_path / "missing" / "out.json")
    args = ["--task", "severity", "--system", "ours", "--json", nowhere, str(runs["c8"])]
    assert ensemble.main(args) == 2
    assert f"cannot write {nowhere}" in capsys.readouterr().err
    args = ["--task", "severity", "--system", "ours", str(runs["c8"]), str(runs["c05"])]
    assert ensemble.main(args) == 0
    assert f"<- {runs['c8'].name} + {runs['c05'].name}" in capsys.readouterr().out
