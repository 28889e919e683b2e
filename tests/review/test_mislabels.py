"""Suspected mislabelled rows: a planted error is found; too rare a label is a clear error."""

from __future__ import annotations

import numpy as np
import pytest

from triage_ml.contract.errors import DataError
from triage_ml.contract.validation import validate_posts
from triage_ml.review.mislabels import out_of_fold_probabilities, suspected_mislabels


@pytest.fixture(scope="module")
def clean_history(params):
    """300 generated posts whose labels were not corrupted, so a planted error stands alone."""
    from triage_ml.synthetic.generator import generate_sample

    raw, noise = generate_sample(420, seed=11, return_noise_mask=True)
    raw = raw[~noise.to_numpy()].head(300).reset_index(drop=True)
    frame, _ = validate_posts(raw, label_set=params.labels.names, require_labels=True)
    return frame


def test_planted_mislabel_ranks_in_top_5(triager, params, clean_history):
    """An unmistakable complaint recorded as a product review is among the first five."""
    clear_label, recorded_as = "complaint", "product_review"
    assert len(clean_history) >= 200
    proba = triager.predict_proba(clean_history)
    k = triager.labels.index(clear_label)
    others = np.delete(proba, k, axis=1)
    clear = (clean_history["labels"] == clear_label).to_numpy() & (proba[:, k] > 0.9)
    clear &= (others < 0.2).all(axis=1)
    assert clear.any(), f"no unambiguous {clear_label} post to plant"
    planted = int(np.flatnonzero(clear)[0])
    history = clean_history.copy()
    history.loc[planted, "labels"] = recorded_as
    planted_id = history.loc[planted, "id"]

    oof = out_of_fold_probabilities(triager, history, params)
    suspects = suspected_mislabels(history, oof, triager, top=None)
    assert len(suspects) == len(history)
    rank = int(suspects.index[suspects["id"] == planted_id][0]) + 1
    assert rank <= 5, suspects.head(8)[["id", "labels", "disputed", "label_quality"]]
    row = suspects[suspects["id"] == planted_id].iloc[0]
    assert row["cleanlab_issue"]
    assert row["disputed"].startswith(recorded_as)


def test_out_of_fold_needs_examples_of_every_label(triager, params, clean_history):
    history = clean_history.assign(labels=clean_history["labels"].str.replace("influencer", ""))
    history["labels"] = history["labels"].str.strip(";").str.replace(";;", ";")
    with pytest.raises(DataError, match="influencer"):
        out_of_fold_probabilities(triager, history, params)
