"""Ablation of a task's committed params: one setting changed at a time.

    .venv/bin/python -m benchmarks.quality.ablation --task twitter-complaints --seeds 0
    .venv/bin/python -m benchmarks.quality.ablation --task banking77 --folds 3 --variants ...
    .venv/bin/python -m benchmarks.quality.ablation --task severity --folds 5 --family encoder \
        --variants "encoder epochs=6,encoder epochs=10"

``--family encoder`` trains every row as the encoder stack (``train.model: encoder``, which
needs the ``finetune`` extra); the ``encoder ...`` variants change its fine-tuning settings,
and each row also reports the fine-tuned encoder alone, scored from the same fit. One variant
changes the training rows instead of a setting: ``auxiliary posts as a class`` (severity only)
adds the task's auxiliary posts to every training fold as one more class (``DATA_VARIANTS``).

Every variant and the plain baseline are trained on the very same folds, so a row's difference
from the committed row is the effect of that one setting. This is a *selection* tool: run it on
the tuning seed (0) of a CV task, or, for a task with an official split (banking77), on folds
of its training part only (the test split is dropped before the folds are drawn). Frozen
settings are then scored on fresh seeds by ``python -m benchmarks.quality``.

Writes ``ablation-<task>.json`` and ``ablation-<task>.md`` (one row per variant: score per
seed, mean, difference from the committed params and from the baseline, training seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.quality.harness import FoldResult, run_task
from benchmarks.quality.systems import ENCODER_ONLY as ENCODER_ALONE
from benchmarks.quality.systems import BaselineSystem, OursSystem, ReusedEncoderSystem
from benchmarks.quality.tasks import TASKS, TaskData, default_datasets_dir, load_task, task_params
from triage_ml.contract import ConfigError, Params

Change = dict[str, Any]

#: one setting changed at a time (dotted keys under ``train``); a variant that repeats the
#: committed value of a task is skipped for that task
VARIANTS: dict[str, Change] = {
    "C=4": {"classifier.C": 4.0},
    "C=16": {"classifier.C": 16.0},
    "class_weight=balanced": {"classifier.class_weight": "balanced"},
    "class_weight=none": {"classifier.class_weight": None},
    "no metadata/surface cues": {"features.metadata": False},
    "metadata_weight=0.3": {"features.metadata_weight": 0.3},
    "min_df=1": {"features.min_df": 1},
    "min_df=2": {"features.min_df": 2},
    "word 1-3 grams": {"features.word_ngrams": [1, 3]},
    "char 1-6 grams": {"features.char_ngrams": [1, 6]},
    "char weight 0.5": {"features.char_weight": 0.5},
    "char analyzer 'char'": {"features.char_analyzer": "char"},
    "negation marking": {"normaliser.mark_negation": True},
    "threshold: label F1": {"calibration.threshold_objective": "f1"},
    "threshold: macro-F1": {"calibration.threshold_objective": "macro_f1"},
    "calibration cv=10": {"calibration.cv": 10},
    "calibration cv=2": {"calibration.cv": 2},
    "20% holdout": {"calibration.holdout": 0.2},
    "calibration folds (no holdout)": {"calibration.holdout": None},
    "C=4 + 20% holdout": {"classifier.C": 4.0, "calibration.holdout": 0.2},
    "LinearSVC + 20% holdout": {
        "classifier.exclusive_solver": "linear_svc",
        "calibration.holdout": 0.2,
    },
    "LinearSVC": {"classifier.exclusive_solver": "linear_svc"},
    "LinearSVC C=1": {"classifier.exclusive_solver": "linear_svc", "classifier.C": 1.0},
    "LinearSVC C=0.5": {"classifier.exclusive_solver": "linear_svc", "classifier.C": 0.5},
    "LinearSVC C=1 + 20% holdout": {
        "classifier.exclusive_solver": "linear_svc",
        "classifier.C": 1.0,
        "calibration.holdout": 0.2,
    },
    "LinearSVC C=1 + cv=2": {
        "classifier.exclusive_solver": "linear_svc",
        "classifier.C": 1.0,
        "calibration.cv": 2,
    },
    # the encoder family's fine-tuning (``--family encoder``)
    "encoder epochs=6": {"encoder.epochs": 6},
    "encoder epochs=10": {"encoder.epochs": 10},
    "encoder lr=1e-4": {"encoder.learning_rate": 1e-4},
    "encoder lr=2e-4": {"encoder.learning_rate": 2e-4},
    "encoder batch=8": {"encoder.batch_size": 8},
    "encoder lr=1e-4 + batch=8": {"encoder.learning_rate": 1e-4, "encoder.batch_size": 8},
    "encoder holdout=0.1": {"encoder.holdout": 0.1},
    # the urgency head's share of the joint loss (multi-task with the level on severity)
    "encoder urgency_weight=0": {"encoder.urgency_weight": 0.0},
    "encoder urgency_weight=3": {"encoder.urgency_weight": 3.0},
    # not a setting but the training rows (see DATA_VARIANTS)
    "auxiliary posts as a class": {},
}

#: variants of the training rows, not of the params: the task's auxiliary posts
#: (``TaskData.auxiliary``; severity: its 742 non-complaints addressed to a brand, part of what
#: the published multi-task model learnt complaint detection on) join every training fold as one
#: more class, and the test rows are scored among the task's own classes
DATA_VARIANTS = {"auxiliary posts as a class": "auxiliary"}

#: variants that only mean something for one kind of label set
BINARY_ONLY = {"threshold: label F1", "threshold: macro-F1", "calibration cv=10"}
EXCLUSIVE_ONLY = {
    name
    for name, change in VARIANTS.items()
    if {"classifier.exclusive_solver", "calibration.holdout"} & set(change)
}
#: variants of the encoder's fine-tuning: only where every row is the encoder family
ENCODER_ONLY = {
    name for name, change in VARIANTS.items() if any(k.startswith("encoder.") for k in change)
}


def _get(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw["train"]
    for key in dotted.split("."):
        node = node[key]
    return node


def with_change(params: Params, change: Change) -> Params | None:
    """``params`` with ``change`` applied, or ``None`` when nothing would change."""
    raw = params.model_dump(mode="json")
    new = deepcopy(raw)
    for dotted, value in change.items():
        *path, leaf = dotted.split(".")
        node = new["train"]
        for key in path:
            node = node[key]
        node[leaf] = value
    if all(_get(new, k) == _get(raw, k) for k in change):
        return None
    return Params.model_validate(new)


def variants_for(params: Params, names: list[str] | None = None) -> dict[str, Params]:
    """The committed params and each applicable variant, by row name."""
    out = {"committed": params}
    for name, change in VARIANTS.items():
        if names is not None and name not in names:
            continue
        if name in BINARY_ONLY and params.labels.exclusive:
            continue
        if name in EXCLUSIVE_ONLY and not params.labels.exclusive:
            continue
        if name in ENCODER_ONLY and params.train.model != "encoder":
            continue
        if name in DATA_VARIANTS:
            if params.labels.exclusive:  # the extra class needs an exclusive set
                out[name] = params
            continue
        changed = with_change(params, change)
        if changed is not None:
            out[name] = changed
    return out


def training_part(data: TaskData) -> TaskData:
    """An official-split task reduced to its training rows (selection never sees the test split)."""
    if data.test_mask is None:
        return data
    keep = ~data.test_mask
    return replace(
        data,
        frame=data.frame[keep].reset_index(drop=True),
        target=data.target[keep],
        test_mask=None,
        source=data.source + " (training split only)",
    )


def run_ablation(
    task: str,
    seeds: list[int],
    folds: int = 10,
    variant_names: list[str] | None = None,
    datasets: Path | None = None,
    on_row: Callable[[dict[str, Any]], None] = lambda row: None,
    family: str = "linear",
) -> list[dict[str, Any]]:
    """One row per variant (plus the baseline): scores per seed, mean, training seconds.
    ``family`` is the model family every row trains (the task's params say ``linear``)."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    spec = TASKS[task]
    params = task_params(task).with_model(family)
    full = load_task(spec, datasets or default_datasets_dir(), params, None)
    data = training_part(full)
    rows: list[dict[str, Any]] = []
    # the task's own baseline (LinearSVC for banking77's official split), also on its CV folds
    baseline = BaselineSystem(official_split=full.test_mask is not None)
    systems: list[tuple[str, Any]] = [("baseline", baseline)]
    for name, p in variants_for(params, variant_names).items():
        if name in DATA_VARIANTS and data.auxiliary is None:
            continue  # this task has no auxiliary posts
        systems.append((name, OursSystem(p, auxiliary=name in DATA_VARIANTS)))
    for name, system in systems:
        started = time.perf_counter()
        # an encoder row also scores the fine-tuned encoder alone, from the same fit: the
        # stack and the encoder it stacks compared on the same folds at no extra training
        alone = family == "encoder" and isinstance(system, OursSystem)
        fitted = [system, ReusedEncoderSystem(ENCODER_ALONE, system)] if alone else [system]
        results = run_task(spec, data, fitted, seeds, folds)
        own = [r for r in results if r.system == system.name]
        row = {
            "variant": name,
            "change": (
                {"training rows": DATA_VARIANTS[name]}
                if name in DATA_VARIANTS
                else VARIANTS.get(name, {})
            ),
            **_scores(own, seeds),
            "train_seconds": float(sum(r.fit_seconds for r in own) / len(seeds)),
            "wall_seconds": time.perf_counter() - started,
        }
        if alone:
            row["encoder_alone"] = _scores([r for r in results if r.system == ENCODER_ALONE], seeds)
        rows.append(row)
        on_row(row)
    return rows


def _scores(results: list[FoldResult], seeds: list[int]) -> dict[str, Any]:
    """Score per seed (mean over its folds), their mean, and the mean over folds and seeds of
    each extra figure (top-label ECE, Spearman)."""
    per_seed = {s: float(np.mean([r.score for r in results if r.seed == s])) for s in seeds}
    extra_keys = dict.fromkeys(k for r in results for k in r.extra)
    return {
        "per_seed": per_seed,
        "mean": float(np.mean(list(per_seed.values()))),
        "extra": {
            key: float(np.mean([r.extra[key] for r in results if key in r.extra]))
            for key in extra_keys
        },
    }


def markdown(
    task: str, rows: list[dict[str, Any]], seeds: list[int], folds: int, family: str = "linear"
) -> str:
    ref = next(r["mean"] for r in rows if r["variant"] == "committed")
    base = next(r["mean"] for r in rows if r["variant"] == "baseline")
    head = f"| variant | {' | '.join(f'seed {s}' for s in seeds)} | mean | vs committed "
    lines = [
        f"Ablation on {task} ({family} family): {folds}-fold CV, seeds "
        f"{', '.join(map(str, seeds))} (training rows only where the task has an official split).",
        "",
        head + "| vs baseline | training s (all folds) |",
        "|---" * (len(seeds) + 5) + "|",
    ]
    # an exclusive set's calibration folds set only the softmax temperature: the score cannot
    # move, the probabilities' calibration can
    ece = any("top_label_ece" in r.get("extra", {}) for r in rows)
    if ece:
        lines[2] += " top-label ECE |"
        lines[3] += "---|"
    alone = any("encoder_alone" in r for r in rows)
    if alone:
        lines[2] += " encoder alone (same fit) |"
        lines[3] += "---|"
    for r in rows:
        cells = " | ".join(f"{r['per_seed'][s]:.4f}" for s in seeds)
        lines.append(
            f"| {r['variant']} | {cells} | {r['mean']:.4f} | {r['mean'] - ref:+.4f} "
            f"| {r['mean'] - base:+.4f} | {r['train_seconds']:.0f} |"
        )
        if ece:
            value = r.get("extra", {}).get("top_label_ece")
            lines[-1] += f" {value:.4f} |" if value is not None else " - |"
        if alone:
            value = r.get("encoder_alone", {}).get("mean")
            lines[-1] += f" {value:.4f} |" if value is not None else " - |"
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True, choices=sorted(TASKS))
    ap.add_argument("--seeds", default="0", help="CV seeds, comma-separated (default 0)")
    ap.add_argument("--folds", type=int, default=10)
    listed = ", ".join(VARIANTS).replace("%", "%%")  # argparse formats help with %
    ap.add_argument("--variants", default=None, help=f"comma-separated subset of: {listed}")
    ap.add_argument(
        "--family",
        choices=("linear", "encoder"),
        default="linear",
        help="model family of every row (encoder: the stack; needs the finetune extra)",
    )
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("reports/ablation"))
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.variants.split(",") if args.variants else None
    unknown = [n for n in names or [] if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")

    def show(row: dict[str, Any]) -> None:
        print(
            f"{row['variant']:<28} {row['mean']:.4f}  ({row['train_seconds']:.0f} s training)"
            + "".join(f"  {k} {v:.4f}" for k, v in row["extra"].items())
            + (
                f"  encoder alone {row['encoder_alone']['mean']:.4f}"
                if "encoder_alone" in row
                else ""
            ),
            flush=True,
        )

    rows = run_ablation(args.task, seeds, args.folds, names, args.datasets, show, args.family)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "task": args.task,
        "family": args.family,
        "seeds": seeds,
        "folds": args.folds,
        "rows": rows,
    }
    stem = f"ablation-{args.task}" + ("-encoder" if args.family == "encoder" else "")
    (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=2))
    table = markdown(args.task, rows, seeds, args.folds, args.family)
    (args.out / f"{stem}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
