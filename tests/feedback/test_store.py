"""The feedback store on SQLite: migrations from empty, validation, idempotency, erasure, export."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from triage_ml.contract import DataError
from triage_ml.feedback import (
    FeedbackStoreError,
    open_store,
    resolve_feedback_url,
    validate_correction,
)
from triage_ml.feedback.schema import VERSION_TABLE, metadata
from triage_ml.feedback.store import CorrectionConflict

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]
MARKER = "zqxj-erasable-customer-sentence"


def correction(**overrides) -> dict:
    record = {
        "id": "p-1",
        "text": "my order never arrived, third time asking",
        "created_at": "2026-11-22T10:00:00Z",
        "channel": "twitter",
        "author_followers": 120,
        "author_verified": False,
        "labels": ["complaint"],
        "reviewer": "agent-7",
        "corrected_at": "2026-11-22T10:05:00Z",
        "model_version": "triage (sha256:3f2a9c1b7d4e)",
        "request_id": "req-1",
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not ...}


@pytest.fixture
def store(tmp_path: Path):
    opened = open_store(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield opened
    opened.close()


def put(store, **overrides):
    return store.record(validate_correction(correction(**overrides), label_set=LABELS))


def test_a_new_database_is_migrated_to_the_schema_the_code_expects(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'feedback.db'}"
    store = open_store(url)
    assert store.schema_version() == "0001"
    inspector = sa.inspect(store.engine)
    for table in metadata.sorted_tables:
        found = {c["name"] for c in inspector.get_columns(table.name)}
        assert found == {c.name for c in table.columns}, table.name
    unique = inspector.get_unique_constraints("feedback_corrections")
    assert [sorted(u["column_names"]) for u in unique] == [["corrected_at", "post_id", "reviewer"]]
    assert VERSION_TABLE in inspector.get_table_names()
    assert "alembic_version" not in inspector.get_table_names()  # MLflow's name stays free
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()
    again = open_store(url)  # opening an up-to-date store again changes nothing
    assert again.schema_version() == "0001"
    again.close()


def test_a_retried_correction_is_stored_once(store) -> None:
    first = put(store)
    assert first.status == "stored"
    assert put(store).status == "duplicate"
    # the same instant written with another offset is the same correction
    same = put(store, corrected_at="2026-11-22T11:05:00+01:00")
    assert same.status == "duplicate" and same.correction_id == first.correction_id
    assert put(store, reviewer="agent-8").status == "stored"
    assert put(store, corrected_at="2026-11-22T10:06:00Z").status == "stored"
    assert len(store.corrections()) == 3


def test_different_content_under_the_same_key_is_a_conflict(store) -> None:
    put(store)
    with pytest.raises(CorrectionConflict, match="already stored with different labels"):
        put(store, labels=["sales_lead"])
    rows = store.corrections()
    assert rows["labels"].tolist() == ["complaint"]


@pytest.mark.parametrize(
    ("overrides", "column", "words"),
    [
        ({"labels": ["refund"]}, "labels", "unknown label 'refund'; the declared labels are"),
        ({"labels": "Complaint"}, "labels", "labels are case-sensitive"),
        ({"labels": ..., "urgency": 1.5}, "urgency", "urgency must be a number in [0, 1]"),
        ({"labels": ..., "urgency": "soon"}, "urgency", "or one of low, medium, high"),
        ({"text": "   "}, "text", "text is missing or empty"),
        ({"text": ...}, "text", "text is missing or empty"),
        ({"labels": ...}, "labels", "a correction needs labels and/or urgency"),
        ({"reviewer": ""}, "reviewer", "is missing or empty; give who made the correction"),
        ({"corrected_at": "yesterday"}, "corrected_at", "cannot read 'yesterday' as a date"),
        ({"corrected_at": ...}, "corrected_at", "is missing; give an ISO-8601 time"),
        ({"model_version": ...}, "model_version", "give the model_version"),
        ({"created_at": "soon"}, "created_at", "cannot read 'soon' as a date-time"),
        ({"author_followers": -3}, "author_followers", "author_followers must be >= 0"),
        ({"priority": "P1"}, "priority", "unknown field 'priority'; a correction has only"),
    ],
)
def test_bad_corrections_are_refused_naming_what_is_valid(overrides, column, words) -> None:
    with pytest.raises(DataError) as caught:
        validate_correction(correction(**overrides), label_set=LABELS)
    err = caught.value
    assert err.column == column
    assert words in str(err)


def test_every_problem_of_a_correction_is_reported_at_once() -> None:
    bad = correction(labels=["refund"], reviewer="", corrected_at="later")
    with pytest.raises(DataError) as caught:
        validate_correction(bad, label_set=LABELS)
    assert [p.column for p in caught.value.problems] == ["labels", "reviewer", "corrected_at"]


def test_an_exclusive_label_set_needs_exactly_one_label() -> None:
    with pytest.raises(DataError, match="exactly one"):
        validate_correction(
            correction(labels=["complaint", "sales_lead"]), label_set=LABELS, exclusive=True
        )


def test_labels_and_urgency_in_the_history_forms() -> None:
    got = validate_correction(
        correction(labels=[], urgency="high", id=42), label_set=LABELS
    )  # [] = corrected to none of the labels; urgency names as in a history
    assert got["labels"] == "" and got["urgency"] == 0.67 and got["id"] == "42"
    assert got["corrected_at"] == datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
    got = validate_correction(correction(labels="complaint;influencer"), label_set=LABELS)
    assert got["labels"] == "complaint;influencer" and got["urgency"] is None


def test_erasing_a_post_removes_its_text_from_the_files(store, tmp_path: Path) -> None:
    put(store, id="keep", text="a post that stays")
    put(store, id="gone", text=f"{MARKER} please call me")
    put(store, id="gone", text=f"{MARKER} please call me", reviewer="agent-9")
    files = sorted(tmp_path.glob("feedback.db*"))
    assert any(MARKER.encode() in f.read_bytes() for f in files)  # the check can fail

    assert store.delete_post("gone") == {"corrections": 2, "posts": 1}
    assert store.delete_post("gone") == {"corrections": 0, "posts": 0}
    for f in tmp_path.glob("feedback.db*"):
        assert MARKER.encode() not in f.read_bytes(), f.name
    assert store.corrections()["id"].tolist() == ["keep"]


def test_export_is_one_row_per_post_with_the_newest_labels_and_urgency(store) -> None:
    put(store, id="a", labels=["complaint"], corrected_at="2026-11-20T09:00:00Z")
    put(store, id="a", labels=..., urgency=0.9, reviewer="lead", corrected_at="2026-11-21T09:00Z")
    put(store, id="b", labels=["sales_lead"], corrected_at="2026-11-19T09:00:00Z")
    put(store, id="b", labels=[], corrected_at="2026-11-22T09:00:00Z")
    put(store, id="c", labels=..., urgency="low", corrected_at="2026-11-10T09:00:00Z")

    out = store.export().set_index("id")
    assert list(out.index) == ["c", "a", "b"]  # by the newest correction's time
    assert out.loc["a", "labels"] == "complaint" and out.loc["a", "urgency"] == 0.9
    assert out.loc["a", "reviewer"] == "lead"
    assert out.loc["a", "corrected_fields"] == "labels;urgency"
    assert out.loc["b", "labels"] == "" and out.loc["b", "corrected_fields"] == "labels"
    assert out.loc["c", "corrected_fields"] == "urgency" and out.loc["c", "urgency"] == 0.0
    assert str(out.loc["a", "corrected_at"]) == "2026-11-21 09:00:00+00:00"

    since = store.export(since=datetime(2026, 11, 21, tzinfo=UTC))
    assert since["id"].tolist() == ["a", "b"]
    assert since.set_index("id").loc["a", "corrected_fields"] == "urgency"


def test_the_url_comes_from_the_argument_the_environment_or_the_project(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TRIAGE_FEEDBACK_URL", raising=False)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert resolve_feedback_url() == f"sqlite:///{tmp_path.resolve() / 'feedback.db'}"
    monkeypatch.setenv("TRIAGE_FEEDBACK_URL", "postgres://u:pw@db:5432/triage")
    assert resolve_feedback_url() == "postgresql+psycopg://u:pw@db:5432/triage"
    assert resolve_feedback_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_bad_url_is_one_clear_error_without_the_password() -> None:
    with pytest.raises(FeedbackStoreError, match="TRIAGE_FEEDBACK_URL") as caught:
        open_store("nosuchdb://user:s3cret@host/db")
    assert "s3cret" not in str(caught.value)


def test_importing_the_package_loads_no_database_library() -> None:
    import subprocess
    import sys

    script = (
        "import sys, triage_ml.feedback as f; "
        "names = dir(f); [getattr(f, n) for n in ('validate_correction', 'merge_training_data')]; "
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'; print(names)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "open_store" in done.stdout and "FeedbackStore" in done.stdout


@pytest.mark.parametrize(
    ("labels", "urgency"),
    [
        (["influencer", "complaint"], None),
        ("complaint; sales_lead", 0.25),
        ([], "Critical"),
        (None, 1),
        (["complaint", "complaint"], 0.0),
        (None, " medium "),
    ],
)
def test_the_quick_path_agrees_with_the_contracts_general_checks(
    labels, urgency, monkeypatch: pytest.MonkeyPatch
) -> None:
    import triage_ml.feedback.corrections as module

    record = correction(labels=labels, urgency=urgency)
    assert (
        module._quick_labels_and_urgency(
            record.get("labels") if not isinstance(labels, list) else ";".join(labels),
            urgency,
            LABELS,
            False,
        )
        is not None
    )  # these take the quick path
    quick = validate_correction(record, label_set=LABELS)
    monkeypatch.setattr(module, "_quick_labels_and_urgency", lambda *a: None)
    general = validate_correction(record, label_set=LABELS)
    assert quick == general
