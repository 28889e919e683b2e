"""Export for relabelling -> import of corrections: a round trip that loses nothing, and
errors that name the problem."""

from __future__ import annotations

import pandas as pd
import pytest

from triage_ml.contract.errors import DataError
from triage_ml.contract.readers import read_table
from triage_ml.contract.tables import write_table
from triage_ml.contract.validation import validate_posts
from triage_ml.review import corrections as review


@pytest.fixture()
def raw_history(tmp_path, sample_history):
    """The history as a user's file holds it (not canonical), read back from CSV."""
    path = tmp_path / "history.csv"
    write_table(sample_history.head(400), path)
    return read_table(path)


def _export(raw_history, data_ids: list[str]):
    canonical, _ = validate_posts(
        raw_history, label_set=["complaint", "sales_lead", "product_review", "influencer"]
    )
    return review.relabel_export(canonical, ids=data_ids)


LABELS = ["complaint", "sales_lead", "product_review", "influencer"]


def test_export_import_round_trip_loses_nothing(tmp_path, raw_history):
    ids = raw_history["id"].iloc[[3, 10, 50, 77, 120, 300]].tolist()
    sheet = _export(raw_history, ids)
    assert list(sheet.columns) == review.EXPORT_COLUMNS
    assert list(sheet["id"]) == ids
    assert (sheet["corrected_labels"] == sheet["labels"]).all()
    path = tmp_path / "relabel.csv"
    write_table(sheet, path)

    # untouched export: nothing changes
    unchanged = review.import_corrections(raw_history, review.read_corrections(path), LABELS)
    assert unchanged.changes.empty and unchanged.by_label[["added", "removed"]].eq(0).all().all()
    pd.testing.assert_frame_equal(unchanged.history, raw_history)

    # a person edits three rows (one to "no label") and one urgency, and drops a row
    edited = review.read_corrections(path)
    edited = edited[edited["id"] != ids[-1]].reset_index(drop=True)
    before = dict(zip(raw_history["id"], raw_history["labels"].fillna(""), strict=True))
    targets = {ids[0]: "complaint;influencer", ids[1]: "", ids[2]: "sales_lead"}
    targets = {i: v for i, v in targets.items() if set(v.split(";")) != set(before[i].split(";"))}
    for post_id, value in targets.items():
        edited.loc[edited["id"] == post_id, "corrected_labels"] = value
    edited.loc[edited["id"] == ids[3], "corrected_urgency"] = "0.95"
    result = review.import_corrections(raw_history, edited, LABELS, source=str(path))

    assert result.rows_in_file == len(ids) - 1
    assert set(result.changes["id"]) == set(targets) | {ids[3]}
    updated = result.history
    assert list(updated.columns) == list(raw_history.columns)
    assert list(updated["id"]) == list(raw_history["id"])
    untouched = ~updated["id"].isin(result.changes["id"])
    pd.testing.assert_frame_equal(
        updated[untouched].reset_index(drop=True),
        raw_history[untouched].reset_index(drop=True),
        check_dtype=False,
    )
    by_id = updated.set_index("id")
    for post_id, value in targets.items():
        assert set(filter(None, str(by_id.loc[post_id, "labels"]).split(";"))) == set(
            filter(None, value.split(";"))
        )
    assert float(by_id.loc[ids[3], "urgency"]) == pytest.approx(0.95)

    # the change record counts every label added and removed
    added = result.changes["added"].str.split(";").explode()
    removed = result.changes["removed"].str.split(";").explode()
    for row in result.by_label.itertuples(index=False):
        assert row.added == int((added == row.label).sum())
        assert row.removed == int((removed == row.label).sum())
        assert row.net == row.added - row.removed
    assert "posts changed" in result.summary()

    # the updated history is still a valid history once written and read back
    out = tmp_path / "history_corrected.csv"
    write_table(updated, out)
    reread, _ = validate_posts(read_table(out), label_set=LABELS, require_labels=True)
    assert len(reread) == len(raw_history)
    assert reread.set_index("id").loc[ids[1], "labels"] == targets.get(
        ids[1], reread.set_index("id").loc[ids[1], "labels"]
    )


def test_import_keeps_urgency_names(raw_history):
    """A history that writes urgency as names gets names back (names and numbers never mix)."""
    levels = {0.0: "low", 0.33: "medium", 0.67: "high", 1.0: "critical"}
    named = raw_history.assign(
        urgency=raw_history["urgency"].map(
            lambda u: None if pd.isna(u) else levels[min(levels, key=lambda x: abs(x - u))]
        )
    )
    post_id = named.loc[named["urgency"] == "low", "id"].iloc[0]
    fix = pd.DataFrame({"id": [post_id], "corrected_urgency": ["critical"]})
    result = review.import_corrections(named, fix, LABELS)
    assert result.history.set_index("id").loc[post_id, "urgency"] == "critical"
    assert result.changes[["urgency_before", "urgency_after"]].iloc[0].tolist() == [0.0, 1.0]
    bad = pd.DataFrame({"id": [post_id], "corrected_urgency": ["0.5"]})
    with pytest.raises(DataError, match="names"):
        review.import_corrections(named, bad, LABELS)


@pytest.mark.parametrize(
    ("corrections", "message"),
    [
        ({"id": ["nope-1"], "corrected_labels": ["complaint"]}, "not in the history"),
        ({"id": ["s-000001"], "corrected_labels": ["refund"]}, "declared labels are complaint"),
        ({"id": ["s-000001", "s-000001"], "corrected_labels": ["", ""]}, "(?i)duplicate"),
        ({"corrected_labels": ["complaint"]}, "'id' column"),
        ({"id": ["s-000001"], "note": ["x"]}, "nothing to import"),
        ({"id": ["s-000001"], "corrected_urgency": ["7"]}, "urgency"),
    ],
)
def test_import_errors_name_the_problem(raw_history, corrections, message):
    with pytest.raises(DataError, match=message):
        review.import_corrections(raw_history, pd.DataFrame(corrections), LABELS)


def test_missing_cells_keep_the_recorded_value(raw_history):
    post_id = raw_history["id"].iloc[0]
    fix = pd.DataFrame({"id": [post_id], "corrected_labels": [None], "corrected_urgency": [None]})
    result = review.import_corrections(raw_history, fix, LABELS)
    assert result.changes.empty
    pd.testing.assert_frame_equal(result.history, raw_history)
