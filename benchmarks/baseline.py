"""The plain baseline every triage-ml model is compared with, exactly as DESIGN.md states it.

    .venv/bin/python -m benchmarks.baseline [--datasets ../shared/datasets] [--seed 0]

Features: word 1-2 grams and char_wb 2-5 grams (min_df 2), both TF-IDF with sublinear tf.
twitter-complaints and severity (complaints only, 4 levels): logistic regression (C=4,
balanced classes), out-of-fold predictions of a stratified, shuffled 10-fold split, macro-F1
over the pooled predictions. banking77: LinearSVC (C=1) on the official train/test split,
accuracy. With seed 0 it prints 0.832 / 0.912 / 0.404, the figures the design brief quotes.
The data loaders and the model are the quality harness's own (benchmarks/quality/tasks.py and
systems.py), so the harness's "baseline" column is this very model on the same rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from benchmarks.quality.systems import baseline_pipeline


def cv_macro_f1(texts: list[str], y: np.ndarray, seed: int) -> float:
    folds = StratifiedKFold(10, shuffle=True, random_state=seed)
    predicted = cross_val_predict(baseline_pipeline(), texts, y, cv=folds)
    return float(f1_score(y, predicted, average="macro"))


def split_accuracy(train: list[str], y_train, test: list[str], y_test) -> float:
    model = baseline_pipeline(official_split=True).fit(train, y_train)
    return float(accuracy_score(y_test, model.predict(test)))


def main(argv: list[str] | None = None) -> int:
    from benchmarks import quality

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=Path, default=None, help="default: ../shared/datasets")
    ap.add_argument("--seed", type=int, default=0, help="CV seed (the brief's figures: 0)")
    args = ap.parse_args(argv)
    root = args.datasets or quality.default_datasets_dir()
    for name, spec in quality.TASKS.items():
        if spec.missing(root):
            print(f"{name}: skipped, data set not found under {root}")
            continue
        frame, target, _, extra = spec.loader(root / spec.dataset)
        texts = frame["text"].astype(str).tolist()
        if "test_mask" in extra:
            test = extra["test_mask"]
            train_t = [t for t, m in zip(texts, test, strict=True) if not m]
            test_t = [t for t, m in zip(texts, test, strict=True) if m]
            value = split_accuracy(train_t, target[~test], test_t, target[test])
            print(f"{name}: accuracy {value:.3f} (official train/test split)")
        else:
            value = cv_macro_f1(texts, target, args.seed)
            print(f"{name}: macro-F1 {value:.3f} (10-fold CV, seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
