"""The review functions on a small fitted model: confusion, worst errors and their evidence,
slices, urgency misses, confident learning, export -> import round trip, PII masking, CLI."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from triage_ml.contract.errors import DataError
from triage_ml.contract.readers import read_table
from triage_ml.contract.tables import write_table
from triage_ml.contract.validation import validate_posts
from triage_ml.review import tables as review

PII = " Reach me at jane.doe@example.com or +44 20 7946 0958, card 4111 1111 1111 1111."
PII_RAW = ("jane.doe@example.com", "7946 0958", "4111 1111 1111 1111")


@pytest.fixture(scope="module")
def data(bundle, canonical_history):
    """The latest 300 posts of the fixture history, scored once."""
    return review.prepare(bundle, canonical_history.tail(300))


# --------------------------------------------------------------------------------------------
# PII masking: one row per rule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe@example.com please", "mail me at [email] please"),
        ("JOHN_SMITH+orders@mail.co.uk", "[email]"),
        ("jane [at] example [dot] com", "[email]"),
        ("jane(at)example.com", "[email]"),
        ("jane dot doe at gmail dot com", "[email]"),
        ("call +44 20 7946 0958 now", "call [phone] now"),
        ("+1 (555) 123-4567", "[phone]"),
        ("(555) 123-4567", "[phone]"),
        ("555-123-4567", "[phone]"),
        ("555.123.4567", "[phone]"),
        ("ring 020 7946 0958", "ring [phone]"),
        ("07700 900123", "[phone]"),
        ("07700900123", "[phone]"),
        ("+33612345678", "[phone]"),
        ("card 4111 1111 1111 1111 was charged", "card [card] was charged"),
        ("4111-1111-1111-1111", "[card]"),
        ("4111111111111111", "[card]"),
        ("amex 3782 822463 10005", "amex [card]"),
        ("two: a@b.io and 555-123-4567", "two: [email] and [phone]"),
        # left alone: what analysts need to read and is not personal
        ("order #LM482133 still not here", "order #LM482133 still not here"),
        ("@LumoraHelp my order", "@LumoraHelp my order"),
        ("paid £129.99 on 2026-01-05 at 10:15", "paid £129.99 on 2026-01-05 at 10:15"),
        ("rated 5/5, firmware v2.1.3", "rated 5/5, firmware v2.1.3"),
        ("card ending 4242 was declined", "card ending 4242 was declined"),
        ("https://lumora.example.com/help", "https://lumora.example.com/help"),
        ("meet at the store at noon", "meet at the store at noon"),
    ],
)
def test_mask_pii(text, expected):
    assert review.mask_pii(text) == expected
    masked = review.mask_pii(pd.Series([text, None], index=[7, 9]))
    assert masked[7] == expected and pd.isna(masked[9])


# --------------------------------------------------------------------------------------------
# confusion picture


def test_label_summary_counts_add_up(data):
    summary = review.label_summary(data)
    n = len(data.frame)
    assert list(summary["label"]) == data.labels
    cells = summary[["true_pos", "false_pos", "false_neg", "true_neg"]].sum(axis=1)
    assert (cells == n).all()
    assert (summary["labelled"] == summary["true_pos"] + summary["false_neg"]).all()
    assert summary["f1"].between(0, 1).all()


def test_curves_and_calibration_cover_every_label(data):
    curves = review.pr_curves(data)
    assert set(curves["label"]) == set(data.labels)
    assert curves[["precision", "recall"]].stack().between(0, 1).all()
    calib = review.calibration_table(data)
    assert calib.groupby("label")["posts"].sum().eq(len(data.frame)).all()


# --------------------------------------------------------------------------------------------
# worst errors


def test_worst_errors_are_wrong_and_most_confident_first(data):
    errors = review.worst_errors(data, top=15)
    assert 0 < len(errors) <= 15
    assert errors["confidence"].is_monotonic_decreasing
    index = {pid: i for i, pid in enumerate(data.frame["id"])}
    for row in errors.itertuples(index=False):
        i, k = index[row.id], data.labels.index(row.label)
        predicted = bool(data.predictions.predicted[i, k])
        assert predicted != bool(data.Y[i, k])
        assert row.error == ("false positive" if predicted else "false negative")
        assert row.confidence >= 0.5 or row.error == "false negative"


def test_worst_error_evidence_is_the_api_reasons(data):
    """For a wrongly predicted label, the terms for it are exactly what the API returned."""
    errors = review.worst_errors(data, top=len(data.frame) * len(data.labels))
    false_pos = errors[errors["error"] == "false positive"]
    assert len(false_pos) > 0
    index = {pid: i for i, pid in enumerate(data.frame["id"])}
    for row in false_pos.itertuples(index=False):
        reasons = data.predictions.reasons[index[row.id]]
        expected = ", ".join(
            f"{r['signal']} ({r['weight']:+g})" for r in reasons if r["label"] == row.label
        )
        assert row.evidence_for == expected


def test_worst_errors_by_label(data):
    errors = review.worst_errors(data, top=3, per_label=True)
    assert errors.groupby("label").size().le(3).all()
    only = review.worst_errors(data, top=50, label="complaint")
    assert set(only["label"]) <= {"complaint"}
    with pytest.raises(ValueError, match="unknown label"):
        review.worst_errors(data, label="refund")


def test_tables_mask_pii(data):
    frame = data.frame.assign(text=data.frame["text"] + PII)
    dirty = dataclasses.replace(data, frame=frame)
    shown = pd.concat(
        [
            review.worst_errors(dirty, top=10)["text"],
            review.urgency_underestimates(dirty, top=10)["text"],
            review.relabel_export(frame, ids=frame["id"].head(5).tolist())["text"],
        ]
    )
    joined = "\n".join(shown)
    assert "[email]" in joined and "[phone]" in joined and "[card]" in joined
    for raw in PII_RAW:
        assert raw not in joined


# --------------------------------------------------------------------------------------------
# slices


@pytest.mark.parametrize(
    ("followers", "tier"),
    [(0, "<1k"), (999, "<1k"), (1000, "1k-10k"), (25_000, "10k-100k"), (2_000_000, "1M+")],
)
def test_follower_tier(followers, tier):
    assert review.follower_tier(pd.Series([followers]))[0] == tier


def test_follower_tier_unknown_and_lengths():
    assert review.follower_tier(pd.Series([np.nan]))[0] == "unknown"
    lengths = review.length_bucket(pd.Series(["x" * 10, "x" * 100, "x" * 200, "x" * 300]))
    assert list(lengths.astype(str)) == [
        "<80 chars",
        "80-159 chars",
        "160-279 chars",
        "280+ chars",
    ]


def test_time_bucket_weeks_and_months():
    weeks = review.time_bucket(pd.Series(pd.to_datetime(["2026-01-07", "2026-01-12"], utc=True)))
    assert list(weeks) == ["week of 2026-01-05", "week of 2026-01-12"]
    months = review.time_bucket(pd.Series(pd.to_datetime(["2026-01-07", "2026-09-12"], utc=True)))
    assert list(months) == ["2026-01", "2026-09"]
    assert list(review.time_bucket(pd.Series([pd.NaT, pd.NaT]))) == ["unknown", "unknown"]


def test_slice_error_rates_partition_the_posts(data):
    slices = review.slice_error_rates(data)
    assert set(slices["slice"]) == set(review.SLICES)
    n, wrong = len(data.frame), int(data.wrong.any(axis=1).sum())
    for _, part in slices.groupby("slice"):
        assert part["posts"].sum() == n
        assert part["wrong_posts"].sum() == wrong
    assert (slices["error_rate_low"] <= slices["error_rate"] + 1e-9).all()
    assert (slices["error_rate"] <= slices["error_rate_high"] + 1e-9).all()


# --------------------------------------------------------------------------------------------
# urgency


def test_urgency_underestimates(data):
    under = review.urgency_underestimates(data, top=10)
    assert len(under) > 0
    assert (under["urgency"] >= review.URGENT_FROM).all()
    assert under["shortfall"].is_monotonic_decreasing
    np.testing.assert_allclose(
        under["shortfall"], under["urgency"] - under["predicted_urgency"], atol=2e-3
    )
    tiers = [t.name for t in data.playbook.tiers]  # most urgent first
    for given, recorded, short in zip(
        under["tier_given"], under["tier_if_recorded_urgency"], under["shortfall"], strict=True
    ):
        if short > 0:  # more urgency never lowers priority
            assert tiers.index(recorded) <= tiers.index(given)


# --------------------------------------------------------------------------------------------
# suspected mislabelled rows


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

    oof = review.out_of_fold_probabilities(triager, history, params)
    suspects = review.suspected_mislabels(history, oof, triager, top=None)
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
        review.out_of_fold_probabilities(triager, history, params)


# --------------------------------------------------------------------------------------------
# export -> import round trip


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


# --------------------------------------------------------------------------------------------
# the whole review and the command


def test_review_scope_uses_held_out_posts_of_the_training_history(canonical_history, params):
    from triage_ml.contract.digest import fingerprint

    meta = {"data_fingerprint": fingerprint(canonical_history)}
    scoped, note = review.review_scope(canonical_history, params, meta)
    assert len(scoped) == round(len(canonical_history) * params.split.test_size)
    assert "held-out" in note
    scoped, note = review.review_scope(canonical_history.head(100), params, meta)
    assert len(scoped) == 100 and "all 100" in note


def test_cli_review_writes_tables_and_report(tmp_path, bundle_dir, canonical_history):
    from typer.testing import CliRunner

    from triage_ml.cli import app

    history = canonical_history.tail(300).copy()
    history["text"] = history["text"] + PII
    data_path = tmp_path / "posts.csv"
    write_table(history, data_path)
    out = tmp_path / "review"
    args = ["review", "--model", str(bundle_dir), "--data", str(data_path), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--top", "10"])
    assert result.exit_code == 0, result.output
    for name in (
        "label_summary",
        "worst_errors",
        "slice_errors",
        "suspected_mislabels",
        "urgency_underestimates",
        "relabel",
    ):
        table = pd.read_csv(out / f"{name}.csv")
        assert len(table) > 0, name
    page = (out / "report.html").read_text(encoding="utf-8")
    for heading in ("Worst errors", "Error rates by slice", "Suspected mislabelled rows"):
        assert f"<h2>{heading}</h2>" in page
    assert not re.search(r"https?://(?!www\.w3\.org)", page.split("<body>")[0])  # offline
    everything = page + "".join((out / f).read_text() for f in ("relabel.csv", "worst_errors.csv"))
    for raw in PII_RAW:
        assert raw not in everything
    relabel = review.read_corrections(out / "relabel.csv")
    assert relabel["id"].isin(history["id"]).all()

    missing = CliRunner().invoke(
        app,
        [
            "review",
            "--model",
            str(bundle_dir),
            "--data",
            str(tmp_path / "x.csv"),
            "--out",
            str(out),
        ],
    )
    assert missing.exit_code == 2
    assert "x.csv" in missing.output and "Traceback" not in missing.output
