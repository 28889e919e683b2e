"""The linear ablation: one setting changed at a time, the same folds for every row."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.quality import ablation
from benchmarks.quality.tasks import task_params
from triage_ml.contract import ConfigError


def test_a_variant_that_repeats_the_committed_value_is_skipped() -> None:
    params = task_params("twitter-complaints")
    assert params.train.classifier.class_weight is None
    assert ablation.with_change(params, {"classifier.class_weight": None}) is None
    changed = ablation.with_change(params, {"classifier.class_weight": "balanced"})
    assert changed.train.classifier.class_weight == "balanced"
    assert changed.train.classifier.C == params.train.classifier.C  # nothing else moves


def test_each_label_set_gets_only_the_variants_that_apply_to_it() -> None:
    binary = ablation.variants_for(task_params("twitter-complaints"))
    exclusive = ablation.variants_for(task_params("severity"))
    assert "calibration cv=10" in binary and "calibration cv=10" not in exclusive
    assert "LinearSVC + 20% holdout" in exclusive and "LinearSVC + 20% holdout" not in binary


def test_the_encoders_variants_apply_only_where_every_row_is_the_encoder_family() -> None:
    params = task_params("severity")
    linear = ablation.variants_for(params)
    encoder = ablation.variants_for(params.with_model("encoder"))
    assert "encoder epochs=6" not in linear and "encoder epochs=6" in encoder
    assert encoder["committed"].train.model == "encoder"
    six = encoder["encoder epochs=6"].train
    assert six.model == "encoder" and six.encoder.epochs == 6
    assert six.classifier == params.train.classifier  # the stack's linear part is the task's


def test_selection_on_an_official_split_never_sees_the_test_rows(datasets) -> None:
    from benchmarks.quality.tasks import TASKS, load_task

    spec = TASKS["banking77"]
    data = load_task(spec, datasets, task_params("banking77"), None)
    part = ablation.training_part(data)
    assert part.test_mask is None
    assert len(part.frame) == int((~data.test_mask).sum()) < len(data.frame)
    assert set(part.frame["id"]).isdisjoint(set(data.frame["id"][data.test_mask]))


def test_every_row_is_scored_on_the_same_folds(datasets, tmp_path, capsys) -> None:
    code = ablation.main(
        [
            "--task", "twitter-complaints", "--folds", "2", "--seeds", "0,1",
            "--variants", "C=4,no metadata/surface cues",
            "--datasets", str(datasets), "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    import json

    doc = json.loads((tmp_path / "ablation-twitter-complaints.json").read_text())
    names = [r["variant"] for r in doc["rows"]]
    assert names == ["baseline", "committed", "C=4", "no metadata/surface cues"]
    assert all(set(r["per_seed"]) == {"0", "1"} for r in doc["rows"])
    table = (tmp_path / "ablation-twitter-complaints.md").read_text()
    assert "| committed |" in table and "+0.0000" in table  # committed against itself


def test_an_exclusive_sets_calibration_choice_moves_its_ece_never_its_score(datasets, tmp_path):
    import json

    code = ablation.main(
        [
            "--task", "severity", "--folds", "2", "--variants", "calibration folds (no holdout)",
            "--datasets", str(datasets), "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    doc = json.loads((tmp_path / "ablation-severity.json").read_text())
    rows = {r["variant"]: r for r in doc["rows"]}
    # the folds only set the softmax temperature, which never changes the chosen level
    folds = "calibration folds (no holdout)"
    assert rows[folds]["per_seed"] == rows["committed"]["per_seed"]
    eces = [rows[name]["extra"]["top_label_ece"] for name in ("committed", folds)]
    assert all(0.0 <= e <= 1.0 for e in eces) and eces[0] != eces[1]
    table = (tmp_path / "ablation-severity.md").read_text()
    assert "top-label ECE |" in table.splitlines()[2]
    assert table.splitlines()[-1].count("|") == table.splitlines()[2].count("|")


def test_every_variant_name_can_be_chosen_on_the_command_line() -> None:
    # --variants is comma-separated: a name with a comma in it could never be chosen
    assert [name for name in ablation.VARIANTS if "," in name] == []


def test_help_lists_every_variant(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        ablation.main(["--help"])
    assert done.value.code == 0
    assert "LinearSVC + 20% holdout" in " ".join(capsys.readouterr().out.split())


def test_an_official_split_task_keeps_its_own_baseline_on_cv_folds(datasets, monkeypatch) -> None:
    """banking77's baseline is a LinearSVC; on its training rows' CV folds the ablation must
    not switch to the CV tasks' logistic regression (which trains several times slower)."""
    from benchmarks.quality import systems

    asked: list[bool] = []
    original = systems.baseline_pipeline

    def spy(official_split: bool):
        asked.append(official_split)
        return original(official_split)

    monkeypatch.setattr(systems, "baseline_pipeline", spy)
    monkeypatch.setattr(ablation, "variants_for", lambda params, names=None: {})
    rows = ablation.run_ablation("banking77", [0], folds=2, datasets=datasets)
    assert [r["variant"] for r in rows] == ["baseline"]
    assert asked == [True, True]


def test_an_encoder_row_also_scores_the_encoder_alone_from_the_same_fit(
    datasets, monkeypatch
) -> None:
    """``--family encoder``: beside the stack, each row reports the fine-tuned encoder alone,
    scored from the stack's own fitted model (no second fine-tuning), on the same folds."""
    from benchmarks.quality import systems
    from benchmarks.quality.harness import FoldResult

    calls: list[list] = []

    def fake_run_task(spec, data, fitted, seeds, folds):
        calls.append(list(fitted))
        score = {"baseline": 0.40, "ours": 0.48, systems.ENCODER_ONLY: 0.49}
        return [
            FoldResult(s.name, seed, fold, score[s.name] + fold / 100, 1.0, 0.1, 10, 5)
            for seed in seeds
            for fold in (1, 2)
            for s in fitted
        ]

    monkeypatch.setattr(ablation, "run_task", fake_run_task)
    rows = ablation.run_ablation(
        "severity", [0], folds=2, variant_names=["encoder epochs=6"], datasets=datasets,
        family="encoder",
    )  # fmt: skip
    assert [r["variant"] for r in rows] == ["baseline", "committed", "encoder epochs=6"]
    assert [len(c) for c in calls] == [1, 2, 2]  # the baseline has no encoder to score alone
    for fitted in calls[1:]:
        stack, alone = fitted
        assert isinstance(alone, systems.ReusedEncoderSystem) and alone.source is stack
    assert "encoder_alone" not in rows[0]
    assert rows[1]["mean"] == pytest.approx(0.495)  # the stack's folds, not the encoder's
    assert rows[1]["encoder_alone"]["mean"] == pytest.approx(0.505)
    table = ablation.markdown("severity", rows, [0], 2, "encoder").splitlines()
    assert table[2].endswith("encoder alone (same fit) |")
    assert table[-1].endswith(" 0.5050 |") and table[4].endswith(" - |")


def test_scoring_among_the_tasks_own_classes_renormalises_over_them() -> None:
    from benchmarks.quality.systems import among_scored

    proba = np.array([[0.2, 0.2, 0.1, 0.0, 0.5], [0.1, 0.6, 0.1, 0.1, 0.1]])
    kept = among_scored(proba, 4)
    np.testing.assert_allclose(kept, [[0.4, 0.4, 0.2, 0.0], [1 / 9, 6 / 9, 1 / 9, 1 / 9]])
    assert among_scored(kept, 4) is kept  # a model without the extra class is left as it is


def test_the_auxiliary_posts_train_one_more_class_and_tests_are_scored_without_it(datasets) -> None:
    from benchmarks.quality.systems import OursSystem
    from benchmarks.quality.tasks import AUXILIARY_CLASS, TASKS, load_task

    params = task_params("severity")
    data = load_task(TASKS["severity"], datasets, params, None)
    plain, with_aux = OursSystem(params), OursSystem(params, auxiliary=True)
    for system in (plain, with_aux):
        system.fit(data.frame, data.target, data, 0)
    assert plain.triager_.labels == data.label_names
    assert with_aux.triager_.labels == [*data.label_names, AUXILIARY_CLASS]
    scored = with_aux.predict(data.frame)
    full = with_aux.triager_.predict_proba(data.frame)
    assert scored.proba.shape == (len(data.frame), 4)
    np.testing.assert_allclose(scored.proba, full[:, :4] / full[:, :4].sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(scored.predicted, scored.proba.argmax(axis=1))
    # the auxiliary posts are learnt as a class of their own: they score high on it
    assert with_aux.triager_.predict_proba(data.auxiliary)[:, 4].mean() > 0.5


def test_a_task_without_auxiliary_posts_says_so(datasets) -> None:
    from benchmarks.quality.systems import OursSystem
    from benchmarks.quality.tasks import TASKS, load_task

    params = task_params("twitter-complaints")
    data = load_task(TASKS["twitter-complaints"], datasets, params, None)
    with pytest.raises(ConfigError, match="no auxiliary posts to train on"):
        OursSystem(params, auxiliary=True).fit(data.frame, data.target, data, 0)
    # the ablation offers the variant only where it means something
    assert "auxiliary posts as a class" not in ablation.variants_for(params)
    assert "auxiliary posts as a class" in ablation.variants_for(task_params("severity"))


def test_the_auxiliary_variant_is_a_row_of_the_ablation(datasets, tmp_path) -> None:
    import json

    code = ablation.main(
        [
            "--task", "severity", "--folds", "2", "--variants", "auxiliary posts as a class",
            "--datasets", str(datasets), "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 0
    rows = json.loads((tmp_path / "ablation-severity.json").read_text())["rows"]
    assert [r["variant"] for r in rows] == ["baseline", "committed", "auxiliary posts as a class"]
    assert rows[2]["change"] == {"training rows": "auxiliary"}
    assert rows[1]["change"] == {}
    assert 0.0 <= rows[2]["mean"] <= 1.0 and -1.0 <= rows[2]["extra"]["spearman"] <= 1.0
