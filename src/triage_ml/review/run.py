"""The whole review in one call, as ``triage-ml review`` runs it: which posts to review, every
table, and the result the report renders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage_ml.contract.digest import fingerprint
from triage_ml.contract.params import Params
from triage_ml.decide.playbook import Playbook
from triage_ml.review.corrections import relabel_export
from triage_ml.review.mislabels import out_of_fold_probabilities, suspected_mislabels
from triage_ml.review.slices import slice_error_rates
from triage_ml.review.tables import (
    Progress,
    calibration_table,
    label_summary,
    pr_curves,
    prepare,
    urgency_points,
    urgency_underestimates,
    worst_errors,
)
from triage_ml.store.bundle import PARAMS_FILE, Bundle


def bundle_params(bundle: Bundle) -> Params:
    """The parameters a bundle was trained with (its ``params.yaml``), for out-of-fold folds
    that match training; defaults with the bundle's label set when it has none."""
    import yaml
    from pydantic import ValidationError

    path = bundle.path / PARAMS_FILE if bundle.path is not None else None
    if path is not None and path.is_file():
        try:
            return Params.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except ValidationError:  # written by another triage-ml version: defaults will do
            pass
    return Params.model_validate(
        {"labels": {"names": bundle.labels, "exclusive": bundle.triager.exclusive}}
    )


def review_scope(history: pd.DataFrame, params: Params, metadata: dict) -> tuple[pd.DataFrame, str]:
    """Which posts the error tables should use, and a sentence saying so.

    On the very history the model was trained on (same data fingerprint) the model's errors
    would be in-sample and flattering: review its held-out test split instead, recreated the
    way training made it. Any other labelled file is reviewed whole.
    """
    from triage_ml.model.train import split_history

    labelled = history[history["labels"].notna()].reset_index(drop=True)
    if metadata.get("data_fingerprint") == fingerprint(labelled):
        _, test, how = split_history(labelled, params)
        return test, (
            f"{len(test):,} held-out test posts of the training history ({how}); the model "
            f"never saw them"
        )
    return labelled, f"all {len(labelled):,} labelled posts of the file"


@dataclass
class ReviewResult:
    """Every table of a review, as ``triage-ml review`` writes them and the report shows them."""

    model_version: str
    scope: str
    labels: list[str]
    summary: pd.DataFrame
    worst_errors: pd.DataFrame
    slices: pd.DataFrame
    suspected_mislabels: pd.DataFrame
    urgency_underestimates: pd.DataFrame
    relabel: pd.DataFrame
    pr_curves: pd.DataFrame
    calibration: pd.DataFrame
    urgency_points: pd.DataFrame
    n_reviewed: int
    n_history: int
    error_rate: float
    cleanlab_issues: int

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables worth a CSV file each, by file stem."""
        return {
            "label_summary": self.summary,
            "worst_errors": self.worst_errors,
            "slice_errors": self.slices,
            "suspected_mislabels": self.suspected_mislabels,
            "urgency_underestimates": self.urgency_underestimates,
            "relabel": self.relabel,
        }


def run_review(
    bundle: Bundle,
    history: pd.DataFrame,
    params: Params | None = None,
    top: int = 25,
    playbook: Playbook | None = None,
    progress: Progress = lambda _: None,
    proba: np.ndarray | None = None,
) -> ReviewResult:
    """The whole review of a canonical labelled history: error tables on the posts chosen by
    :func:`review_scope`, suspected mislabels on every labelled row (out-of-fold).

    ``proba`` reuses out-of-fold probabilities already computed for ``history``
    (:func:`out_of_fold_probabilities`), the slow part.
    """
    params = params or bundle_params(bundle)
    history = history[history["labels"].notna()].reset_index(drop=True)
    reviewed, scope = review_scope(history, params, bundle.metadata)
    progress("scoring")
    data = prepare(bundle, reviewed, playbook)
    errors = worst_errors(data, top=top)
    urgency = urgency_underestimates(data, top=top)
    progress("out-of-fold scores")
    if proba is None:
        proba = out_of_fold_probabilities(bundle.triager, history, params, progress)
    suspects_all = suspected_mislabels(history, proba, bundle.triager, top=None)
    suspects = suspects_all.head(top).reset_index(drop=True)
    return ReviewResult(
        model_version=bundle.model_version,
        scope=scope,
        labels=data.labels,
        summary=label_summary(data),
        worst_errors=errors,
        slices=slice_error_rates(data),
        suspected_mislabels=suspects,
        urgency_underestimates=urgency,
        relabel=relabel_export(history, suspects, errors, urgency),
        pr_curves=pr_curves(data),
        calibration=calibration_table(data),
        urgency_points=urgency_points(data),
        n_reviewed=len(data.frame),
        n_history=len(history),
        error_rate=float(data.wrong.any(axis=1).mean()),
        cleanlab_issues=int(suspects_all["cleanlab_issue"].sum()),
    )
