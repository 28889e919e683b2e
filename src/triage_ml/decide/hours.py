"""Business hours: response deadlines that count only the time a helpdesk is open.

A playbook may declare opening hours per weekday, a time zone and holidays, as the SLA
policies of inbox tools do. A deadline of 60 minutes on a post that arrives at 16:30 on a
Friday is then 09:30 on Monday (and on Tuesday when Monday is a holiday).

The arithmetic works on a *business clock*: the open periods laid end to end, so that one
business minute is one minute during which someone is at their desk. :class:`BusinessClock`
maps wall-clock instants onto it (:meth:`~BusinessClock.elapsed`; closed time collapses to a
point) and back (:meth:`~BusinessClock.instant`). Deadlines and the inbox replay both use it,
vectorised over a batch; the open periods are computed once per day of the range in the
declared time zone, so daylight-saving changes are followed.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
_NS_PER_MINUTE = 60_000_000_000
#: How far ahead a clock may look for open time before it calls the calendar empty.
_MAX_DAYS = 366 * 20


class BusinessHours(BaseModel):
    """When the helpdesk is open: ``hours`` per weekday (``"09:00-17:00"``; a day not listed
    is closed), in ``time_zone`` (an IANA name such as ``Europe/London``), except on
    ``holidays`` (dates in that time zone)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str
    hours: dict[Weekday, str]
    holidays: list[dt.date] = []

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            near = sorted(z for z in available_timezones() if z.split("/")[0] in name)[:3]
            hint = f" (e.g. {', '.join(near)})" if near else " such as Europe/London"
            raise ValueError(f"unknown time zone {name!r}; use an IANA name{hint}") from None
        return name

    @field_validator("hours")
    @classmethod
    def _spans(cls, hours: dict[str, str]) -> dict[str, str]:
        if not hours:
            raise ValueError("declare at least one open day, e.g. {mon: '09:00-17:00'}")
        for day, span in hours.items():
            open_, close = _parse_span(span, day)
            if open_ >= close:
                raise ValueError(f"{day}: opening {span!r} must close after it opens")
        return hours

    def open_minutes(self) -> dict[int, tuple[int, int]]:
        """Opening and closing minute of the day, by weekday number (Monday = 0)."""
        return {WEEKDAYS.index(day): _parse_span(span, day) for day, span in self.hours.items()}


def _parse_span(span: str, day: str) -> tuple[int, int]:
    match = _SPAN.match(str(span).strip())
    if not match:
        raise ValueError(
            f"{day}: write opening hours as 'HH:MM-HH:MM' (e.g. '09:00-17:00'), got {span!r}"
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{day}: {span!r} is not a time of day (00:00 to 24:00)")
    return h1 * 60 + m1, h2 * 60 + m2


class BusinessClock:
    """The open periods of ``hours`` over a range of days, as a clock that only runs while open.

    Times are int64 nanoseconds since the epoch (UTC); business time is int64 nanoseconds of
    open time since the first day of the range. Build it with :func:`business_clock`.
    """

    def __init__(self, hours: BusinessHours, first_day: dt.date, n_days: int) -> None:
        zone = ZoneInfo(hours.time_zone)
        spans = hours.open_minutes()
        closed = set(hours.holidays)
        starts, ends = [], []
        for k in range(n_days):
            day = first_day + dt.timedelta(days=k)
            if day in closed or day.weekday() not in spans:
                continue
            open_, close = spans[day.weekday()]
            midnight = dt.datetime.combine(day, dt.time(), tzinfo=zone)
            starts.append(_local(midnight, open_))
            ends.append(_local(midnight, close))
        self.first_day = first_day
        self.n_days = n_days
        self.starts = np.array(starts, dtype=np.int64)
        self.ends = np.array(ends, dtype=np.int64)
        lengths = self.ends - self.starts
        self.cum_end = np.cumsum(lengths)
        self.cum_start = self.cum_end - lengths

    def elapsed(self, t: np.ndarray) -> np.ndarray:
        """Business time at the wall-clock instants ``t`` (closed time counts for nothing)."""
        t = np.asarray(t, dtype=np.int64)
        i = np.searchsorted(self.starts, t, side="right") - 1
        j = np.maximum(i, 0)
        inside = np.minimum(t - self.starts[j], self.ends[j] - self.starts[j])
        return np.where(i >= 0, self.cum_start[j] + np.maximum(inside, 0), 0)

    def instant(self, b: np.ndarray) -> np.ndarray:
        """The wall-clock instant at which business time ``b`` is reached (a deadline that
        falls on a closing time is that closing time, not the next opening)."""
        b = np.asarray(b, dtype=np.int64)
        j = np.searchsorted(self.cum_end, b, side="left")
        if len(self.cum_end) == 0 or (j >= len(self.cum_end)).any():
            raise ValueError("business time past the end of the clock's range")
        return self.starts[j] + (b - self.cum_start[j])

    def covers(self, b: np.ndarray) -> bool:
        return len(self.cum_end) > 0 and bool((np.asarray(b) <= self.cum_end[-1]).all())


def _local(midnight: dt.datetime, minute: int) -> int:
    """Nanoseconds since the epoch of ``minute`` minutes of wall time after local midnight."""
    local = midnight + dt.timedelta(minutes=minute)  # aware arithmetic is wall-clock time
    return int(local.timestamp()) * 1_000_000_000


def business_clock(
    hours: BusinessHours, t: np.ndarray, ahead_minutes: np.ndarray | float = 0
) -> BusinessClock:
    """A clock covering the instants ``t`` (ns since the epoch) and, after each,
    ``ahead_minutes`` of open time; it grows until it does, or says the calendar is empty."""
    t = np.asarray(t, dtype=np.int64)
    first = pd.Timestamp(int(t.min()), tz="UTC").tz_convert(hours.time_zone).date()
    last = pd.Timestamp(int(t.max()), tz="UTC").tz_convert(hours.time_zone).date()
    first -= dt.timedelta(days=1)
    days = (last - first).days + 9
    need = np.asarray(ahead_minutes, dtype=np.int64) * _NS_PER_MINUTE
    while True:
        clock = BusinessClock(hours, first, days)
        if clock.covers(clock.elapsed(t) + need) and clock.cum_end[-1] > clock.elapsed(t).max():
            return clock
        if days > _MAX_DAYS:
            raise ValueError(
                f"business_hours leave no open time within {_MAX_DAYS // 366} years of "
                f"{first}: check the opening hours and holidays"
            )
        days *= 2


def add_business_minutes(hours: BusinessHours, start: pd.Series, minutes: np.ndarray) -> pd.Series:
    """``start`` (UTC timestamps) plus ``minutes`` of open time each: the response deadline."""
    start = pd.to_datetime(start, utc=True)
    unit = start.dt.unit
    t = start.dt.as_unit("ns").astype("int64").to_numpy()
    minutes = np.asarray(minutes, dtype=np.int64)
    if len(t) == 0:
        return start.copy()
    clock = business_clock(hours, t, minutes)
    due = clock.instant(clock.elapsed(t) + minutes * _NS_PER_MINUTE)
    return pd.Series(pd.to_datetime(due, utc=True), index=start.index).dt.as_unit(unit)
