"""The HTML report as text: every section, self-contained (inline CSS, embedded PNGs), every
value escaped and cells that read as the tables mean. The browser test renders it."""

from __future__ import annotations

import base64
import dataclasses
import re
from datetime import UTC, datetime

import pandas as pd
import pytest

from triage_ml.review.report import HEADINGS, SECTIONS, Col, render_html, table

HOSTILE = ' <script>alert("x")</script> <b>bold</b>'


@pytest.fixture(scope="module")
def result(bundle, canonical_history):
    """A review of 200 posts whose texts carry markup; in-sample probabilities stand in for the
    slow out-of-fold ones (the page does not care where they came from)."""
    from triage_ml.review.run import run_review

    history = canonical_history.tail(200).copy()
    history["text"] = history["text"] + HOSTILE
    proba = bundle.triager.predict_proba(history)
    return run_review(bundle, history, top=8, proba=proba)


@pytest.fixture(scope="module")
def page(result) -> str:
    return render_html(
        result,
        data_source="posts <2026>.csv",
        generated_at=datetime(2026, 11, 22, 10, 15, tzinfo=UTC),
    )


def test_page_has_every_section_in_order(page):
    shown = re.findall(r"<h2>(.*?)</h2>", page)
    assert shown == list(HEADINGS)
    nav = re.findall(r"<nav>.*?</nav>", page, flags=re.S)[0]
    assert re.findall(r'href="#(\w+)"', nav) == list(SECTIONS)
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    assert "2026-11-22 10:15 UTC" in page


def test_page_is_self_contained(page):
    head = page.split("<body>")[0]
    assert "<link" not in head and "<script" not in page
    style = re.findall(r"<style>(.*?)</style>", page, flags=re.S)[0]
    assert ":root" in style and ".chip" in style  # the stylesheet itself, inlined
    assert not re.search(r"https?://", page)
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)">', page)
    assert {alt for _, alt in images} >= {
        "confusion matrix per label",
        "precision-recall curves",
        "calibration plot",
        "error rate by slice",
        "recorded vs predicted urgency",
    }
    for b64, _ in images:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_value_is_escaped(page):
    assert "&lt;script&gt;" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<b>bold</b>" not in page
    assert "posts &lt;2026&gt;.csv" in page


@pytest.mark.parametrize(
    ("value", "col", "css", "text"),
    [
        (3, Col("n", "N", "int"), "num", "3"),
        (12345, Col("n", "N", "int"), "num", "12,345"),
        (0.256, Col("r", "R", "pct"), "num", "26%"),
        (0.004, Col("r", "R", "pct"), "num", "0.4%"),
        (0.12345, Col("q", "Q", "num", 3), "num", "0.123"),
        (float("nan"), Col("q", "Q", "num"), "na", "-"),
        (None, Col("t", "T"), "na", "-"),
        (True, Col("f", "F", "bool"), "flag", "yes"),
        (False, Col("f", "F", "bool"), "flag", ""),
        ("2026-01-05T10:15:00Z", Col("c", "C", "time"), "time", "2026-01-05 10:15"),
        ("p-1", Col("id", "Post", "id"), "id", "p-1"),
    ],
)
def test_cells_read_as_the_column_means(value, col, css, text):
    cell = table(pd.DataFrame({col.name: [value]}), [col]).rows[0][0]
    assert (cell.css, cell.text) == (css, text)


def test_label_chips_and_long_texts():
    frame = pd.DataFrame({"labels": ["complaint;influencer", ""], "text": ["x" * 300, "short"]})
    cols = [Col("labels", "Labels", "labels"), Col("text", "Text", "long"), Col("gone", "G")]
    shown = table(frame, cols)
    assert [c.name for c in shown.columns] == ["labels", "text"]  # absent columns are skipped
    (chips, long), (none, short) = shown.rows
    assert chips.chips == ("complaint", "influencer") and none.chips == ()
    assert long.text == "x" * 237 + "..." and long.title == "x" * 300
    assert short.text == "short" and short.title is None
    empty = table(frame.head(0), cols, "No wrong decisions.")
    assert empty.rows == [] and empty.empty == "No wrong decisions."


def test_empty_tables_say_so(result):
    quiet = dataclasses.replace(result, worst_errors=result.worst_errors.head(0))
    page = render_html(quiet, images={})
    assert '<p class="empty">No wrong decisions.</p>' in page
    assert "<img" not in page


def test_replay_section_only_when_a_replay_is_given(result, bundle, canonical_history, page):
    from triage_ml.replay.run import replay as run_replay
    from triage_ml.review.report import REPLAY_SECTION

    assert 'id="replay"' not in page
    replayed = run_replay(bundle, canonical_history.tail(120), "1-2", 30)
    with_replay = render_html(result, replay=replayed)
    shown = re.findall(r"<h2>(.*?)</h2>", with_replay)
    assert shown == [*HEADINGS, REPLAY_SECTION[1]]
    section = with_replay.split('<section id="replay">')[1].split("</section>")[0]
    assert 'alt="answered in time against the number of agents"' in section
    for title in ("arrival order (FIFO)", "triage-ml priority", "keyword rules", "oracle"):
        assert title in section
    at = replayed.at(replayed.info["featured_agents"])
    assert f"{at.loc['fifo', 'within_deadline']:.0%}" in section
