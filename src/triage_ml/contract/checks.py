"""The general checks, one function per column, each returning the column in canonical form.

They collect problems in a :class:`_Checks` instead of raising, so that one run reports every
broken column at once; :func:`triage_ml.contract.validation.validate_posts` raises at the end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage_ml.contract.columns import (
    DATE_RANGE,
    ID_RULE,
    MAX_TEXT_CHARS,
    MAX_YEAR,
    MIN_YEAR,
    URGENCY_LEVELS,
)
from triage_ml.contract.errors import _SHOW_ROWS, DataError, _count, _short
from triage_ml.contract.fastpath import _strings
from triage_ml.contract.readers import _id_as_str, _inexact_ids

_SHOW_VALUES = 5
_BOOLEANS = {
    "true": 1.0,
    "false": 0.0,
    "yes": 1.0,
    "no": 0.0,
    "y": 1.0,
    "n": 0.0,
    "t": 1.0,
    "f": 0.0,
    "1": 1.0,
    "0": 0.0,
    "1.0": 1.0,
    "0.0": 0.0,
}


class _Checks:
    """Collects problems so one run reports every broken column, not only the first."""

    def __init__(self, source: str, row_base: int) -> None:
        self.source = source
        self.row_base = row_base
        self.problems: list[DataError] = []

    def rows(self, mask: np.ndarray) -> list[int]:
        return (np.flatnonzero(mask) + self.row_base).tolist()

    def add(self, column: str | None, mask: np.ndarray | None, reason: str) -> None:
        rows = self.rows(mask) if mask is not None else None
        self.problems.append(
            DataError(reason, source=self.source, column=column, rows=rows, row_base=self.row_base)
        )

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        if len(self.problems) == 1:
            raise self.problems[0]
        first = self.problems[0]
        lines = [f"{len(self.problems)} problems found:"]
        lines += [f"  - {p._compose(with_source=False)}" for p in self.problems]
        raise DataError(
            "\n".join(lines),
            source=self.source,
            column=first.column,
            rows=first.rows,
            row_base=self.row_base,
            problems=self.problems,
        )


def _values(series: pd.Series, mask: np.ndarray) -> str:
    """The first few distinct offending values, quoted and shortened (lists and objects from
    JSON included, which cannot be hashed)."""
    shown: dict[str, None] = {}
    for value in series[mask].astype(object):
        shown.setdefault(_short(repr(value), 40))
        if len(shown) == _SHOW_VALUES:
            break
    return ", ".join(shown)


_CONTAINERS = (list, tuple, dict, set, np.ndarray)


def _check_not_containers(series: pd.Series | None, column: str, checks: _Checks) -> np.ndarray:
    """Rows holding a list or an object (JSON arrays and objects) where text is expected; their
    text form ("[1, 2]") would otherwise pass for a value."""
    if series is None or series.dtype != object:
        return np.zeros(0 if series is None else len(series), dtype=bool)
    found = np.fromiter(
        (isinstance(v, _CONTAINERS) for v in series.to_numpy(dtype=object)),
        dtype=bool,
        count=len(series),
    )
    if found.any():
        checks.add(
            column,
            found,
            f"found {_values(series, found)}; {column} must be a single value (text), "
            "not a list or an object",
        )
    return found


def _check_ids(series: pd.Series, checks: _Checks) -> pd.Series:
    inexact = _inexact_ids(series)
    if inexact.any():
        checks.add("id", inexact, f"found {_values(series, inexact)}; {ID_RULE}")
    inexact |= _check_not_containers(series, "id", checks)  # reported: not missing, not dup
    raw = _id_as_str(series)
    if inexact.any():  # their text is never used (the error is raised), and lists cannot hash
        raw = pd.Series(np.where(inexact, "", raw.to_numpy(dtype=object)), dtype="str")
    trimmed, missing = _strings(raw)
    missing = missing & ~inexact
    if missing.any():
        checks.add("id", missing, "id is missing or empty; every post needs a unique id")
    dup = raw.duplicated(keep=False).to_numpy() & ~missing & ~inexact
    if dup.any():
        groups = pd.Series(np.flatnonzero(dup) + checks.row_base, index=raw[dup].to_numpy())
        described = []
        for value, rows in list(groups.groupby(level=0, sort=False))[:_SHOW_ROWS]:
            shown = ", ".join(map(str, list(rows)[:_SHOW_ROWS]))
            etc = ", ..." if len(rows) > _SHOW_ROWS else ""
            described.append(f"{_short(repr(value), 40)} at rows {shown}{etc}")
        n_ids = raw[dup].nunique()
        more = f" (and {n_ids - _SHOW_ROWS} more ids)" if n_ids > _SHOW_ROWS else ""
        checks.add(
            "id",
            dup,
            f"duplicate ids: {'; '.join(described)}{more}; ids must be unique",
        )
    return raw.where(~missing, "").astype("str")


def _check_text(series: pd.Series, checks: _Checks) -> pd.Series:
    containers = _check_not_containers(series, "text", checks)
    if containers.any():
        series = series.where(~containers, "-")  # reported above; not counted as empty too
    text, empty = _strings(series)
    if empty.any():
        checks.add(
            "text",
            empty,
            f"text is missing or empty; a post needs 1 to {MAX_TEXT_CHARS:,} characters",
        )
    lengths = text.str.len().fillna(0).to_numpy()
    long = lengths > MAX_TEXT_CHARS
    if long.any():
        found = ", ".join(f"{int(x):,}" for x in lengths[long][:_SHOW_VALUES])
        checks.add(
            "text",
            long,
            f"text is too long ({found} characters after trimming); "
            f"at most {MAX_TEXT_CHARS:,} characters are allowed",
        )
    return text.where(~empty, "").astype("str")


def _check_created_at(series: pd.Series | None, n: int, checks: _Checks) -> pd.Series:
    if series is None:
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        series.dtype
    ):
        years = series.dt.year.to_numpy(dtype="float64", na_value=np.nan)
        _check_years(series, years, checks)
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            return series.dt.tz_convert("UTC").dt.as_unit("us").reset_index(drop=True)
        return series.dt.tz_localize("UTC").dt.as_unit("us").reset_index(drop=True)
    text, absent = _strings(series.astype(object))
    parsed = pd.to_datetime(text.where(~absent), utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy() & ~absent
    if bad.any():
        checks.add(
            "created_at",
            bad,
            f"cannot read {_values(series, bad)} as a date-time; use ISO-8601, "
            "e.g. 2024-05-01T09:30:00Z (a time without offset is taken as UTC)",
        )
    # the year as written (ISO-8601 starts with it), so that an offset never moves a date out
    years = pd.to_numeric(text.str.slice(0, 4).where(~absent & ~bad), errors="coerce")
    _check_years(series, years.to_numpy(dtype="float64", na_value=np.nan), checks)
    return parsed.dt.as_unit("us")


def _check_years(series: pd.Series, years: np.ndarray, checks: _Checks) -> None:
    with np.errstate(invalid="ignore"):
        outside = (years < MIN_YEAR) | (years > MAX_YEAR)
    if outside.any():
        checks.add(
            "created_at",
            outside,
            f"found {_values(series, outside)}; created_at must be a date from {DATE_RANGE} "
            "(the year as written, before any offset)",
        )


def _check_channel(series: pd.Series | None, n: int) -> pd.Series:
    if series is None:
        return pd.Series("unknown", index=range(n), dtype="str")
    text, absent = _strings(series)
    return text.str.lower().where(~absent, "unknown").astype("str")


def _check_followers(series: pd.Series | None, n: int, checks: _Checks) -> pd.Series:
    if series is None:
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if pd.api.types.is_bool_dtype(series.dtype):
        checks.add(
            "author_followers",
            np.ones(n, dtype=bool),
            "found true/false values; author_followers is a follower count (an integer >= 0)",
        )
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64")
        absent = values.isna().to_numpy()
    else:
        text, absent = _strings(series.astype(object))
        values = pd.to_numeric(text.where(~absent), errors="coerce").astype("float64")
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    non_numeric = np.isnan(arr) & ~absent
    if non_numeric.any():
        checks.add(
            "author_followers",
            non_numeric,
            f"found {_values(series, non_numeric)}; author_followers must be a whole number "
            ">= 0 (no thousands separators), or empty when unknown",
        )
    with np.errstate(invalid="ignore"):
        out_of_range = (arr < 0) | np.isinf(arr)
    if out_of_range.any():
        checks.add(
            "author_followers",
            out_of_range,
            f"found {_values(series, out_of_range)}; author_followers must be >= 0",
        )
    return pd.Series(np.where(non_numeric | out_of_range, np.nan, arr), dtype="float64")


def _check_verified(series: pd.Series | None, n: int, checks: _Checks) -> pd.Series:
    if series is None:
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64").reset_index(drop=True)
    text, absent = _strings(series.astype(object))
    mapped = text.str.lower().map(_BOOLEANS).astype("float64")
    bad = mapped.isna().to_numpy() & ~absent
    if bad.any():
        checks.add(
            "author_verified",
            bad,
            f"found {_values(series, bad)}; author_verified must be a boolean: "
            "true/false, yes/no or 1/0 (empty when unknown)",
        )
    return mapped.where(~(absent | bad)).astype("float64")


def _check_labels(
    series: pd.Series | None,
    n: int,
    declared: list[str],
    exclusive: bool,
    checks: _Checks,
) -> tuple[pd.Series, np.ndarray]:
    k = len(declared)
    if series is None:
        return pd.Series([None] * n, dtype=object), np.zeros((n, k), dtype=np.int8)
    if series.dtype == object:
        # JSON arrays (["complaint", "influencer"]) are a natural way to write a label list.
        series = series.map(
            lambda v: ";".join(str(x) for x in v) if isinstance(v, list | tuple | np.ndarray) else v
        )
    null = series.isna().to_numpy()
    cells = series.where(~null, None).astype("str").fillna("")
    tokens = cells.str.split(";").explode().str.strip()
    tokens = tokens[tokens != ""]
    known = tokens.isin(declared)
    if not known.all():
        unknown = tokens[~known]
        bad = np.zeros(n, dtype=bool)
        bad[unknown.index.unique().to_numpy()] = True
        found = ", ".join(_short(repr(v), 40) for v in unknown.unique()[:10])
        hint = ""
        lowered = {d.lower(): d for d in declared}
        near = [v for v in unknown.unique() if v.lower() in lowered]
        if near:
            hint = (
                f" (labels are case-sensitive: {near[0]!r} should be {lowered[near[0].lower()]!r})"
            )
        checks.add(
            "labels",
            bad,
            f"unknown label {found}; the declared labels are {', '.join(declared)} "
            f"(';'-separated, empty = none; declared in params.yaml){hint}",
        )
        tokens = tokens[known]
    indicators = np.zeros((n, k), dtype=np.int8)
    if len(tokens):
        codes = pd.Categorical(tokens, categories=declared).codes
        indicators[tokens.index.to_numpy(), codes] = 1  # duplicates in a cell collapse to 1
    if exclusive:
        count = indicators.sum(axis=1)
        wrong = (count != 1) & ~null
        if not known.all():
            wrong &= ~bad
        if wrong.any():
            found = ", ".join(_short(repr(v), 40) for v in pd.unique(cells[wrong])[:_SHOW_VALUES])
            checks.add(
                "labels",
                wrong,
                f"found {found}; the label set is exclusive, so each labelled post needs exactly "
                f"one of {', '.join(declared)}",
            )
    joined = pd.Series("", index=range(n), dtype=object)
    for j, label in enumerate(declared):  # a loop over labels, not rows
        has = indicators[:, j].astype(bool)
        joined = joined.where(~has, np.where(joined == "", label, joined + ";" + label))
    joined = joined.where(~null, None).astype(object)
    return joined, indicators


def _check_urgency(series: pd.Series | None, n: int, checks: _Checks) -> pd.Series:
    if series is None:
        return pd.Series(np.nan, index=range(n), dtype="float64")
    levels = ", ".join(URGENCY_LEVELS)
    valid = f"a number in [0, 1] or one of {levels} (not both in one file)"
    if pd.api.types.is_bool_dtype(series.dtype):
        checks.add("urgency", np.ones(n, dtype=bool), f"found true/false; urgency must be {valid}")
        return pd.Series(np.nan, index=range(n), dtype="float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64").to_numpy(dtype="float64", na_value=np.nan)
        absent = np.isnan(values)
        named = np.zeros(n, dtype=bool)
        numeric = ~absent
        name_values = np.full(n, np.nan)
    else:
        text, absent = _strings(series.astype(object))
        values = pd.to_numeric(text.where(~absent), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        numeric = ~np.isnan(values) & ~absent
        name_values = (
            text.str.lower().map(URGENCY_LEVELS).to_numpy(dtype="float64", na_value=np.nan)
        )
        named = ~np.isnan(name_values) & ~absent
        unknown = ~absent & ~numeric & ~named
        if unknown.any():
            checks.add(
                "urgency", unknown, f"found {_values(series, unknown)}; urgency must be {valid}"
            )
        if numeric.any() and named.any():
            minority = named if named.sum() <= numeric.sum() else numeric
            checks.add(
                "urgency",
                minority,
                f"names and numbers are mixed: {_count(int(named.sum()))} use names "
                f"({levels}) and {_count(int(numeric.sum()))} use numbers; pick one form for the "
                f"whole file (the rows shown use the less common form)",
            )
    with np.errstate(invalid="ignore"):
        out_of_range = numeric & ~((values >= 0) & (values <= 1))
    if out_of_range.any():
        checks.add(
            "urgency",
            out_of_range,
            f"found {_values(series, out_of_range)}; urgency must be {valid}",
        )
    result = np.where(named, name_values, np.where(numeric & ~out_of_range, values, np.nan))
    return pd.Series(result, dtype="float64")
