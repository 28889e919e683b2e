"""The input contract: every validation error is a table row; formats round-trip."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract.columns import MAX_TEXT_CHARS, URGENCY_LEVELS
from triage_ml.contract.digest import fingerprint
from triage_ml.contract.errors import SKIP_NO_LABELS, SKIP_NO_URGENCY, DataError, LoadReport
from triage_ml.contract.labels import label_matrix
from triage_ml.contract.readers import read_table
from triage_ml.contract.validation import load_history, validate_posts

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]
DECLARED = "complaint, sales_lead, product_review, influencer"


def posts(n: int = 6, **columns) -> pd.DataFrame:
    """A small valid frame; keyword arguments replace or add whole columns."""
    base = {
        "id": [f"p-{i}" for i in range(n)],
        "text": [f"post number {i}" for i in range(n)],
        "labels": (["complaint", "sales_lead;influencer", "", "product_review"] * n)[:n],
        "urgency": ([0.1, 0.9, 0.5] * n)[:n],
    }
    base.update(columns)
    return pd.DataFrame(base)


def with_cell(column: str, row: int, value, n: int = 6, **extra) -> pd.DataFrame:
    frame = posts(n, **extra)
    values = frame[column].astype(object).tolist() if column in frame else [None] * n
    values[row] = value
    frame[column] = pd.Series(values, dtype=object)
    return frame


def balanced(n_per_label: int, exclusive: bool = False) -> pd.DataFrame:
    """Every label positive n_per_label times (and, non-exclusive, some rows with none)."""
    labels = [lab for lab in LABELS for _ in range(n_per_label)]
    if not exclusive:
        labels += [""] * n_per_label
    return posts(len(labels), labels=labels, urgency=[0.5] * len(labels))


# One row per contract violation: (frame, validate kwargs, column, offending rows, message parts)
INVALID = [
    pytest.param(
        posts().drop(columns="text"),
        {},
        "text",
        None,
        ["missing required column 'text'", "'id'"],
        id="missing-required-column",
    ),
    pytest.param(
        posts().rename(columns={"id": "ID"}),
        {},
        "id",
        None,
        ["'ID'", "case"],
        id="missing-column-case-hint",
    ),
    pytest.param(
        with_cell("text", 2, "   \t "),
        {},
        "text",
        [2],
        ["empty", "1 to 10,000"],
        id="whitespace-text",
    ),
    pytest.param(with_cell("text", 4, None), {}, "text", [4], ["empty"], id="null-text"),
    pytest.param(
        with_cell("text", 1, "x" * (MAX_TEXT_CHARS + 1)),
        {},
        "text",
        [1],
        ["10,001 characters", "at most 10,000"],
        id="text-too-long",
    ),
    pytest.param(with_cell("id", 3, None), {}, "id", [3], ["missing or empty"], id="null-id"),
    pytest.param(with_cell("id", 0, "  "), {}, "id", [0], ["missing or empty"], id="empty-id"),
    pytest.param(
        with_cell("id", 4, "p-1"),
        {},
        "id",
        [1, 4],
        ["duplicate ids", "'p-1' at rows 1, 4"],
        id="duplicate-id",
    ),
    pytest.param(
        with_cell("labels", 5, "complaint;spam"),
        {},
        "labels",
        [5],
        ["unknown label 'spam'", DECLARED],
        id="unknown-label",
    ),
    pytest.param(
        with_cell("labels", 0, "Complaint"),
        {},
        "labels",
        [0],
        ["'Complaint' should be 'complaint'", DECLARED],
        id="label-case-hint",
    ),
    pytest.param(
        posts(labels=["complaint", "", "sales_lead", "influencer", "complaint", "sales_lead"]),
        {"exclusive": True},
        "labels",
        [1],
        ["exclusive", "exactly one", DECLARED],
        id="exclusive-no-label",
    ),
    pytest.param(
        posts(labels=["complaint", "complaint;influencer"] + ["sales_lead"] * 4),
        {"exclusive": True},
        "labels",
        [1],
        ["'complaint;influencer'", "exactly one"],
        id="exclusive-two-labels",
    ),
    pytest.param(
        with_cell("urgency", 2, 1.5),
        {},
        "urgency",
        [2],
        ["1.5", "[0, 1]", "critical"],
        id="urgency-above-one",
    ),
    pytest.param(
        with_cell("urgency", 3, -0.1),
        {},
        "urgency",
        [3],
        ["-0.1", "[0, 1]"],
        id="urgency-negative",
    ),
    pytest.param(
        posts(urgency=["low", "high", "urgent", None, "medium", "critical"]),
        {},
        "urgency",
        [2],
        ["'urgent'", "low, medium, high, critical"],
        id="urgency-unknown-name",
    ),
    pytest.param(
        posts(urgency=["low", "high", "0.5", "medium", "critical", "low"]),
        {},
        "urgency",
        [2],
        ["mixed", "5 rows use names", "1 row use numbers"],
        id="urgency-names-and-numbers",
    ),
    pytest.param(
        with_cell("created_at", 1, "last tuesday"),
        {},
        "created_at",
        [1],
        ["'last tuesday'", "ISO-8601"],
        id="created-at-unparsable",
    ),
    pytest.param(
        with_cell("author_followers", 4, -3),
        {},
        "author_followers",
        [4],
        ["-3", ">= 0"],
        id="followers-negative",
    ),
    pytest.param(
        with_cell("author_followers", 0, "1,200"),
        {},
        "author_followers",
        [0],
        ["'1,200'", "whole number >= 0"],
        id="followers-not-a-number",
    ),
    pytest.param(
        with_cell("author_verified", 5, "maybe"),
        {},
        "author_verified",
        [5],
        ["'maybe'", "true/false, yes/no or 1/0"],
        id="verified-not-boolean",
    ),
    pytest.param(
        posts().drop(columns="labels"),
        {"require_labels": True},
        "labels",
        None,
        ["no 'labels' column", DECLARED],
        id="require-labels-no-column",
    ),
    pytest.param(
        posts(labels=[None] * 6),
        {"require_labels": True},
        "labels",
        None,
        ["every row's label is empty"],
        id="require-labels-all-null",
    ),
    pytest.param(
        balanced(5).iloc[1:],
        {"require_labels": True, "min_examples": 5},
        "labels",
        None,
        ["too few examples to learn", "'complaint' has 4 positive", "at least 5"],
        id="too-few-positives",
    ),
    pytest.param(
        posts(8, labels=["complaint"] * 6 + ["sales_lead;product_review;influencer"] * 2),
        {"require_labels": True, "min_examples": 3},
        "labels",
        None,
        ["too few examples to learn", "'complaint' has 2 negative", "'sales_lead' has 2 positive"],
        id="too-few-negatives",
    ),
]


@pytest.mark.parametrize(("frame", "kwargs", "column", "rows", "parts"), INVALID)
def test_invalid_frame_raises_a_message_for_people(frame, kwargs, column, rows, parts):
    with pytest.raises(DataError) as info:
        validate_posts(frame, label_set=LABELS, **kwargs)
    err = info.value
    message = str(err)
    assert err.column == column
    assert f"column '{column}'" in message or f"'{column}'" in message
    assert err.rows == rows
    if rows:
        assert f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}" in message
        assert "0-based" in message
    for part in parts:
        assert part in message
    assert message.startswith("<data frame>")


def test_file_errors_name_the_file_and_1_based_data_rows(tmp_path):
    path = tmp_path / "history.csv"
    frame = balanced(5)
    frame.loc[[2, 7], "labels"] = "refund"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        load_history(path, label_set=LABELS)
    message = str(info.value)
    assert info.value.source == str(path)
    assert message.startswith(str(path))
    assert "rows 3, 8 (data rows counted from 1)" in message
    assert info.value.rows == [3, 8]
    assert "'refund'" in message and DECLARED in message


def test_all_offending_rows_are_counted_not_only_the_first():
    frame = posts(12, text=[""] * 8 + ["ok"] * 4)
    with pytest.raises(DataError) as info:
        validate_posts(frame, label_set=LABELS)
    assert info.value.rows == list(range(8))
    assert "rows 0, 1, 2, 3, 4 and 3 more (8 in all; 0-based positions)" in str(info.value)


def test_several_problems_are_reported_together():
    frame = with_cell("urgency", 4, 7.0, labels=["complaint", "x", "", "", "", ""])
    with pytest.raises(DataError) as info:
        validate_posts(frame, label_set=LABELS)
    message = str(info.value)
    assert "2 problems found" in message
    assert "column 'labels', row 1" in message and "column 'urgency', row 4" in message
    assert [p.column for p in info.value.problems] == ["labels", "urgency"]


def test_data_error_keeps_its_parts_and_pickles():
    err = DataError("bad value", source="f.csv", column="urgency", rows=[1, 2])
    assert (err.source, err.column, err.rows, err.reason) == (
        "f.csv",
        "urgency",
        [1, 2],
        "bad value",
    )
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert (
        str(again)
        == str(err)
        == "f.csv, column 'urgency', rows 1, 2 (data rows counted from 1): bad value"
    )


# --- reading files -------------------------------------------------------------------------

BROKEN_FILES = [
    pytest.param("posts.xlsx", b"whatever", "unknown file type '.xlsx'", id="unknown-suffix"),
    pytest.param("posts.csv", b"", "file is empty", id="empty-csv"),
    pytest.param("posts.csv", b"id,text\n1,\xff\xfe bad bytes\n", "not UTF-8", id="not-utf8"),
    pytest.param(
        "posts.jsonl",
        b'{"id": "1", "text": "ok"}\n{"id": 2, "text": \n',
        "line 2 is not valid JSON",
        id="jsonl-bad-line",
    ),
    pytest.param(
        "posts.jsonl", b'["id", "text"]\n', "line 1 is a JSON list", id="jsonl-not-object"
    ),
    pytest.param(
        "posts.json", b'{"id": "1"}', "expected a JSON array of records", id="json-not-list"
    ),
    pytest.param("posts.json", b"[{", "is not valid JSON", id="json-truncated"),
    pytest.param(
        "posts.parquet", b"PAR1 not really", "cannot be read as parquet", id="corrupt-parquet"
    ),
]


@pytest.mark.parametrize(("name", "content", "part"), BROKEN_FILES)
def test_unreadable_file_is_a_data_error(tmp_path, name, content, part):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert part in message


def test_missing_file_lists_valid_formats(tmp_path):
    with pytest.raises(DataError) as info:
        read_table(tmp_path / "nope.csv")
    assert "file not found" in str(info.value)
    assert (
        ".csv" in str(info.value) and ".jsonl" in str(info.value) and ".parquet" in str(info.value)
    )


def raw_history() -> pd.DataFrame:
    """What an export looks like: text cells, numeric-looking ids, names for urgency."""
    return pd.DataFrame(
        {
            "id": ["007", "42", "p-3", "0.5"],
            "text": ["  Still waiting for my refund!! ", "Do you ship to Norway?", "NA", "5 stars"],
            "created_at": [
                "2024-05-01T09:30:00Z",
                "2024-05-01T11:30:00+02:00",
                None,
                "2024-05-02 08:00:00",
            ],
            "channel": ["Twitter ", "facebook", None, "REVIEW_SITE"],
            "author_followers": [120000, None, 3, 0],
            "author_verified": ["yes", "no", None, "true"],
            "labels": ["influencer;complaint", "sales_lead", "", "product_review"],
            "urgency": ["critical", "medium", None, "low"],
            "notes": ["a", "b", "c", "d"],
        }
    )


WRITERS = {
    "csv": lambda f, p: f.to_csv(p, index=False),
    "jsonl": lambda f, p: f.to_json(p, orient="records", lines=True),
    "json": lambda f, p: f.to_json(p, orient="records"),
    "parquet": lambda f, p: f.to_parquet(p, index=False),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_format_gives_the_same_canonical_frame(tmp_path, fmt):
    raw = raw_history()
    expected, _ = validate_posts(raw, label_set=LABELS, source="raw")
    path = tmp_path / f"history.{fmt}"
    WRITERS[fmt](raw, path)
    frame, report = load_history(path, label_set=LABELS, min_examples=0)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["id"].tolist() == ["007", "42", "p-3", "0.5"]
    assert frame["text"].tolist()[2] == "NA"  # a post that says "NA" is not a missing value
    assert report.ignored_columns == ["notes"]
    assert fingerprint(frame) == fingerprint(expected)


def test_canonical_frame_types_and_values():
    frame, _ = validate_posts(raw_history(), label_set=LABELS)
    assert list(frame.columns) == [
        "id", "text", "created_at", "channel", "author_followers", "author_verified", "labels",
        "urgency",
    ]  # fmt: skip
    assert frame["text"][0] == "Still waiting for my refund!!"
    assert str(frame["created_at"].dtype).startswith("datetime64") and frame["created_at"].dt.tz
    assert frame["created_at"][1] == pd.Timestamp("2024-05-01T09:30:00Z")
    assert frame["created_at"][3] == pd.Timestamp("2024-05-02T08:00:00Z")  # naive = UTC
    assert pd.isna(frame["created_at"][2])
    assert frame["channel"].tolist() == ["twitter", "facebook", "unknown", "review_site"]
    assert frame["author_followers"].dtype == np.float64
    assert np.isnan(frame["author_followers"][1]) and frame["author_followers"][0] == 120000
    np.testing.assert_array_equal(frame["author_verified"], [1.0, 0.0, np.nan, 1.0])
    assert frame["labels"].tolist() == ["complaint;influencer", "sales_lead", "", "product_review"]
    np.testing.assert_array_equal(frame["urgency"], [1.0, 0.33, np.nan, 0.0])


def test_input_frame_is_not_modified():
    raw = raw_history()
    before = raw.copy()
    frame, _ = validate_posts(raw.set_index("id", drop=False), label_set=LABELS)
    pd.testing.assert_frame_equal(raw, before)
    assert list(frame.index) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("write", "name"),
    [
        (lambda p: p.write_text('{"id": 7, "text": "a"}\n{"id": null, "text": "b"}\n'), "x.jsonl"),
        (lambda p: p.write_text('[{"id": 7.0, "text": "a"}, {"text": "b"}]'), "x.json"),
        (
            lambda p: pd.DataFrame({"id": [7.0, np.nan], "text": ["a", "b"]}).to_parquet(p),
            "x.parquet",
        ),
        (lambda p: p.write_text("id,text\n7,a\n,b\n"), "x.csv"),
    ],
)
def test_numeric_ids_are_read_as_text_without_float_suffix(tmp_path, write, name):
    path = tmp_path / name
    write(path)
    frame = read_table(path)
    assert frame["id"][0] == "7"
    assert pd.isna(frame["id"][1])


@pytest.mark.parametrize(("name", "value"), [*URGENCY_LEVELS.items(), (" High ", 0.67)])
def test_urgency_names_map_to_numbers(name, value):
    frame, _ = validate_posts(posts(3, urgency=[name, None, name]), label_set=LABELS)
    np.testing.assert_array_equal(frame["urgency"], [value, np.nan, value])


@pytest.mark.parametrize(
    ("cell", "canonical"),
    [
        ("influencer;complaint", "complaint;influencer"),
        ("complaint; influencer", "complaint;influencer"),
        (" influencer ;complaint;complaint; ", "complaint;influencer"),
        ("product_review;sales_lead;influencer", "sales_lead;product_review;influencer"),
        ("", ""),
        (" ; ", ""),
        (["influencer", "complaint"], "complaint;influencer"),  # JSON arrays are accepted
        (None, None),
    ],
)
def test_labels_are_canonical(cell, canonical):
    frame = posts(2, labels=pd.Series([cell, "complaint"], dtype=object))
    out, _ = validate_posts(frame, label_set=LABELS)
    assert out["labels"][0] == canonical if canonical is not None else out["labels"][0] is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True, False, None], [1.0, 0.0, np.nan]),
        ([1, 0, None], [1.0, 0.0, np.nan]),
        (["TRUE", "no", ""], [1.0, 0.0, np.nan]),
        (["Yes", "false", None], [1.0, 0.0, np.nan]),
    ],
)
def test_author_verified_accepts_booleans(values, expected):
    frame, _ = validate_posts(posts(3, author_verified=values), label_set=LABELS)
    np.testing.assert_array_equal(frame["author_verified"], expected)


def test_csv_empty_label_means_none_and_jsonl_null_means_unlabelled(tmp_path):
    (tmp_path / "a.csv").write_text('id,text,labels\n1,a,complaint\n2,b,\n3,c,""\n')
    (tmp_path / "a.jsonl").write_text(
        '{"id": "1", "text": "a", "labels": "complaint"}\n'
        '{"id": "2", "text": "b", "labels": null}\n{"id": "3", "text": "c", "labels": ""}\n'
    )
    csv, _ = validate_posts(read_table(tmp_path / "a.csv"), label_set=LABELS)
    jsonl, report = validate_posts(read_table(tmp_path / "a.jsonl"), label_set=LABELS)
    assert csv["labels"].tolist() == ["complaint", "", ""]
    assert jsonl["labels"].tolist() == ["complaint", None, ""]
    assert report.rows_with_labels == 2


def test_load_report_counts():
    frame = posts(
        6,
        labels=["complaint;influencer", "", None, "complaint", "sales_lead", None],
        urgency=[0.2, None, None, 0.9, None, 1.0],
        extra=list("abcdef"),
    )
    _, report = validate_posts(frame, label_set=LABELS, require_labels=True, source="h.csv")
    assert isinstance(report, LoadReport)
    assert (report.source, report.rows_read) == ("h.csv", 6)
    assert (report.rows_with_labels, report.rows_with_urgency) == (4, 3)
    assert report.label_counts == {
        "complaint": 2, "sales_lead": 1, "product_review": 0, "influencer": 1,
    }  # fmt: skip
    assert report.skipped == {SKIP_NO_LABELS: 2, SKIP_NO_URGENCY: 3}
    assert report.ignored_columns == ["extra"]
    summary = report.summary()
    assert "h.csv: 6 rows read" in summary
    assert "complaint 2" in summary and "3 rows: no urgency" in summary and "extra" in summary


def test_no_labels_column_is_fine_for_scoring():
    frame, report = validate_posts(posts().drop(columns=["labels", "urgency"]), label_set=LABELS)
    assert frame["labels"].isna().all() and frame["urgency"].isna().all()
    assert report.rows_with_labels == 0 and SKIP_NO_LABELS not in report.skipped


def test_enough_examples_pass_min_examples():
    _, report = validate_posts(balanced(5), label_set=LABELS, require_labels=True, min_examples=5)
    assert report.label_counts == dict.fromkeys(LABELS, 5)
    _, report = validate_posts(
        balanced(3, exclusive=True),
        label_set=LABELS,
        exclusive=True,
        require_labels=True,
        min_examples=3,
    )
    assert report.label_counts == dict.fromkeys(LABELS, 3)


def test_label_matrix_follows_the_label_set():
    frame, _ = validate_posts(
        posts(4, labels=["influencer;complaint", "", None, "product_review"]), label_set=LABELS
    )
    matrix = label_matrix(frame, LABELS)
    assert matrix.dtype == np.int8
    np.testing.assert_array_equal(matrix, [[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]])
    with pytest.raises(DataError, match="outside the label set"):
        label_matrix(frame, ["complaint", "sales_lead"])


def test_fingerprint_is_stable_and_order_sensitive():
    a, _ = validate_posts(raw_history(), label_set=LABELS)
    b, _ = validate_posts(raw_history(), label_set=LABELS)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a).startswith("sha256:") and len(fingerprint(a)) == len("sha256:") + 64
    assert fingerprint(a) != fingerprint(a.iloc[::-1].reset_index(drop=True))
    changed = a.copy()
    changed.loc[1, "urgency"] = 0.34
    assert fingerprint(a) != fingerprint(changed)


def test_a_large_history_validates_every_row():
    """100,000 rows (the speed of validation is the training benchmarks' business, not a test's
    wall-clock limit): every row kept, labels and urgency parsed row by row."""
    n = 100_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": np.arange(n).astype(str),
            "text": rng.choice(["my order never came", "love it", "price for 10?"], n),
            "created_at": "2024-05-01T09:30:00Z",
            "channel": rng.choice(["twitter", "email"], n),
            "author_followers": rng.integers(0, 10**6, n),
            "author_verified": rng.choice(["true", "false"], n),
            "labels": rng.choice(["complaint", "complaint;influencer", "", "sales_lead"], n),
            "urgency": rng.choice(list(URGENCY_LEVELS), n),
        }
    )
    out, report = validate_posts(frame, label_set=LABELS, require_labels=True)
    assert report.rows_read == n and len(out) == n
    assert out["id"].tolist() == frame["id"].tolist()
    assert out["urgency"].tolist() == [URGENCY_LEVELS[u] for u in frame["urgency"]]


def test_jsonl_content_survives_json_roundtrip(tmp_path):
    path = tmp_path / "h.ndjson"
    path.write_text(
        "\n".join(json.dumps({"id": f"{i:03d}", "text": "hi", "urgency": "low"}) for i in range(3))
    )
    frame, report = validate_posts(read_table(path), label_set=LABELS)
    assert frame["id"].tolist() == ["000", "001", "002"]
    assert report.rows_with_urgency == 3
