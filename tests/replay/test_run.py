"""The replay on synthetic data: the sweep, its invariants, business hours, output files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from triage_ml.contract.errors import DataError
from triage_ml.contract.params import ConfigError
from triage_ml.contract.validation import validate_posts
from triage_ml.decide.playbook import default_playbook_path, parse_playbook, prioritise
from triage_ml.replay.keywords import load_keywords
from triage_ml.replay.run import (
    agents_sweep,
    build_inbox,
    load_replay,
    replay,
    serve_inbox,
    write_replay,
)

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]


@pytest.fixture(scope="module")
def stream(canonical_history) -> pd.DataFrame:
    return canonical_history.tail(300).reset_index(drop=True)


@pytest.fixture(scope="module")
def swept(bundle, stream):
    return replay(bundle, stream, "1-3", 30)


def test_sweep_has_every_order_at_every_staffing_level(swept) -> None:
    summary = swept.summary
    assert len(summary) == 3 * 4
    assert set(summary["ordering"]) == {"fifo", "model", "keywords", "oracle"}
    assert (summary["posts"] == 300).all()
    assert swept.info["agents"] == [1, 2, 3]
    assert 0 < swept.info["model_macro_f1"] <= 1
    # understaffed, sorting matters: the truth's order answers far more complaints in the hour
    one = swept.at(1)
    assert one.loc["oracle", "complaint_within_60"] > one.loc["fifo", "complaint_within_60"] + 0.2
    assert one.loc["model", "complaint_within_60"] > one.loc["fifo", "complaint_within_60"]
    # ... and someone pays: posts without a label wait longer than in arrival order
    assert one.loc["oracle", "no_label_wait_p90"] > one.loc["fifo", "no_label_wait_p90"]


def test_more_agents_never_breach_more_in_arrival_order(swept) -> None:
    fifo = swept.summary[swept.summary["ordering"] == "fifo"].sort_values("agents")
    assert fifo["sla_breaches"].is_monotonic_decreasing


def test_with_an_agent_per_post_every_order_is_the_same(bundle, stream) -> None:
    result = replay(bundle, stream.head(40), 40, 5)
    rows = result.summary.drop(columns="ordering")
    assert (rows.nunique() == 1).all()
    assert result.summary["wait_median"].tolist() == [5.0] * 4
    assert (result.waits["wait_minutes"] == 5.0).all()


def test_auto_sweep_stops_when_arrival_order_keeps_up(bundle, stream) -> None:
    result = replay(bundle, stream, "auto", 30)
    k = result.info["keeps_up_agents"]
    assert result.info["agents"] == list(range(1, k + 1))
    fifo = result.summary[result.summary["ordering"] == "fifo"].set_index("agents")
    assert fifo.loc[k, "within_deadline"] >= 0.95
    assert k == 1 or fifo.loc[k - 1, "within_deadline"] < 0.95


def test_written_replay_reads_back(swept, tmp_path) -> None:
    written = write_replay(swept, tmp_path)
    for key in ("waits_png", "within_deadline_by_agents_png"):
        assert written[key].stat().st_size > 5000
    back = load_replay(tmp_path)
    assert back.info == swept.info
    pd.testing.assert_frame_equal(back.summary, swept.summary, check_dtype=False)
    assert len(back.waits) == 4 * 300


def test_load_replay_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no replay here"):
        load_replay(tmp_path)
    (tmp_path / "replay.json").write_text("{}")
    with pytest.raises(ConfigError, match="replay.json: not a replay"):
        load_replay(tmp_path)


def test_posts_without_arrival_time_are_named(bundle, stream) -> None:
    broken = stream.head(5).copy()
    broken.loc[2, "created_at"] = pd.NaT
    with pytest.raises(DataError, match=r"h.csv, column 'created_at', row 2 \(0-based"):
        replay(bundle, broken, 2, 5, source="h.csv")


@pytest.mark.parametrize(
    ("spec", "levels"),
    [("4", [4]), ("1-3", [1, 2, 3]), ("8,2,4", [2, 4, 8]), ("auto", None), (3, [3])],
)
def test_agents_sweep(spec, levels) -> None:
    assert agents_sweep(spec) == levels


@pytest.mark.parametrize("spec", ["0", "3-1", "x", "", "-2"])
def test_bad_agents_are_clear(spec) -> None:
    with pytest.raises(ValueError, match="agents: give a number"):
        agents_sweep(spec)


# --------------------------------------------------------------------------------------------
# business hours: Mon-Fri 09:00-17:00 UTC, one agent, 20 minutes a post

POSTS = pd.DataFrame(
    {
        "id": ["fri", "sat", "mon"],
        "text": ["my bag is lost", "nice plane", "still no refund"],
        "created_at": ["2026-12-04T16:50:00Z", "2026-12-05T10:00:00Z", "2026-12-07T09:05:00Z"],
        "labels": ["complaint", "", "complaint"],
        "urgency": ["low", "low", "low"],
    }
)


def _inbox():
    raw = yaml.safe_load(default_playbook_path().read_text())
    raw["business_hours"] = {
        "time_zone": "UTC",
        "hours": {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
    }
    book = parse_playbook(raw)
    frame, _ = validate_posts(POSTS, label_set=LABELS, require_labels=True)
    Y = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=bool)
    truth = prioritise(book, LABELS, Y, np.zeros(3), frame["created_at"])
    return build_inbox(frame, LABELS, truth.tier, truth.respond_by, book, 20, load_keywords())


def test_business_hours_replay_by_hand() -> None:
    inbox = _inbox()
    # arrival order: Friday's post gets 10 minutes on Friday and 10 on Monday (09:10); the
    # Saturday post waits for Monday's opening, then for the agent (09:30); Monday's at 09:50
    waits, within = serve_inbox(inbox, "fifo", 1)
    assert waits.tolist() == [3 * 1440 - 7 * 60 - 50 + 10, 2 * 1440 - 60 + 30, 45]
    # the complaint deadline (P3, 240 business minutes) is met although days passed
    assert within.tolist() == [True, True, True]
    # the truth's order serves Monday's complaint before Saturday's unlabelled post
    waits, _ = serve_inbox(inbox, "oracle", 1)
    assert waits.tolist() == [3 * 1440 - 7 * 60 - 50 + 10, 2 * 1440 - 60 + 50, 25]


def test_playbook_handling_minutes_per_label_win_over_the_default() -> None:
    raw = yaml.safe_load(default_playbook_path().read_text())
    raw["handling_minutes"] = {"complaint": 12, "influencer": 30}
    book = parse_playbook(raw)
    frame, _ = validate_posts(POSTS, label_set=LABELS, require_labels=True)
    Y = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=bool)
    truth = prioritise(book, LABELS, Y, np.zeros(3), frame["created_at"])
    inbox = build_inbox(frame, LABELS, truth.tier, truth.respond_by, book, 4, load_keywords())
    assert inbox.handling.tolist() == [12.0, 4.0, 12.0]


def test_public_names_resolve() -> None:
    import triage_ml.replay as package

    for name in dir(package):
        value = getattr(package, name)
        assert getattr(value, "__module__", "triage_ml.replay.").startswith("triage_ml.replay.")
    assert callable(package.simulate_inbox) and callable(package.replay)
