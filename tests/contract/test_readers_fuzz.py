"""Property-based fuzzing of the readers (Hypothesis): whatever bytes a file holds, reading and
validating it gives a clean canonical frame or a DataError, never another exception.

Three sources of files for each format (CSV, JSONL, JSON, Parquet): random bytes, byte-level
mutations of a valid file (flips, cuts, insertions, truncation, repeats), and valid structure
with arbitrary values in the cells (any JSON value, any text, Parquet columns of any type).
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from triage_ml.contract import DataError, read_table, validate_posts

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]
CANONICAL = {
    "id": "str",
    "text": "str",
    "created_at": "datetime64[us, UTC]",
    "channel": "str",
    "author_followers": "float64",
    "author_verified": "float64",
    "labels": "object",
    "urgency": "float64",
}
SUFFIXES = [".csv", ".jsonl", ".json", ".parquet"]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VALID = pd.DataFrame(
    {
        "id": ["p-1", "p-2", "p-3"],
        "text": ["my order never arrived!!", "price for 20 seats?", "love it, 5 stars"],
        "created_at": ["2026-11-22T10:00:00Z", "2026-11-22 11:30", None],
        "channel": ["twitter", "email", None],
        "author_followers": [48200, None, 12],
        "author_verified": [True, False, None],
        "labels": ["complaint", "sales_lead", ""],
        "urgency": [0.9, 0.2, None],
    }
)


def valid_bytes(suffix: str) -> bytes:
    if suffix == ".csv":
        return VALID.to_csv(index=False).encode()
    records = json.loads(VALID.to_json(orient="records"))
    if suffix == ".jsonl":
        return "".join(json.dumps(r) + "\n" for r in records).encode()
    if suffix == ".json":
        return json.dumps(records).encode()
    out = io.BytesIO()
    VALID.to_parquet(out)
    return out.getvalue()


def read_and_validate(data: bytes, suffix: str) -> None:
    """The property: a canonical frame of the contract's columns and types, or a DataError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"posts{suffix}"
        path.write_bytes(data)
        try:
            frame = read_table(path)
            canonical, report = validate_posts(frame, label_set=LABELS, source=str(path))
        except DataError as err:
            assert str(err).startswith(str(path)), str(err)
            return
    assert {c: str(t) for c, t in canonical.dtypes.items()} == CANONICAL
    assert report.rows_read == len(canonical) == len(frame)
    assert canonical["id"].map(lambda v: isinstance(v, str) and v.strip() != "").all()
    assert canonical["text"].map(lambda v: isinstance(v, str) and v.strip() != "").all()
    assert not canonical["id"].duplicated().any()
    years = canonical["created_at"].dropna().dt.year
    assert years.between(1969, 2100).all()  # 1970-2099 as written, any offset


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "repeat", "byte"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 32))]
    return bytes(data)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_valid_file_is_read(suffix: str) -> None:
    read_and_validate(valid_bytes(suffix), suffix)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_random_bytes_give_a_frame_or_a_data_error(suffix: str) -> None:
    @FUZZ
    @given(data=st.binary(max_size=2_000))
    @example(data=b"")
    @example(data=b"\xff\xfe\x00")
    def run(data: bytes) -> None:
        read_and_validate(data, suffix)

    run()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_mutations_of_a_valid_file_give_a_frame_or_a_data_error(suffix: str) -> None:
    @FUZZ
    @given(data=mutated(valid_bytes(suffix)))
    def run(data: bytes) -> None:
        read_and_validate(data, suffix)

    run()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
COLUMNS = st.sampled_from([*CANONICAL, "extra", ""])


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_any_json_values_in_the_cells_give_a_frame_or_a_data_error(suffix: str) -> None:
    @FUZZ
    @given(
        records=st.lists(st.dictionaries(COLUMNS, JSON_VALUES, max_size=8), min_size=1, max_size=5)
    )
    def run(records: list[dict]) -> None:
        for record in records:  # mostly posts: an id and a text, whatever their values
            record.setdefault("id", "x")
            record.setdefault("text", "y")
        if suffix == ".jsonl":
            data = "".join(json.dumps(r) + "\n" for r in records).encode()
        else:
            data = json.dumps(records).encode()
        read_and_validate(data, suffix)

    run()


def test_any_text_in_csv_cells_gives_a_frame_or_a_data_error() -> None:
    @FUZZ
    @given(
        rows=st.lists(
            st.fixed_dictionaries({c: st.text(max_size=12) for c in CANONICAL}),
            min_size=1,
            max_size=5,
        )
    )
    def run(rows: list[dict]) -> None:
        read_and_validate(pd.DataFrame(rows).to_csv(index=False).encode(), ".csv")

    run()


PARQUET_COLUMNS = st.sampled_from(
    [
        pa.array(["a", "b", None]),
        pa.array([b"a", b"\xff", None], pa.binary()),
        pa.array([1, None, 3], pa.int64()),
        pa.array([1.0, float("nan"), 1e30]),
        pa.array([1.5, float("inf"), -0.0]),
        pa.array([True, None, False]),
        pa.array([0, 2**62, -(2**62)], pa.timestamp("us")),
        pa.array([0, 10**18, None], pa.timestamp("ns", tz="Europe/Paris")),
        pa.array([[1, 2], None, []], pa.list_(pa.int64())),
        pa.array([{"a": 1}, None, {"a": 2}], pa.struct([("a", pa.int64())])),
        pa.array([1, 2, 3], pa.decimal128(10, 2)),
        pa.array(["x", "y", "x"]).dictionary_encode(),
        pa.array([None, None, None], pa.null()),
        pa.array([18000, 0, None], pa.date32()),
    ]
)


def test_any_parquet_column_types_give_a_frame_or_a_data_error() -> None:
    @FUZZ
    @given(columns=st.dictionaries(COLUMNS, PARQUET_COLUMNS, min_size=1, max_size=8))
    def run(columns: dict[str, pa.Array]) -> None:
        table = pa.table({name or "unnamed": col for name, col in columns.items()})
        out = io.BytesIO()
        pq.write_table(table, out)
        read_and_validate(out.getvalue(), ".parquet")

    run()


def test_a_refused_file_is_a_data_error_that_names_it(tmp_path: Path) -> None:
    """The other outcome of the properties above, for the record: an empty text is refused."""
    path = tmp_path / "posts.csv"
    path.write_bytes(b"id,text\na,\n")
    with pytest.raises(DataError, match="posts.csv"):
        validate_posts(read_table(path), label_set=LABELS, source=str(path))
