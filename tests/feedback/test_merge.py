"""Histories and corrections merged for training: the corrections win, field by field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract import DataError
from triage_ml.feedback import merge_training_data

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]


def history(n: int = 40) -> pd.DataFrame:
    labels = ["complaint", "sales_lead", "product_review", "complaint;influencer"]
    return pd.DataFrame(
        {
            "id": [f"h-{i}" for i in range(n)],
            "text": [f"post {i} about my order" for i in range(n)],
            "created_at": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC").astype(str),
            "labels": [labels[i % 4] for i in range(n)],
            "urgency": [round((i % 10) / 10, 1) for i in range(n)],
        }
    )


def corrections(rows: list[dict]) -> pd.DataFrame:
    base = {
        "text": "a corrected post",
        "reviewer": "agent-1",
        "corrected_at": "2026-11-22T10:00:00Z",
        "model_version": "triage (sha256:abc)",
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_corrections_win_over_the_history_field_by_field(tmp_path: Path) -> None:
    hist = write(history(), tmp_path / "history.csv")
    fixes = write(
        corrections(
            [
                {
                    "id": "h-0",
                    "labels": "sales_lead",
                    "urgency": 0.9,
                    "corrected_fields": "labels;urgency",
                },
                {"id": "h-1", "labels": "", "urgency": np.nan, "corrected_fields": "labels"},
                # urgency only: in a CSV the empty labels cell must not erase h-2's labels
                {"id": "h-2", "labels": "", "urgency": 1.0, "corrected_fields": "urgency"},
                {
                    "id": "new-1",
                    "labels": "complaint",
                    "urgency": np.nan,
                    "corrected_fields": "labels",
                },
                {"id": "new-2", "labels": "", "urgency": 0.5, "corrected_fields": "urgency"},
            ]
        ),
        tmp_path / "corrections.csv",
    )
    # corrections win whatever the order on the command line
    for paths in ([hist, fixes], [fixes, hist]):
        data = merge_training_data(paths, label_set=LABELS, min_examples=1)
        frame = data.frame.set_index("id")
        assert frame.loc["h-0", "labels"] == "sales_lead" and frame.loc["h-0", "urgency"] == 0.9
        assert frame.loc["h-1", "labels"] == "" and frame.loc["h-1", "urgency"] == 0.1
        assert frame.loc["h-2", "labels"] == "product_review" and frame.loc["h-2", "urgency"] == 1
        assert frame.loc["h-3", "labels"] == "complaint;influencer"  # untouched
        assert frame.loc["h-3", "text"] == "post 3 about my order"
        assert frame.loc["new-1", "labels"] == "complaint" and np.isnan(
            frame.loc["new-1", "urgency"]
        )
        assert frame.loc["new-2", "labels"] is None  # unlabelled: not used to learn labels
        assert len(frame) == 42
        assert int(data.from_feedback.sum()) == 5 and int(data.added.sum()) == 2
        assert data.histories == [str(hist)] and data.corrections == [str(fixes)]


def test_a_later_corrections_file_wins_over_an_earlier_one(tmp_path: Path) -> None:
    hist = write(history(), tmp_path / "history.csv")
    old = write(corrections([{"id": "h-0", "labels": "sales_lead"}]), tmp_path / "old.csv")
    new = write(corrections([{"id": "h-0", "labels": "influencer"}]), tmp_path / "new.csv")
    data = merge_training_data([hist, old, new], label_set=LABELS, min_examples=1)
    assert data.frame.set_index("id").loc["h-0", "labels"] == "influencer"
    assert int(data.from_feedback.sum()) == 1


def test_a_post_in_two_histories_is_an_error_naming_both(tmp_path: Path) -> None:
    a = write(history(), tmp_path / "a.csv")
    b = write(history(5), tmp_path / "b.csv")
    with pytest.raises(
        DataError, match=r"post id 'h-0' is in several histories \(.*a.csv, .*b.csv"
    ):
        merge_training_data([a, b], label_set=LABELS, min_examples=1)


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"id": "h-0", "labels": "refund"}, "corrections.csv, column 'labels', row 1"),
        ({"id": "h-0", "labels": "complaint", "corrected_fields": "text"}, "corrected_fields must"),
    ],
)
def test_bad_corrections_files_name_the_file_and_row(tmp_path: Path, row, words) -> None:
    hist = write(history(), tmp_path / "history.csv")
    fixes = write(corrections([row]), tmp_path / "corrections.csv")
    with pytest.raises(DataError) as caught:
        merge_training_data([hist, fixes], label_set=LABELS, min_examples=1)
    assert words in str(caught.value)


def test_too_few_examples_are_judged_on_the_merged_data(tmp_path: Path) -> None:
    hist = write(history(8), tmp_path / "history.csv")  # 2 sales leads
    fixes = write(
        corrections([{"id": f"h-{i}", "labels": "complaint"} for i in (1, 5)]),
        tmp_path / "corrections.csv",
    )
    merge_training_data([hist], label_set=LABELS, min_examples=2)
    with pytest.raises(DataError, match="too few examples to learn: 'sales_lead' has 0"):
        merge_training_data([hist, fixes], label_set=LABELS, min_examples=2)
