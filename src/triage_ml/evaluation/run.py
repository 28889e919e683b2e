"""Training as a run: read the history, split, fit, evaluate on held-out posts, write the bundle.

Shared by ``triage-ml train`` and the DVC ``train`` stage. The modelling itself is the pure
:func:`triage_ml.model.train.fit`; this module is where files are read and written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage_ml.contract.digest import fingerprint
from triage_ml.contract.errors import LoadReport
from triage_ml.contract.params import Params
from triage_ml.contract.validation import load_history
from triage_ml.decide.playbook import Playbook, load_playbook
from triage_ml.decide.scoring import Predictions, score_posts
from triage_ml.evaluation.metrics import evaluate, summary_rows
from triage_ml.evaluation.plots import write_plots
from triage_ml.model.train import fit, split_history
from triage_ml.model.triager import Triager
from triage_ml.monitor.signals import reference_profile, time_range
from triage_ml.store.bundle import Bundle, save_bundle


@dataclass
class TrainingResult:
    triager: Triager
    playbook: Playbook
    metrics: dict
    report: LoadReport
    split_how: str
    n_train: int
    n_test: int
    training_seconds: float
    data_fingerprint: str
    test: pd.DataFrame
    test_predictions: Predictions
    bundle_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    data_source: str = ""
    n_feedback: int = 0
    """Training rows whose labels or urgency came from agents' corrections."""

    def summary_rows(self) -> list[tuple[str, str]]:
        return summary_rows(self.metrics)

    def write_plots(self, out_dir: str | Path) -> list[Path]:
        return write_plots(self.test_predictions, self.test, out_dir)


def train_and_evaluate(
    frame: pd.DataFrame,
    params: Params,
    playbook: Playbook,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[Triager, dict, pd.DataFrame, Predictions, str, float]:
    """Split a validated history, fit on the older part, evaluate on the held-out part."""
    train, test, how = split_history(frame, params)
    started = time.perf_counter()
    triager = fit(train, params, progress)
    seconds = time.perf_counter() - started
    progress("evaluating on held-out posts")
    preds = score_posts(Bundle(triager, playbook, {}), test, validated=True)
    return triager, evaluate(preds, test), test, preds, how, seconds


def run_training(
    data: str | Path | Sequence[str | Path],
    params: Params,
    out: str | Path,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainingResult:
    """Read, train, evaluate and write the bundle to ``out`` (atomically).

    ``data`` is one labelled history, or several files: histories and corrections exports
    (:func:`triage_ml.feedback.merge_training_data`; the corrections win).
    """
    progress("reading history")
    paths = [data] if isinstance(data, str | Path) else list(data)
    feedback: dict | None = None
    if len(paths) == 1:
        source = str(paths[0])
        frame, report = load_history(
            paths[0],
            label_set=list(params.labels.names),
            exclusive=params.labels.exclusive,
            require_labels=True,
            min_examples=params.train.min_examples,
        )
        from_feedback = added = np.zeros(len(frame), dtype=bool)
    else:
        from triage_ml.feedback.merge import merge_training_data

        merged = merge_training_data(
            paths,
            label_set=list(params.labels.names),
            exclusive=params.labels.exclusive,
            min_examples=params.train.min_examples,
        )
        frame, report, source = merged.frame, merged.report, merged.source
        from_feedback, added = merged.from_feedback, merged.added
        feedback = {"histories": merged.histories, "corrections": merged.corrections}
    notes = []
    unlabelled = frame["labels"].isna()
    if unlabelled.any():
        notes.append(f"{int(unlabelled.sum())} posts without a labels value were not used")
        frame = frame[~unlabelled].reset_index(drop=True)
        kept = ~unlabelled.to_numpy()
        from_feedback, added = from_feedback[kept], added[kept]
    n_feedback = int(from_feedback.sum())
    if feedback is not None:
        feedback.update(rows=n_feedback, new_posts=int(added.sum()))
        feedback["history_rows_corrected"] = n_feedback - feedback["new_posts"]
    playbook = load_playbook(params.train.playbook)
    unknown = playbook.unknown_labels(list(params.labels.names))
    if unknown:
        notes.append(f"the playbook names labels this model does not predict: {unknown}")
    for reason, count in report.skipped.items():
        notes.append(f"{count} posts: {reason}")
    triager, metrics, test, preds, how, seconds = train_and_evaluate(
        frame, params, playbook, progress
    )
    digest = fingerprint(frame)
    progress("recording reference statistics for drift checks")
    reference = reference_profile(triager, frame, test, preds)
    progress("writing bundle")
    path = save_bundle(
        out,
        triager,
        playbook,
        params.model_dump(mode="json"),
        extra_metadata={
            "data_fingerprint": digest,
            "data_source": source,
            "n_feedback": n_feedback,
            **({"feedback": feedback} if feedback is not None else {}),
            "n_train": len(frame) - len(test),
            "n_test": len(test),
            "split": how,
            "metrics": metrics,
            "training_seconds": round(seconds, 2),
            "train_scale": getattr(triager, "scale_", None),
            "data_time_range": time_range(frame),
            "reference": reference,
        },
    )
    return TrainingResult(
        triager=triager,
        playbook=playbook,
        metrics=metrics,
        report=report,
        split_how=how,
        n_train=len(frame) - len(test),
        n_test=len(test),
        training_seconds=seconds,
        data_fingerprint=digest,
        test=test,
        test_predictions=preds,
        bundle_path=path,
        notes=notes,
        data_source=source,
        n_feedback=n_feedback,
    )
