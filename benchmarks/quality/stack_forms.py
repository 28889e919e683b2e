"""Stack forms for an exclusive label set, compared on the same fitted encoder stacks.

    .venv/bin/python -m benchmarks.quality.stack_forms --task severity --seeds 0,4 --folds 5

The product's exclusive stack is ``softmax(a * linear + b * encoder)`` with two weights
(:mod:`triage_ml.model.stack`), fitted on the encoder's held-out share of the training posts.
This selection tool asks whether a richer form would do better: per-class biases, the encoder's
urgency head as an input with one weight per class, one (a, b) pair per class. Each fold fits
the encoder stack once (``train.model: encoder``, the task's committed params), records the
held-out logits the product's stack was fitted on, fits every form on them (class-balanced
log-loss, as the product's stack under ``class_weight: balanced``, which severity's params
set), and scores each on the fold's test posts. Every form is thus
compared on the same encoder and the same held-out posts: the differences are the forms'.

Like ``benchmarks.quality.ablation`` it selects: run it on tuning seeds (0, 4), never on a
scored seed. Writes ``stack-forms-<task>.json`` (each fold's score per form).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax

from benchmarks.quality.harness import score, spearman
from benchmarks.quality.systems import OursSystem, encoder_params
from benchmarks.quality.tasks import TASKS, default_datasets_dir, load_task, make_folds, task_params
from triage_ml.model import fit_stack, fit_urgency_blend

#: where ``fit`` looks the two up when it fits an encoder stack: patched there (by name, so a
#: move of the module fails loudly) to record what the product's stack was fitted on
_FIT_STACK = "triage_ml.model.stack.fit_stack"
_FIT_BLEND = "triage_ml.model.stack.fit_urgency_blend"


@dataclass(frozen=True)
class Form:
    """Which parameters an exclusive stack has beyond the product's two weights."""

    per_class_weights: bool = False  # one (a, b) pair per class instead of one pair
    bias: bool = False  # one bias per class
    urgency: bool = False  # the encoder's urgency head times one weight per class


FORMS: dict[str, Form] = {
    "product (a, b)": Form(),
    "+ class biases": Form(bias=True),
    "+ urgency input": Form(urgency=True),
    "+ biases + urgency": Form(bias=True, urgency=True),
    "per-class (a, b)": Form(per_class_weights=True),
    "per-class (a, b) + biases": Form(per_class_weights=True, bias=True),
}
PRODUCT = "product (a, b)"


def fit_form(
    form: Form,
    lin: np.ndarray,
    enc: np.ndarray,
    urgency: np.ndarray,
    y: np.ndarray,
    penalty: float = 1e-2,
):
    """Fit ``form`` by class-balanced log-loss; returns ``(lin, enc, urgency) -> logits``.

    The weights on the two models stay non-negative with the product's tiny L2 (1e-4), so
    ``Form()`` is the product's :func:`~triage_ml.model.stack.fit_stack` exactly; biases and
    urgency weights get ``penalty``."""
    k = lin.shape[1]
    rows = np.arange(len(y))
    counts = np.bincount(y, minlength=k).astype(np.float64)
    weight = 1.0 / counts[y]
    weight /= weight.sum()
    n_ab = 2 * k if form.per_class_weights else 2
    n_extra = k * (int(form.bias) + int(form.urgency))

    def logits(w: np.ndarray, lin, enc, urgency) -> np.ndarray:
        a, b = (w[:k], w[k : 2 * k]) if form.per_class_weights else (w[0], w[1])
        z = a * lin + b * enc
        rest = w[n_ab:]
        if form.bias:
            z = z + rest[:k]
            rest = rest[k:]
        if form.urgency:
            z = z + np.outer(urgency, rest[:k])
        return z

    def loss(w: np.ndarray) -> float:
        logp = log_softmax(logits(w, lin, enc, urgency), axis=1)
        ab, extra = w[:n_ab], w[n_ab:]
        return (
            -float(logp[rows, y] @ weight) + 1e-4 * float(ab @ ab) + penalty * float(extra @ extra)
        )

    x0 = np.concatenate([np.full(n_ab, 0.5), np.zeros(n_extra)])
    bounds = [(0.0, None)] * n_ab + [(None, None)] * n_extra
    w = minimize(loss, x0, method="L-BFGS-B", bounds=bounds).x
    return lambda lin, enc, urgency: logits(w, lin, enc, urgency)


def run(task: str, seeds: list[int], folds: int, datasets: Path | None = None) -> dict:
    spec = TASKS[task]
    params = encoder_params(task_params(task))
    data = load_task(spec, datasets or default_datasets_dir(), params)
    if not data.exclusive or data.test_mask is not None:
        raise SystemExit(f"{task}: this tool compares exclusive stacks on CV folds (severity)")
    if params.train.classifier.class_weight != "balanced":
        raise SystemExit(
            f"{task}: the forms are fitted class-balanced, as the product's stack is only under "
            "train.classifier.class_weight: balanced"
        )
    scores: dict[str, list[float]] = {name: [] for name in FORMS}
    scores["encoder alone"] = []
    ranks: dict[str, list[float]] = {name: [] for name in FORMS}
    for seed in seeds:
        for fold, (train_idx, test_idx) in enumerate(make_folds(data, folds, seed), start=1):
            started = time.perf_counter()
            system = OursSystem(params)
            train = data.frame.iloc[train_idx].reset_index(drop=True)
            test = data.frame.iloc[test_idx].reset_index(drop=True)
            with (
                mock.patch(_FIT_STACK, wraps=fit_stack) as st,
                mock.patch(_FIT_BLEND, wraps=fit_urgency_blend) as blend,
            ):
                system.fit(train, data.target[train_idx], data, seed)
            lin_h, enc_h, Y_h = (np.asarray(a, dtype=np.float64) for a in st.call_args.args[:3])
            y_h = Y_h.argmax(axis=1)
            # the encoder's urgency on the held-out posts (every severity post has a level)
            urg_h = np.asarray(blend.call_args.args[1]) if blend.called else np.zeros(len(y_h))
            if len(urg_h) != len(y_h):
                raise SystemExit("the held-out posts' urgency does not cover every post")
            triager = system.triager_
            lin_t = triager.decision(triager.transform(test))
            enc_t, urg_t = triager.encoder_logits(test)
            truth = data.target[test_idx]
            for name, form in FORMS.items():
                z = fit_form(form, lin_h, enc_h, urg_h, y_h)(lin_t, enc_t, urg_t)
                scores[name].append(score(spec.metric, truth, z.argmax(axis=1), len(data.classes)))
                if data.levels is not None:
                    proba = np.exp(log_softmax(z, axis=1))
                    ranks[name].append(spearman(data.levels[truth], proba @ data.levels))
            scores["encoder alone"].append(
                score(spec.metric, truth, enc_t.argmax(axis=1), len(data.classes))
            )
            line = "  ".join(f"{n} {v[-1]:.4f}" for n, v in scores.items())
            took = time.perf_counter() - started
            print(
                f"seed {seed} fold {fold}/{folds} ({took:.0f} s, {len(y_h)} held out): {line}",
                flush=True,
            )
    per_seed = {
        name: [float(np.mean(v[i * folds : (i + 1) * folds])) for i in range(len(seeds))]
        for name, v in scores.items()
    }
    return {
        "task": task,
        "seeds": seeds,
        "folds": folds,
        "metric": spec.metric,
        "folds_scores": scores,
        "per_seed": per_seed,
        "mean": {name: float(np.mean(v)) for name, v in scores.items()},
        "spearman_expected_level": {name: float(np.mean(v)) for name, v in ranks.items() if v},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="severity", choices=sorted(TASKS))
    ap.add_argument("--seeds", default="0,4", help="tuning seeds, comma-separated")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("reports/stack-forms"))
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    result = run(args.task, seeds, args.folds, args.datasets)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"stack-forms-{args.task}.json"
    path.write_text(json.dumps(result, indent=2))
    product = result["mean"][PRODUCT]
    print(f"\n{args.task}, {args.folds}-fold CV, seeds {args.seeds}: {result['metric']}")
    for name, mean in result["mean"].items():
        seeds_txt = " / ".join(f"{v:.4f}" for v in result["per_seed"][name])
        rank = result["spearman_expected_level"].get(name)
        extra = f"  Spearman {rank:.4f}" if rank is not None else ""
        print(f"  {name:<28} {mean:.4f} ({seeds_txt})  {mean - product:+.4f}{extra}")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
