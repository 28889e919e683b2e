"""Active-learning curves on a tiny synthetic task: the protocol's bookkeeping and choices.

The real data sets are never read here; the figures of docs/feedback.md come from
``python -m benchmarks.active_learning``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import active_learning as al
from benchmarks.quality import TaskData
from triage_ml.contract import Params, validate_posts
from triage_ml.synthetic import generate_sample


@pytest.fixture(scope="module")
def task() -> tuple[TaskData, Params]:
    """Complaint or not on 200 synthetic posts, in the shape of the twitter-complaints task."""
    raw = generate_sample(200, seed=5)
    is_complaint = raw["labels"].fillna("").str.contains("complaint").to_numpy()
    raw = raw.assign(labels=np.where(is_complaint, "complaint", ""), urgency=np.nan)
    frame, _ = validate_posts(raw, label_set=["complaint"], require_labels=True)
    data = TaskData(
        frame=frame,
        target=is_complaint.astype(int),
        classes=["not-complaint", "complaint"],
        label_names=["complaint"],
        exclusive=False,
    )
    params = Params.model_validate(
        {"labels": {"names": ["complaint"]}, "train": {"calibration": {"cv": 3}}}
    )
    return data, params


@pytest.fixture(scope="module")
def result(task) -> al.TaskResult:
    data, params = task
    opts = al.Options(
        start=0.2, step=0.2, max_fraction=0.4, random_seeds=(0, 1), early_stop=False, out=None
    )
    return al.run_curves(data, params, opts, task="synthetic")


def test_pool_and_test_are_apart_and_the_labelled_set_grows_by_one_step(task, result) -> None:
    data, _ = task
    test, pool = result.meta["test_rows"], result.meta["pool_rows"]
    assert len(test) == 50 and len(pool) == 150 and not np.intersect1d(test, pool).size
    assert abs(data.target[test].mean() - data.target.mean()) < 0.03  # stratified
    assert result.sizes == [30, 60]
    assert [c.name for c in result.curves] == [
        "random (seed 0)",
        "random (seed 1)",
        "uncertainty",
        "uncertainty-x-urgency",
    ]
    for curve in result.curves:
        assert [p["n_labelled"] for p in curve.points] == [30, 60]
        assert len(curve.added) == 1 and len(curve.added[0]) == 30
        assert len(np.unique(curve.labelled)) == 60
        assert np.isin(curve.labelled, pool).all()
        assert not np.isin(curve.labelled, test).any()
        assert sum(curve.points[-1]["class_counts"]) == 60
        assert 0 <= curve.points[-1]["macro_f1"] <= 1


def test_random_seeds_differ_and_ranked_curves_start_from_the_first_seed(result) -> None:
    r0, r1, unc, prod = result.curves
    first = {c.name: np.setdiff1d(c.labelled, c.added[0]) for c in result.curves}
    assert not np.array_equal(first[r0.name], first[r1.name])
    assert not np.array_equal(r0.added[0], r1.added[0])
    assert np.array_equal(first[unc.name], first[r0.name])
    assert np.array_equal(first[prod.name], first[r0.name])
    assert unc.points[0]["macro_f1"] == r0.points[0]["macro_f1"]  # same labels, same model


def test_ranked_strategies_pick_what_suggest_ranks_first(task, result) -> None:
    from triage_ml.decide import load_playbook
    from triage_ml.monitor import suggest
    from triage_ml.store import Bundle

    data, params = task
    r0, _, unc, prod = result.curves
    start = np.setdiff1d(r0.labelled, r0.added[0])
    triager, _ = al.fit_and_score(data, params, start, result.meta["test_rows"])
    unlabelled = np.setdiff1d(result.meta["pool_rows"], start)
    posts = data.frame.iloc[unlabelled].assign(id=[str(i) for i in unlabelled])
    ranked = suggest(Bundle(triager, load_playbook(), {}), posts, n=len(posts))
    ranked = ranked.set_index(ranked["id"].astype(int))
    for curve, column in ((unc, "uncertainty"), (prod, "priority")):
        picked = ranked.loc[curve.added[0], column]
        rest = ranked.drop(index=curve.added[0])[column]
        assert picked.min() >= rest.max(), column
    # the random picks are not the most uncertain ones
    assert (
        ranked.loc[r0.added[0], "uncertainty"].mean()
        < ranked.loc[unc.added[0], "uncertainty"].mean()
    )


def test_urgency_weighted_error_costs_more_on_severe_posts() -> None:
    assert al.urgency_weighted_error(np.array([1, 4]), np.array([1, 4])) == 0
    mild_miss = al.urgency_weighted_error(np.array([1, 4]), np.array([2, 4]))
    severe_miss = al.urgency_weighted_error(np.array([1, 4]), np.array([1, 3]))
    assert mild_miss == pytest.approx(1 / 5) and severe_miss == pytest.approx(4 / 5)
    assert al.urgency_weighted_error(np.array([2, 2]), np.array([4, 4])) == 2


def test_labels_needed_reads_the_first_point_within_95_percent(result) -> None:
    curve = al.Curve("random", 0, np.array([], dtype=int))
    curve.points = [{"n_labelled": 10, "macro_f1": 0.5, "weighted_error": 2.0}]
    curve.points.append({"n_labelled": 20, "macro_f1": 0.77, "weighted_error": 1.04})
    full = {"macro_f1": 0.8, "weighted_error": 1.0}
    assert al.labels_needed(curve, full, "macro_f1") == 20
    assert al.labels_needed(curve, full, "weighted_error") == 20
    assert al.labels_needed(curve, {"macro_f1": 0.9}, "macro_f1") is None


def test_results_round_trip_and_render(result, tmp_path) -> None:
    opts = al.Options(random_seeds=(0, 1))
    body = json.loads(json.dumps(al.to_json(result, opts, Params()), default=al.json_default))
    back = al.from_json(body)
    assert [len(c.points) for c in back.curves] == [2, 2, 2, 2]
    (tmp_path / "synthetic.json").write_text(json.dumps(body), encoding="utf-8")
    al.render(tmp_path, ["synthetic"])
    table = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "random (mean of 2 seeds)" in table and "uncertainty-x-urgency" in table
    assert (tmp_path / "curves.png").stat().st_size > 1000
    csv = pd.read_csv(tmp_path / "curves.csv")
    assert set(csv["strategy"]) == {*al.STRATEGIES, "full-pool"}


def test_options_are_checked(tmp_path, capsys) -> None:
    assert al.main(["--tasks", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert al.main(["--max-fraction", "0.01", "--out", str(tmp_path)]) == 2
    assert al.main(["--render", "--out", str(tmp_path)]) == 2
    assert "no <task>.json" in capsys.readouterr().err
    assert al.round_sizes(100, 0.05, 0.05, 0.2) == [5, 10, 15, 20]
