"""What averaging several runs' probabilities would score: python -m benchmarks.quality.ensemble

    python -m benchmarks.quality --tasks severity --seeds 1 --systems ours-encoder \\
        --set train.encoder.seed=0 --save-predictions --out runs/e0     # likewise e1, e2
    python -m benchmarks.quality.ensemble --task severity runs/e0 runs/e1 runs/e2

Each run folder holds ``<task>-predictions.npz`` from ``--save-predictions``. The runs must
share the task, seeds and folds (the same test rows in each fold: checked); they differ in
what was trained, typically ``train.encoder.seed``. For every seed and fold the members'
class probabilities are averaged (and their urgency scores), the class with the highest mean
is chosen, and the task's metric is computed as the harness does: per fold, then the mean over
folds, then over seeds. Each member's own score on the same folds is printed beside it, and
every subset size from one member up, so the table shows what each added member buys.

Exclusive label sets only (banking77, severity; the harness saves the flag): the chosen class
is the argmax there, while a binary or multi-label task's decision uses thresholds fitted
inside each run, which an average cannot reuse.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.quality.harness import score, spearman
from benchmarks.quality.tasks import TASKS, task_params


class EnsembleError(ValueError):
    """Runs that cannot be averaged (missing file, other folds, a binary task)."""


def load_run(folder: Path, task: str, system: str) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """``{(seed, fold): {"test_idx", "proba"[, "urgency"], "target"[, "levels"]}}`` of one
    system in one run."""
    path = folder / f"{task}-predictions.npz"
    if not path.exists():
        raise EnsembleError(f"{path}: not found (run the harness with --save-predictions)")
    folds: dict[tuple[int, int], dict[str, np.ndarray]] = defaultdict(dict)
    systems: set[str] = set()
    try:
        with np.load(path) as z:
            for key in z.files:
                parts = key.split("/")
                if len(parts) == 4:
                    systems.add(parts[0])
                    if parts[0] == system:
                        folds[(int(parts[1]), int(parts[2]))][parts[3]] = z[key]
            shared = {k: z[k] for k in ("target", "levels", "exclusive") if k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise EnsembleError(f"{path}: not a predictions file of the harness ({err})") from None
    if not folds:
        found = ", ".join(sorted(systems)) or "none"
        raise EnsembleError(f"{path}: no predictions of system {system!r} (it holds: {found})")
    # files written before the flag was saved: the task's committed params say it
    exclusive = shared.pop("exclusive", None)
    if exclusive is None:
        exclusive = task_params(task).labels.exclusive
    if not bool(exclusive):
        raise EnsembleError(
            f"{path}: {task} is not an exclusive label set; only exclusive sets (the chosen "
            "class is the argmax) can be averaged here"
        )
    for value in folds.values():
        value.update(shared)
    return dict(folds)


def check_compatible(runs: list[dict]) -> None:
    """The runs share seeds, folds, test rows and truth, so that any subset can be averaged."""
    keys = sorted(runs[0])
    target = next(iter(runs[0].values()))["target"]
    for i, m in enumerate(runs[1:], start=1):
        if sorted(m) != keys:
            raise EnsembleError(
                f"the runs have different seeds or folds: {_describe(keys)} in the first, "
                f"{_describe(sorted(m))} in run {i + 1}"
            )
        if not np.array_equal(next(iter(m.values()))["target"], target):
            raise EnsembleError(f"run {i + 1} was scored against other data than the first")
    for seed, fold in keys:
        idx = runs[0][(seed, fold)]["test_idx"]
        if any(not np.array_equal(m[(seed, fold)]["test_idx"], idx) for m in runs[1:]):
            raise EnsembleError(f"seed {seed} fold {fold}: the runs tested different rows")


def evaluate(members: list[dict], metric: str) -> dict[str, Any]:
    """The metric (and Spearman where the task has levels) of the members' mean prediction;
    the members passed :func:`check_compatible`."""
    per_seed: dict[int, list[float]] = defaultdict(list)
    rho: dict[int, list[float]] = defaultdict(list)
    rho_urgency: dict[int, list[float]] = defaultdict(list)
    for seed, fold in sorted(members[0]):
        parts = [m[(seed, fold)] for m in members]
        idx = parts[0]["test_idx"]
        truth = parts[0]["target"][idx]
        proba = np.mean([p["proba"] for p in parts], axis=0)
        per_seed[seed].append(score(metric, truth, proba.argmax(axis=1), proba.shape[1]))
        if "levels" in parts[0]:
            levels = parts[0]["levels"]
            rho[seed].append(spearman(levels[truth], proba @ levels))
            if all("urgency" in p for p in parts):
                urgency = np.mean([p["urgency"] for p in parts], axis=0)
                rho_urgency[seed].append(spearman(levels[truth], urgency))

    def mean_over_seeds(values: dict[int, list[float]]) -> float | None:
        if not values:
            return None
        return float(np.mean([np.nanmean(v) for v in values.values()]))

    return {
        "score": mean_over_seeds(per_seed),
        "per_seed": {str(s): float(np.mean(v)) for s, v in per_seed.items()},
        "spearman": mean_over_seeds(rho),
        "spearman_urgency_model": mean_over_seeds(rho_urgency),
    }


def _describe(keys: list[tuple[int, int]]) -> str:
    seeds = sorted({seed for seed, _ in keys})
    return f"seeds {','.join(map(str, seeds))} x {len(keys) // max(len(seeds), 1)} folds"


def run(task: str, folders: list[Path], system: str) -> dict[str, Any]:
    spec = TASKS[task]
    runs = [load_run(f, task, system) for f in folders]
    check_compatible(runs)
    rows = []
    for size in range(1, len(runs) + 1):
        for combo in itertools.combinations(range(len(runs)), size):
            result = evaluate([runs[i] for i in combo], spec.metric)
            rows.append({"members": [str(folders[i]) for i in combo], **result})
    return {"task": task, "metric": spec.metric, "system": system, "subsets": rows}


def _table(report: dict[str, Any]) -> str:
    lines = [f"{report['task']} ({report['metric']}, {report['system']}): mean over seeds"]
    for row in report["subsets"]:
        extra = ""
        if row["spearman"] is not None:
            extra = f"  Spearman {row['spearman']:.4f}"
            if row["spearman_urgency_model"] is not None:
                extra += f" (urgency model {row['spearman_urgency_model']:.4f})"
        names = " + ".join(Path(m).name for m in row["members"])
        lines.append(f"  {row['score']:.4f}{extra}  <- {names}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.quality.ensemble",
        description="Score the average of several runs' saved predictions.",
    )
    ap.add_argument("--task", required=True, choices=sorted(TASKS))
    ap.add_argument("--system", default="ours-encoder")
    ap.add_argument("--json", type=Path, default=None, help="also write the table as JSON")
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (--out of each harness run)")
    args = ap.parse_args(argv)
    try:
        report = run(args.task, args.runs, args.system)
    except EnsembleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        except OSError as err:
            print(f"error: cannot write {args.json}: {err.strerror or err}", file=sys.stderr)
            return 2
    print(_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
