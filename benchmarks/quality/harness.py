"""Running the quality benchmark: every system on the very same folds, scored and summarised.

Each system sees only the training part of a fold; thresholds and calibration are chosen inside
``fit`` on out-of-fold scores of the training part, never on the test fold. :func:`run_suite`
runs the selected tasks and writes ``<task>.json`` per task, the markdown table and the plot.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.quality import tasks
from benchmarks.quality.report import TaskReport, markdown_document, write_plot
from benchmarks.quality.systems import (
    ALL_SYSTEMS,
    BASELINE,
    DEFAULT_SYSTEMS,
    DETERMINISTIC,
    ENCODER_SYSTEMS,
    FASTTEXT,
    FASTTEXT_SETTINGS,
    SPACY,
    SPACY_BOW_EPOCHS,
    SPACY_ENSEMBLE,
    SPACY_ENSEMBLE_EPOCHS,
    SYSTEM_TITLES,
    OursSystem,
    System,
    build_systems,
)
from benchmarks.quality.tasks import (
    DATASETS_ENV,
    PROFILES,
    SUITES,
    TASKS,
    MetricName,
    TaskData,
    TaskSpec,
    apply_overrides,
    default_datasets_dir,
    default_params_dir,
    load_task,
    make_folds,
    task_params,
)
from triage_ml.contract import ConfigError, Params
from triage_ml.evaluation import expected_calibration_error


def score(metric: MetricName, truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """The task's metric; macro-F1 averages over *all* classes (both sides of a binary task)."""
    from sklearn.metrics import accuracy_score, f1_score

    if metric == "accuracy":
        return float(accuracy_score(truth, predicted))
    return float(
        f1_score(truth, predicted, labels=list(range(n_classes)), average="macro", zero_division=0)
    )


def spearman(truth: np.ndarray, score_: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(np.unique(score_)) < 2 or len(np.unique(truth)) < 2:
        return float("nan")
    return float(spearmanr(truth, score_).statistic)


@dataclass
class FoldResult:
    """One system on one fold of one seed."""

    system: str
    seed: int
    fold: int
    score: float
    fit_seconds: float
    predict_seconds: float
    n_train: int
    n_test: int
    extra: dict[str, float] = field(default_factory=dict)
    # the test rows (indices into the task's frame), their class probabilities and the urgency
    # model's score: written by --save-predictions, read by benchmarks.quality.ensemble
    test_idx: np.ndarray | None = field(default=None, repr=False)
    proba: np.ndarray | None = field(default=None, repr=False)
    urgency: np.ndarray | None = field(default=None, repr=False)


@dataclass
class FoldEvent:
    """Progress: a system finished a fold (``result``) or is about to start one (``None``)."""

    task: str
    seed: int
    fold: int
    n_folds: int
    n_systems: int
    system: str
    result: FoldResult | None = None


def run_fold(
    system: System,
    data: TaskData,
    spec: TaskSpec,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    seed: int,
    fold: int,
) -> FoldResult:
    """Fit on the training rows only, then time the scoring of the test rows."""
    train = data.frame.iloc[train_idx].reset_index(drop=True)
    test = data.frame.iloc[test_idx].reset_index(drop=True)
    truth = data.target[test_idx]
    started = time.perf_counter()
    system.fit(train, data.target[train_idx], data, seed)
    fitted = time.perf_counter()
    pred = system.predict(test)
    predicted = time.perf_counter()
    extra: dict[str, float] = {}
    proba = pred.proba
    if (
        data.exclusive
        and pred.calibrated
        and proba is not None
        and proba.ndim == 2
        and proba.min() >= 0.0
        and np.allclose(proba.sum(axis=1), 1.0)
    ):
        # how far the chosen class's probability is from how often it is right (15 bins)
        top = proba.argmax(axis=1)
        extra["top_label_ece"] = expected_calibration_error(
            top == truth, proba[np.arange(len(top)), top], bins=15
        )
    urgency = None
    if data.levels is not None:
        truth_level = data.levels[truth]
        extra["spearman"] = spearman(truth_level, pred.proba @ data.levels)
        if isinstance(system, OursSystem):
            urgency = system.urgency(test)
            if urgency is not None:
                extra["spearman_urgency_model"] = spearman(truth_level, urgency)
    return FoldResult(
        system=system.name,
        seed=seed,
        fold=fold,
        score=score(spec.metric, truth, pred.predicted, len(data.classes)),
        fit_seconds=fitted - started,
        predict_seconds=predicted - fitted,
        n_train=len(train_idx),
        n_test=len(test_idx),
        extra=extra,
        test_idx=np.asarray(test_idx),
        proba=None if proba is None else np.asarray(proba, dtype=np.float64),
        urgency=None if urgency is None else np.asarray(urgency, dtype=np.float64),
    )


def run_task(
    spec: TaskSpec,
    data: TaskData,
    systems: Sequence[System],
    seeds: Sequence[int],
    n_folds: int,
    on_event: Callable[[FoldEvent], None] = lambda e: None,
) -> list[FoldResult]:
    """Every system on every fold of every seed. On an official split the seed changes no
    fold, so deterministic systems run once and their result stands for every seed."""
    results: list[FoldResult] = []
    once: dict[str, FoldResult] = {}
    for seed in seeds:
        folds = make_folds(data, n_folds, seed)
        for fold, (train_idx, test_idx) in enumerate(folds, start=1):
            for system in systems:
                reuse = data.test_mask is not None and system.name in DETERMINISTIC
                if reuse and system.name in once:
                    result = FoldResult(**{**once[system.name].__dict__, "seed": seed})
                else:
                    on_event(
                        FoldEvent(spec.name, seed, fold, len(folds), len(systems), system.name)
                    )
                    result = run_fold(system, data, spec, train_idx, test_idx, seed, fold)
                    if reuse:
                        once[system.name] = result
                results.append(result)
                on_event(
                    FoldEvent(spec.name, seed, fold, len(folds), len(systems), system.name, result)
                )
    return results


def save_predictions(results: Sequence[FoldResult], data: TaskData, path: Path) -> Path:
    """Every fold's test rows, class probabilities and urgency scores, with the truth, in one
    ``.npz`` (``<system>/<seed>/<fold>/test_idx|proba|urgency``, ``target``, ``exclusive``,
    ``levels``)."""
    arrays: dict[str, np.ndarray] = {
        "target": np.asarray(data.target),
        "exclusive": np.asarray(data.exclusive),
    }
    if data.levels is not None:
        arrays["levels"] = np.asarray(data.levels)
    for r in results:
        key = f"{r.system}/{r.seed}/{r.fold}"
        for name in ("test_idx", "proba", "urgency"):
            value = getattr(r, name)
            if value is not None:
                arrays[f"{key}/{name}"] = value
    np.savez_compressed(path, **arrays)
    return path


def _mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return None, None
    sd = float(arr.std(ddof=1)) if arr.size > 1 else None
    return float(arr.mean()), sd


def summarise(results: Sequence[FoldResult], seeds: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Per system: mean ± sd of the score (over folds for one seed, over the seeds' means for
    several), total training time over the folds (mean over seeds) and scoring throughput."""
    out: dict[str, dict[str, Any]] = {}
    for system in dict.fromkeys(r.system for r in results):
        mine = [r for r in results if r.system == system]
        per_seed = {s: [r for r in mine if r.seed == s] for s in seeds}
        seed_means = [float(np.mean([r.score for r in rs])) for rs in per_seed.values() if rs]
        if len(seeds) > 1:
            mean, sd = _mean_sd(seed_means)
            over = "seeds"
        else:
            mean, sd = _mean_sd([r.score for r in mine])
            over = "folds"
        entry: dict[str, Any] = {
            "score": {
                "mean": mean,
                "sd": sd,
                "sd_over": over,
                "per_seed": dict(zip(map(str, per_seed), seed_means, strict=True)),
                "per_fold": {str(s): [r.score for r in rs] for s, rs in per_seed.items()},
            },
            "train_seconds": float(
                np.mean([sum(r.fit_seconds for r in rs) for rs in per_seed.values() if rs])
            ),
            "predict_seconds": float(sum(r.predict_seconds for r in mine)),
            "throughput": float(
                sum(r.n_test for r in mine) / max(sum(r.predict_seconds for r in mine), 1e-9)
            ),
            "folds": max(r.fold for r in mine),
        }
        for key in dict.fromkeys(k for r in mine for k in r.extra):
            values = [r.extra.get(key) for r in mine]
            if len(seeds) > 1:
                values = [
                    float(np.nanmean([r.extra.get(key, np.nan) for r in rs]))
                    for rs in per_seed.values()
                    if rs
                ]
            m, s = _mean_sd(values)
            entry[key] = {"mean": m, "sd": s, "sd_over": over}
        out[system] = entry
    return out


def accelerator() -> str:
    """The device that fine-tuning would use: a CUDA GPU's name where torch sees one, else
    ``cpu`` (also when torch is not installed: the linear systems never use a GPU)."""
    from importlib.util import find_spec

    if find_spec("torch") is None:
        return "cpu"
    try:
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    except Exception as err:  # a broken torch install must not stop a linear-only run
        return f"cpu (torch unusable: {type(err).__name__})"


def environment() -> dict[str, Any]:
    """Versions and machine load: timings mean little without them."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("triage-ml", "scikit-learn", "numpy", "spacy", "fasttext-wheel"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "accelerator": accelerator(),
        "load_average_at_start": list(load) if load else None,
        "packages": versions,
    }


@dataclass
class BenchmarkOptions:
    """Everything ``python -m benchmarks.quality`` passes in (validated by
    :func:`check_options`)."""

    suite: str = "real"
    tasks: Sequence[str] | None = None
    profile: str = "default"
    seeds: Sequence[int] = (0,)
    systems: Sequence[str] = DEFAULT_SYSTEMS
    out: Path | None = Path("reports/benchmark")
    datasets: Path | None = None
    params_dir: Path | None = None
    # dotted.key=value settings over every task's params (--set), e.g. train.encoder.seed=3
    overrides: Sequence[str] = ()
    # also write <task>-predictions.npz: each fold's test rows, probabilities and urgency
    save_predictions: bool = False
    limit: int | None = None
    folds: int = 10
    command: str | None = None


def check_options(opts: BenchmarkOptions) -> None:
    if opts.suite not in SUITES:
        raise ConfigError(f"unknown suite {opts.suite!r}; choose one of {', '.join(SUITES)}")
    if opts.profile not in PROFILES:
        raise ConfigError(f"unknown profile {opts.profile!r}; choose one of {', '.join(PROFILES)}")
    unknown = [t for t in opts.tasks or () if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    bad = [s for s in opts.systems if s not in ALL_SYSTEMS]
    if bad:
        raise ConfigError(f"unknown system(s) {bad}; choose from {', '.join(ALL_SYSTEMS)}")
    if not opts.seeds:
        raise ConfigError("give at least one seed, e.g. --seeds 1,2,3")
    if opts.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {opts.folds}")
    if opts.limit is not None and opts.limit < 10:
        raise ConfigError(f"--limit must be at least 10 rows, got {opts.limit}")
    apply_overrides(Params(), opts.overrides)  # a misspelt --set fails before any training


def output_stem(task: str, profile: str) -> str:
    return task if profile == "default" else f"{task}-{profile}"


def run_suite(
    opts: BenchmarkOptions,
    on_event: Callable[[FoldEvent], None] = lambda e: None,
    on_message: Callable[[str], None] = lambda m: None,
) -> list[TaskReport]:
    """Run the selected tasks; write ``<task>.json`` per task, the markdown table and the plot.

    A task whose data are absent, or a profile that cannot run here, becomes a skipped report
    with its reason (and a message), never an error: a machine without the data sets still
    gets a clear answer.
    """
    check_options(opts)
    datasets = opts.datasets or default_datasets_dir()
    names = list(opts.tasks or TASKS)
    reports: list[TaskReport] = []
    env = environment()
    for name in names:
        spec = TASKS[name]
        params = apply_overrides(task_params(name, opts.params_dir, opts.profile), opts.overrides)
        # looked up on the module: a test replaces it to stand for a machine without the extra;
        # the block asked for (--set train.features.embeddings=...) says which extra it needs
        block = params.train.features.embeddings
        why_not = tasks.embeddings_missing(block) if opts.profile == "embeddings" else None
        if why_not:
            reason = f"the embeddings profile {why_not}"
            on_message(f"{name}: skipped — {reason}")
            reports.append(TaskReport(spec, opts.profile, skipped=reason))
            continue
        missing = spec.missing(datasets)
        if missing:
            reason = (
                f"data set not found: {', '.join(str(p) for p in missing)} "
                f"(pass --datasets DIR or set {DATASETS_ENV})"
            )
            on_message(f"{name}: skipped — {reason}")
            reports.append(TaskReport(spec, opts.profile, skipped=reason))
            continue
        data = load_task(spec, datasets, params, opts.limit)
        systems, unavailable = build_systems(opts.systems, params)
        for system, reason in unavailable.items():
            on_message(f"{name}: {SYSTEM_TITLES[system]} not run — {reason}")
        repeated = [s.name for s in systems if s.name in DETERMINISTIC]
        if data.test_mask is not None and len(opts.seeds) > 1 and repeated:
            on_message(
                f"{name}: an official split, which no seed changes: {', '.join(repeated)} "
                "read no seed and run once for all seeds"
                + (
                    "; vary the encoder with --set train.encoder.seed=N"
                    if any(r in ENCODER_SYSTEMS for r in repeated)
                    else ""
                )
            )
        started = time.perf_counter()
        results = run_task(spec, data, systems, opts.seeds, opts.folds, on_event)
        cv = data.test_mask is None
        protocol_short = (
            f"{opts.folds}-fold CV" if cv else "official split"
        ) + f", seed{'s' if len(opts.seeds) > 1 else ''} {','.join(map(str, opts.seeds))}"
        report = TaskReport(
            spec,
            opts.profile,
            systems=summarise(results, opts.seeds),
            unavailable=unavailable,
            meta={
                "protocol_short": protocol_short,
                "rows": len(data.frame),
                "classes": len(data.classes),
                "seeds": list(opts.seeds),
                "folds": opts.folds if cv else 1,
                "limit": opts.limit,
                "data_source": data.source,
                "params_file": str((opts.params_dir or default_params_dir()) / f"{name}.yaml"),
                "params": params.model_dump(mode="json"),
                "overrides": list(opts.overrides),
                "peer_settings": {
                    SPACY: {
                        "architecture": "TextCatBOW.v3 ngram_size=2",
                        "epochs": SPACY_BOW_EPOCHS,
                    },
                    SPACY_ENSEMBLE: {"architecture": "default", "epochs": SPACY_ENSEMBLE_EPOCHS},
                    FASTTEXT: FASTTEXT_SETTINGS,
                    BASELINE: (
                        "benchmarks/baseline.py: TF-IDF word 1-2 + char_wb 2-5 (sublinear, "
                        "min_df 2), LR C=4 balanced (CV) / LinearSVC C=1 (official split)"
                    ),
                },
                "command": opts.command,
                "wall_seconds": time.perf_counter() - started,
                "environment": env,
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        reports.append(report)
        if opts.out is not None:
            opts.out.mkdir(parents=True, exist_ok=True)
            path = opts.out / f"{output_stem(name, opts.profile)}.json"
            path.write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
            on_message(f"{name}: wrote {path}")
            if opts.save_predictions:
                saved = save_predictions(results, data, opts.out / f"{name}-predictions.npz")
                on_message(f"{name}: wrote {saved}")
    if opts.out is not None and any(not r.skipped for r in reports):
        stem = output_stem("summary", opts.profile)
        md = opts.out / f"{stem}.md"
        md.write_text(markdown_document(reports, opts), encoding="utf-8")
        png = write_plot(reports, opts.systems, opts.out / f"{stem}.png")
        on_message(f"wrote {md}" + (f" and {png}" if png else ""))
    return reports
