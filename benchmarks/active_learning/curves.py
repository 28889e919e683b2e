"""The active-learning protocol: the test split and the pool, the labelled rounds, the three
strategies' choice of posts, and the product model trained and scored at each round."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.quality import (
    TASKS,
    OursSystem,
    TaskData,
    score,
)
from triage_ml.contract import ConfigError, Params

RANDOM = "random"
UNCERTAINTY = "uncertainty"
PRODUCT = "uncertainty-x-urgency"
STRATEGIES = (RANDOM, UNCERTAINTY, PRODUCT)
DEFAULT_TASKS = ("twitter-complaints", "severity")
SHARE = 0.95
F1 = "macro_f1"
WERR = "weighted_error"
LOWER_IS_BETTER = {F1: False, WERR: True}
METRIC_TITLES = {F1: "macro-F1", WERR: "urgency-weighted error"}


def urgency_weighted_error(true_level: np.ndarray, pred_level: np.ndarray) -> float:
    """``sum(level * |pred - level|) / sum(level)`` over test posts (see the package doc)."""
    true_level = np.asarray(true_level, dtype=float)
    pred_level = np.asarray(pred_level, dtype=float)
    return float(np.sum(true_level * np.abs(pred_level - true_level)) / np.sum(true_level))


def split_pool(target: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the pool and of the held-out test split (stratified, sorted)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(target))
    pool, test = train_test_split(rows, test_size=test_size, stratify=target, random_state=seed)
    return np.sort(pool), np.sort(test)


def stratified_take(rows: np.ndarray, target: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` of ``rows``, each class in proportion (random, seeded)."""
    from sklearn.model_selection import train_test_split

    if k >= len(rows):
        return np.sort(rows)
    taken, _ = train_test_split(rows, train_size=k, stratify=target[rows], random_state=seed)
    return np.sort(taken)


def round_sizes(n_pool: int, start: float, step: float, max_fraction: float) -> list[int]:
    """Labelled-set size per round: ``start + r * step`` of the pool for r = 0, 1, ... while
    that share is at most ``max_fraction`` (at least one post, one more than the round before,
    never more than the pool)."""
    sizes: list[int] = []
    r = 0
    while start + r * step <= max_fraction + 1e-9:
        size = min(
            n_pool, max(round((start + r * step) * n_pool), 1, sizes[-1] + 1 if sizes else 1)
        )
        if sizes and size == sizes[-1]:
            break
        sizes.append(size)
        r += 1
    return sizes


def rank_unlabelled(
    triager: Any, frame: pd.DataFrame, rows: np.ndarray, strategy: str, seed: int
) -> np.ndarray:
    """``rows`` (unlabelled pool rows) best first for ``strategy``, ranked by ``suggest``.

    The rows are shuffled first (``seed``) so that ties break at random, and get their row
    number as id, so ``suggest``'s answer maps back to rows whatever the data set's ids are.
    """
    from triage_ml.decide import load_playbook
    from triage_ml.monitor import suggest
    from triage_ml.store import Bundle

    rows = np.random.default_rng(seed).permutation(rows)
    posts = frame.iloc[rows].reset_index(drop=True).assign(id=[str(r) for r in rows])
    ranked = suggest(Bundle(triager, load_playbook(), {}), posts, n=len(rows))
    if strategy == PRODUCT:
        return ranked["id"].astype(int).to_numpy()
    # closeness alone, ties in the shuffled order (not suggest's urgency-weighted one)
    closeness = ranked.set_index("id")["uncertainty"].reindex([str(r) for r in rows])
    return rows[np.argsort(-closeness.to_numpy(), kind="stable")]


@dataclass
class Curve:
    """One strategy (and seed) on one task: its points and the rows it labelled, in order."""

    strategy: str
    seed: int
    labelled: np.ndarray
    points: list[dict[str, Any]] = field(default_factory=list)
    added: list[np.ndarray] = field(default_factory=list)
    triager_: Any = None  # the model of the last round (ranks the next batch)

    @property
    def name(self) -> str:
        return f"{self.strategy} (seed {self.seed})" if self.strategy == RANDOM else self.strategy


@dataclass
class TaskResult:
    task: str
    n_pool: int
    n_test: int
    metrics: list[str]
    full: dict[str, Any]
    curves: list[Curve]
    sizes: list[int]
    stopped_early: bool
    meta: dict[str, Any] = field(default_factory=dict)
    complete: bool = False


def task_metrics(data: TaskData) -> list[str]:
    return [F1, WERR] if data.levels is not None else [F1]


def params_for(params: Params, data: TaskData) -> Params:
    if list(params.labels.names) == data.label_names:
        return params
    raw = params.model_dump(mode="python")
    raw["labels"]["names"] = data.label_names
    return Params.model_validate(raw)


def fit_and_score(
    data: TaskData, params: Params, train_rows: np.ndarray, test_rows: np.ndarray
) -> tuple[Any, dict[str, float]]:
    """The product model trained on ``train_rows`` (its triager) and its test metrics."""
    system = OursSystem(params)
    started = time.perf_counter()
    train = data.frame.iloc[train_rows].reset_index(drop=True)
    system.fit(train, data.target[train_rows], data, 0)
    fitted = time.perf_counter()
    pred = system.predict(data.frame.iloc[test_rows].reset_index(drop=True))
    truth = data.target[test_rows]
    out = {
        F1: score("macro-F1", truth, pred.predicted, len(data.classes)),
        "fit_seconds": fitted - started,
    }
    if data.levels is not None:
        out[WERR] = urgency_weighted_error(data.levels[truth], data.levels[pred.predicted])
    return system.triager_, out


def reached(value: float, full: float, metric: str) -> bool:
    if LOWER_IS_BETTER[metric]:
        return value <= full / SHARE
    return value >= SHARE * full


def labels_needed(curve: Curve, full: dict[str, Any], metric: str) -> int | None:
    """Labelled posts at the first point that reaches 95% of the full-pool ``metric``."""
    for point in curve.points:
        if reached(point[metric], full[metric], metric):
            return int(point["n_labelled"])
    return None


@dataclass
class Options:
    tasks: Sequence[str] = DEFAULT_TASKS
    test_size: float = 0.25
    split_seed: int = 0
    start: float = 0.05
    step: float = 0.05
    max_fraction: float = 0.6
    random_seeds: Sequence[int] = (0, 1, 2)
    early_stop: bool = True
    datasets: Path | None = None
    params_dir: Path | None = None
    limit: int | None = None
    out: Path | None = Path("reports/active-learning")
    command: str | None = None


def check_options(opts: Options) -> None:
    unknown = [t for t in opts.tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}; choose from {', '.join(DEFAULT_TASKS)}")
    for name in ("test_size", "start", "step"):
        value = getattr(opts, name)
        if not 0 < value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be in (0, 1), got {value}")
    if not opts.start <= opts.max_fraction <= 1:
        raise ConfigError(
            f"--max-fraction must be between --start ({opts.start}) and 1, got {opts.max_fraction}"
        )
    if not opts.random_seeds:
        raise ConfigError("give at least one random seed, e.g. --random-seeds 0,1,2")
    if len(set(opts.random_seeds)) != len(opts.random_seeds):
        raise ConfigError(f"--random-seeds repeats a seed: {list(opts.random_seeds)}")


def run_curves(
    data: TaskData,
    params: Params,
    opts: Options,
    task: str = "task",
    on_line: Callable[[str], None] = lambda line: None,
    on_round: Callable[[TaskResult], None] = lambda result: None,
) -> TaskResult:
    """The full-pool point, then every strategy's curve, round by round (see the package doc).

    ``on_round`` gets the result so far after each round (the command writes it, so a run cut
    short keeps its finished rounds)."""
    params = params_for(params, data)
    metrics = task_metrics(data)
    pool, test = split_pool(data.target, opts.test_size, opts.split_seed)
    sizes = round_sizes(len(pool), opts.start, opts.step, opts.max_fraction)
    _, full = fit_and_score(data, params, pool, test)
    full["n_labelled"] = len(pool)
    on_line(f"{task}: pool {len(pool)}, test {len(test)}; full pool: {_fmt(full, metrics)}")

    first = {s: stratified_take(pool, data.target, sizes[0], s) for s in opts.random_seeds}
    seed0 = opts.random_seeds[0]
    curves = [Curve(RANDOM, s, first[s]) for s in opts.random_seeds]
    curves += [Curve(s, seed0, first[seed0].copy()) for s in (UNCERTAINTY, PRODUCT)]
    result = TaskResult(
        task=task,
        n_pool=len(pool),
        n_test=len(test),
        metrics=metrics,
        full=full,
        curves=curves,
        sizes=sizes,
        stopped_early=False,
        meta={"test_rows": test, "pool_rows": pool},
    )
    for r, size in enumerate(sizes):
        for c_index, curve in enumerate(curves):
            if r > 0:
                unlabelled = np.setdiff1d(pool, curve.labelled, assume_unique=True)
                k = size - len(curve.labelled)
                if curve.strategy == RANDOM:
                    order = np.random.default_rng([curve.seed, r]).permutation(unlabelled)
                else:
                    order = rank_unlabelled(
                        curve.triager_, data.frame, unlabelled, curve.strategy, seed=1000 * r
                    )
                picked = order[:k]
                curve.added.append(picked)
                curve.labelled = np.sort(np.concatenate([curve.labelled, picked]))
            curve.triager_, point = fit_and_score(data, params, curve.labelled, test)
            counts = np.bincount(data.target[curve.labelled], minlength=len(data.classes))
            point.update(
                round=r,
                n_labelled=len(curve.labelled),
                fraction=len(curve.labelled) / len(pool),
                class_counts=counts.tolist(),
            )
            curve.points.append(point)
            on_line(
                f"{task} round {r + 1}/{len(sizes)} [{c_index + 1}/{len(curves)}] "
                f"{curve.name}: {len(curve.labelled)} labels "
                f"({point['fraction']:.0%}) {_fmt(point, metrics)}"
            )
        done = r + 1 == len(sizes) or (
            opts.early_stop
            and all(labels_needed(c, full, m) is not None for c in curves for m in metrics)
        )
        result.complete = done
        if done and r + 1 < len(sizes):
            result.stopped_early = True
            on_line(f"{task}: every curve reached 95% of the full pool; stopping")
        on_round(result)
        if done:
            break
    for curve in curves:
        curve.triager_ = None
    return result


def _fmt(point: dict[str, Any], metrics: Sequence[str]) -> str:
    parts = [f"{METRIC_TITLES[m]} {point[m]:.3f}" for m in metrics]
    return ", ".join(parts) + f" (fit {point['fit_seconds']:.1f} s)"
