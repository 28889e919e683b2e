"""Business hours: deadlines that count open time only, across weekends, holidays and DST."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from triage_ml.contract.params import ConfigError
from triage_ml.decide.hours import BusinessHours, business_clock
from triage_ml.decide.playbook import default_playbook_path, parse_playbook, prioritise

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]
WEEKDAYS_9_TO_5 = {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def _book(business_hours: dict | None = None):
    raw = yaml.safe_load(default_playbook_path().read_text())
    if business_hours is not None:
        raw["business_hours"] = business_hours
    return parse_playbook(raw, "brand.yaml")


def _due(book, created: list[str], urgency: float = 0.0) -> list[str]:
    n = len(created)
    predicted = np.zeros((n, len(LABELS)), dtype=bool)
    predicted[:, 0] = True  # a complaint at urgency 0: score 0.25 -> P3, 240 minutes
    prio = prioritise(
        book,
        LABELS,
        predicted,
        np.full(n, urgency),
        pd.Series(pd.to_datetime(created, utc=True)),
        now=pd.Timestamp("2026-01-01T00:00:00Z"),
    )
    assert set(prio.respond_within_minutes) == {240}
    return list(prio.respond_by.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))


LONDON = {"time_zone": "Europe/London", "hours": WEEKDAYS_9_TO_5, "holidays": ["2026-12-28"]}


@pytest.mark.parametrize(
    ("created", "due", "why"),
    [
        ("2026-12-22T10:00:00Z", "2026-12-22T14:00:00Z", "inside one working day"),
        ("2026-12-22T15:00:00Z", "2026-12-23T11:00:00Z", "runs over the night"),
        ("2026-12-22T06:00:00Z", "2026-12-22T13:00:00Z", "arrives before opening"),
        ("2026-12-25T16:30:00Z", "2026-12-29T12:30:00Z", "over a weekend and a holiday"),
        ("2026-12-26T12:00:00Z", "2026-12-29T13:00:00Z", "arrives on a Saturday"),
        ("2026-12-28T10:00:00Z", "2026-12-29T13:00:00Z", "arrives on the holiday"),
        ("2026-12-22T13:00:00Z", "2026-12-22T17:00:00Z", "due at closing time, not next day"),
    ],
)
def test_deadline_counts_business_time_only(created, due, why) -> None:
    assert _due(_book(LONDON), [created]) == [due], why


def test_daylight_saving_is_followed() -> None:
    # London moves to BST (UTC+1) on 2026-03-29: opening at 09:00 local is 08:00 UTC after it
    book = _book({"time_zone": "Europe/London", "hours": WEEKDAYS_9_TO_5})
    assert _due(book, ["2026-03-27T16:00:00Z"]) == ["2026-03-30T11:00:00Z"]


def test_without_business_hours_the_clock_runs_around_the_hour() -> None:
    # the default playbook declares none: 240 wall-clock minutes, weekend or not
    created = ["2026-12-25T16:30:00Z", "2026-12-26T23:00:00Z"]
    assert _due(_book(), created) == ["2026-12-25T20:30:00Z", "2026-12-27T03:00:00Z"]


def test_batch_matches_one_by_one_and_keeps_the_unit() -> None:
    book = _book(LONDON)
    created = ["2026-12-25T16:30:00Z", "2026-12-22T10:00:00Z", "2026-12-26T12:00:00Z"]
    assert _due(book, created) == [_due(book, [c])[0] for c in created]


def test_clock_round_trip_and_collapsed_closed_time() -> None:
    hours = BusinessHours.model_validate(LONDON)
    t = pd.to_datetime(
        ["2026-12-24T16:00:00Z", "2026-12-25T17:00:00Z", "2026-12-27T09:00:00Z"], utc=True
    ).as_unit("ns")
    ns = t.asi8
    clock = business_clock(hours, ns, 600)
    b = clock.elapsed(ns)
    # Friday 17:00 and Sunday 09:00 are the same business instant (closed time in between)
    assert b[1] == b[2]
    assert b[1] - b[0] == 9 * 60 * 60_000_000_000  # 1 h on Thursday + 8 h on Friday
    assert clock.instant(b[:1])[0] == ns[0]


@pytest.mark.parametrize(
    ("business_hours", "message"),
    [
        ({"time_zone": "Mars/Olympus", "hours": WEEKDAYS_9_TO_5}, "unknown time zone"),
        ({"time_zone": "UTC", "hours": {"mon": "9-5"}}, "HH:MM-HH:MM"),
        ({"time_zone": "UTC", "hours": {"mon": "17:00-09:00"}}, "must close after it opens"),
        ({"time_zone": "UTC", "hours": {"mon": "09:00-25:00"}}, "not a time of day"),
        ({"time_zone": "UTC", "hours": {"monday": "09:00-17:00"}}, "business_hours.hours"),
        ({"time_zone": "UTC", "hours": {}}, "at least one open day"),
        ({"hours": WEEKDAYS_9_TO_5}, "business_hours.time_zone"),
    ],
)
def test_invalid_business_hours_are_clear_errors(business_hours, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _book(business_hours)


def test_a_holiday_on_the_only_open_day_moves_to_the_next_week() -> None:
    hours = BusinessHours.model_validate(
        {"time_zone": "UTC", "hours": {"mon": "09:00-17:00"}, "holidays": ["2026-12-28"]}
    )
    clock = business_clock(hours, np.array([pd.Timestamp("2026-12-27T00:00:00Z").value]), 60)
    assert clock.starts[0] == pd.Timestamp("2027-01-04T09:00:00Z").value
