"""One rule for float ids, binary text and dates, in every file format and in memory.

A float cannot hold 1e30's or 1.5's digits as an id; Parquet may store text as bytes that are
not UTF-8; a date in the year 9999 has a deadline with no ISO-8601 form. Each is a DataError
that names the column and rows, never another exception and never invented digits.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from triage_ml.contract import (
    DATE_RANGE,
    ID_RULE,
    MAX_FLOAT_ID,
    DataError,
    read_table,
    validate_posts,
)

LABELS = ["complaint", "sales_lead"]


def _jsonl(path, ids) -> None:
    path.write_text(
        "".join(json.dumps({"id": i, "text": f"post {n}"}) + "\n" for n, i in enumerate(ids))
    )


def _raw_jsonl(path, ids: list[str]) -> None:  # numbers as written, e.g. "1e30"
    path.write_text("".join(f'{{"id": {i}, "text": "post"}}\n' for i in ids))


def _parquet(path, ids) -> None:
    pq.write_table(pa.table({"id": pa.array(ids, pa.float64()), "text": ["a"] * len(ids)}), path)


INEXACT = [
    ("parquet 1e30", "x.parquet", lambda p: _parquet(p, [1.0, 1e30]), [2]),
    ("parquet fraction", "x.parquet", lambda p: _parquet(p, [1.5, 2.0]), [1]),
    ("parquet beyond 2**53", "x.parquet", lambda p: _parquet(p, [2.0**53 + 2]), [1]),
    ("parquet infinite", "x.parquet", lambda p: _parquet(p, [float("inf")]), [1]),
    ("jsonl 1e30", "x.jsonl", lambda p: _raw_jsonl(p, ['"a"', "1e30"]), [2]),
    ("jsonl fraction", "x.jsonl", lambda p: _raw_jsonl(p, ["1.5"]), [1]),
    ("json 1e30", "x.json", lambda p: p.write_text('[{"id": 1e30, "text": "a"}]'), [1]),
]


@pytest.mark.parametrize(
    ("name", "write", "rows"), [r[1:] for r in INEXACT], ids=[r[0] for r in INEXACT]
)
def test_a_float_id_without_exact_digits_is_refused_in_every_format(tmp_path, name, write, rows):
    path = tmp_path / name
    write(path)
    with pytest.raises(DataError) as err:
        read_table(path)
    assert err.value.column == "id" and err.value.rows == rows
    assert str(path) in str(err.value) and ID_RULE in str(err.value)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"id": [1e30, 2.0], "text": ["a", "b"]}),
        pd.DataFrame({"id": ["a", 1.5], "text": ["a", "b"]}),
        pd.DataFrame({"id": [np.float64(1e30)], "text": ["a"]}, dtype=object),
    ],
    ids=["float column", "mixed column", "numpy float in object column"],
)
def test_a_float_id_without_exact_digits_is_refused_in_memory(frame):
    with pytest.raises(DataError) as err:
        validate_posts(frame, label_set=LABELS)
    assert err.value.column == "id" and ID_RULE in str(err.value)


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("x.jsonl", lambda p: _raw_jsonl(p, ["7.0", str(float(MAX_FLOAT_ID))])),
        ("x.parquet", lambda p: _parquet(p, [7.0, float(MAX_FLOAT_ID)])),
        ("x.jsonl", lambda p: _jsonl(p, [7, 10**30])),  # integers are exact at any size
    ],
)
def test_whole_floats_that_a_float_holds_exactly_are_read_as_integers(tmp_path, name, write):
    path = tmp_path / name
    write(path)
    frame, _ = validate_posts(read_table(path), label_set=LABELS)
    assert frame["id"][0] == "7"
    assert frame["id"][1] in (str(MAX_FLOAT_ID), str(10**30))


def test_binary_text_that_is_not_utf8_names_the_column_and_rows(tmp_path):
    path = tmp_path / "x.parquet"
    text = pa.array([b"fine", b"\xff\xfe broken", None, b"\xc3"], pa.binary())
    pq.write_table(pa.table({"id": ["a", "b", "c", "d"], "text": text}), path)
    with pytest.raises(DataError) as err:
        read_table(path)
    assert err.value.column == "text" and err.value.rows == [2, 4]
    assert "not UTF-8" in str(err.value)


def test_binary_text_in_utf8_is_read_as_text(tmp_path):
    path = tmp_path / "x.parquet"
    text = pa.array(["café ok".encode(), b"plain"], pa.large_binary())
    pq.write_table(pa.table({"id": ["a", "b"], "text": text}), path)
    frame, _ = validate_posts(read_table(path), label_set=LABELS)
    assert list(frame["text"]) == ["café ok", "plain"]


DATES = [
    ("9999-12-31T00:00:00Z", False),
    ("10000-01-01", False),
    ("1969-12-31T23:59:59Z", False),
    ("0001-01-01", False),
    ("2100-01-01T00:00:00Z", False),
    ("1970-01-01T00:00:00Z", True),
    ("1970-01-01T00:30:00+01:00", True),  # the year as written counts, not the year in UTC
    ("2099-12-31T23:59:59-05:00", True),
    ("2024-02-29", True),
]


@pytest.mark.parametrize(("value", "accepted"), DATES)
def test_created_at_is_bounded_by_the_year_written(value, accepted):
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "created_at": [value, None]})
    if accepted:
        canonical, _ = validate_posts(frame, label_set=LABELS)
        assert canonical["created_at"].notna()[0]
        return
    with pytest.raises(DataError) as err:
        validate_posts(frame, label_set=LABELS)
    assert err.value.column == "created_at" and err.value.rows == [0]
    assert DATE_RANGE in str(err.value) or "cannot read" in str(err.value)


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_created_at_as_timestamps_is_bounded_too(tmp_path, tz):
    path = tmp_path / "x.parquet"
    when = pd.Series(pd.to_datetime(["2024-05-01", "2150-01-01"]))
    if tz:
        when = when.dt.tz_localize(tz)
    pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "created_at": when}).to_parquet(path)
    with pytest.raises(DataError) as err:
        validate_posts(read_table(path), label_set=LABELS, source=str(path))
    assert err.value.column == "created_at" and err.value.rows == [2]
    assert DATE_RANGE in str(err.value)


def test_training_refuses_dates_out_of_range_in_a_file(tmp_path):
    from triage_ml.contract import load_history

    path = tmp_path / "h.csv"
    path.write_text(
        "id,text,created_at,labels\n1,a,2024-05-01,complaint\n2,b,9999-01-01,sales_lead\n"
    )
    with pytest.raises(DataError) as err:
        load_history(path, label_set=LABELS, min_examples=0)
    assert err.value.column == "created_at" and err.value.rows == [2]
    assert "9999-01-01" in str(err.value) and DATE_RANGE in str(err.value)


def test_a_string_column_with_invalid_utf8_names_the_column_and_rows(tmp_path):
    """Parquet readers do not check UTF-8 in string columns; pandas failed on it later."""
    path = tmp_path / "x.parquet"
    table = pa.table({"id": ["a", "b"], "text": ["hello", "wxyz"]})
    pq.write_table(table, path, compression="none", use_dictionary=False, write_statistics=False)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"wxyz", b"\xffxyz"))
    with pytest.raises(DataError) as err:
        validate_posts(read_table(path), label_set=LABELS)
    assert err.value.column == "text" and err.value.rows == [2]


@pytest.mark.parametrize("column", ["id", "text", "channel", "created_at", "urgency"])
@pytest.mark.parametrize("value", [[1], {"a": 1}, []], ids=["list", "object", "empty list"])
def test_lists_and_objects_in_a_cell_are_a_data_error(tmp_path, column, value):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "hi", column: value}) + "\n")
    with pytest.raises(DataError) as err:
        validate_posts(read_table(path), label_set=LABELS, source=str(path))
    assert err.value.column == column and err.value.rows == [1]
    assert repr(value) in str(err.value)
