"""The inbox replay: what a helpdesk feels when it works its inbox in triage-ml's order.

A labelled history with real arrival times is replayed through a simulated inbox
(:mod:`~triage_ml.replay.simulate`): K agents, each post taking a fixed number of minutes (or
the playbook's per-label ``handling_minutes``), the playbook's business hours when it declares
them. The same stream is worked in four orders (:mod:`~triage_ml.replay.orderings`) and each
is judged on the *true* labels and urgency: a post's deadline is the one its true labels and
urgency get under the playbook, so a model cannot look better by handing out lax deadlines.

Definitions used in every figure:

- **wait**: wall-clock minutes from the post to the reply going out (handling included),
  what the customer feels. Closed hours count: a post sent on Saturday waits until Monday.
- **within deadline**: the reply went out by the post's true ``respond_by`` (business time
  when the playbook has business hours). An **SLA breach** is a post that missed it.
- **high urgency**: true urgency of at least ``high`` (0.67).
- **keeps up**: the smallest swept K at which even arrival order answers
  :data:`KEEPS_UP_SHARE` of all posts within their deadline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from triage_ml.contract.errors import DataError
from triage_ml.contract.labels import label_matrix
from triage_ml.decide.hours import business_clock
from triage_ml.decide.playbook import Playbook, derived_urgency, prioritise
from triage_ml.decide.scoring import score_posts
from triage_ml.evaluation.metrics import URGENT_FROM
from triage_ml.replay.keywords import KeywordRules, load_keywords
from triage_ml.replay.orderings import ORDERINGS, fifo_rank, priority_rank
from triage_ml.replay.simulate import simulate_inbox

if TYPE_CHECKING:
    from triage_ml.store.bundle import Bundle

#: The headline: the playbook brief's "answer complaints within the hour".
WITHIN_MINUTES = 60
#: Share of all posts within deadline at which arrival order counts as keeping up.
KEEPS_UP_SHARE = 0.95
#: ``agents="auto"`` sweeps K = 1, 2, ... up to this many before giving up.
MAX_AUTO_AGENTS = 400
URGENT_GROUP = "high_urgency"
NO_LABEL_GROUP = "no_label"
JSON_FILE = "replay.json"
SUMMARY_FILE = "replay_summary.csv"
WAITS_FILE = "replay_waits.csv"
_NS_PER_MINUTE = 60_000_000_000

Progress = Callable[[str], None]


@dataclass
class Inbox:
    """One stream of posts in arrival order, with everything the orderings and the judging
    need: arrival and handling minutes on the inbox clock, the truth, and the ranks."""

    ids: np.ndarray
    created: np.ndarray  # ns since the epoch, UTC
    arrival: np.ndarray  # minutes on the inbox clock (business minutes with business hours)
    handling: np.ndarray  # minutes
    due: np.ndarray  # true respond_by, ns since the epoch
    groups: dict[str, np.ndarray]  # true label groups and high urgency, boolean masks
    ranks: dict[str, np.ndarray]
    to_wall: Callable[[np.ndarray], np.ndarray]  # inbox-clock minutes -> ns since the epoch


@dataclass
class ReplayResult:
    """A replay: what was replayed (``info``), one summary row per agents x ordering, and the
    wait of every post at ``info['featured_agents']`` agents, per ordering."""

    info: dict
    summary: pd.DataFrame
    waits: pd.DataFrame

    def at(self, agents: int) -> pd.DataFrame:
        """The summary rows of one staffing level, in ordering order."""
        rows = self.summary[self.summary["agents"] == agents]
        return rows.set_index("ordering").loc[[o for o in ORDERINGS if o in set(rows["ordering"])]]

    def headline(self) -> str:
        """The headline column: complaints within the hour, or every post within deadline."""
        col = f"complaint_within_{WITHIN_MINUTES}"
        return col if col in self.summary.columns else "within_deadline"

    def to_json(self) -> dict:
        return {
            "info": self.info,
            "summary": json.loads(self.summary.to_json(orient="records")),
        }


def arrival_order(
    history: pd.DataFrame, source: str = "the history", row_base: int = 0
) -> pd.DataFrame:
    """The labelled posts sorted by ``created_at`` (ties keep file order): the inbox stream.

    Every post needs a ``created_at`` (the SLA clock starts there) and labels (to judge).
    ``row_base`` 1 names rows as data rows of a file, 0 as positions in the frame."""
    created = history["created_at"]
    missing = np.flatnonzero(created.isna().to_numpy())
    if len(missing):
        raise DataError(
            "the replay needs an arrival time on every post (created_at); give one or drop "
            "those posts",
            source=source,
            column="created_at",
            rows=(missing + row_base).tolist(),
            row_base=row_base,
        )
    unlabelled = np.flatnonzero(history["labels"].isna().to_numpy())
    if len(unlabelled):
        raise DataError(
            "the replay judges orders against the true labels: every post needs a labels cell "
            "(empty means no label)",
            source=source,
            column="labels",
            rows=(unlabelled + row_base).tolist(),
            row_base=row_base,
        )
    order = np.argsort(created.to_numpy(), kind="stable")
    return history.iloc[order].reset_index(drop=True)


def build_inbox(
    frame: pd.DataFrame,
    labels: list[str],
    tier: np.ndarray,
    respond_by: pd.Series,
    playbook: Playbook,
    handling_minutes: float,
    keywords: KeywordRules,
) -> Inbox:
    """The inbox for a stream in arrival order and the model's tier and deadline per post."""
    if not handling_minutes > 0:
        raise ValueError(f"handling minutes must be > 0, got {handling_minutes}")
    n = len(frame)
    created = pd.to_datetime(frame["created_at"], utc=True).dt.as_unit("ns").astype("int64")
    created = created.to_numpy()
    Y = label_matrix(frame, labels).astype(bool)
    urgency = frame["urgency"].to_numpy(dtype=float)
    # no recorded urgency: the playbook's urgency from the true labels, as for the model
    fallback = derived_urgency(playbook, labels, Y.astype(float))
    urgency = np.where(np.isnan(urgency), fallback, urgency)
    truth = prioritise(playbook, labels, Y, urgency, frame["created_at"].reset_index(drop=True))
    due = pd.to_datetime(truth.respond_by, utc=True).dt.as_unit("ns").astype("int64").to_numpy()

    handling = np.full(n, float(handling_minutes))
    per_label = [
        (k, playbook.handling_minutes[lab])
        for k, lab in enumerate(labels)
        if lab in playbook.handling_minutes
    ]
    if per_label:
        has = np.zeros(n, dtype=bool)
        longest = np.zeros(n)
        for k, minutes in per_label:
            longest = np.where(Y[:, k], np.maximum(longest, minutes), longest)
            has |= Y[:, k]
        handling = np.where(has, longest, handling)

    tier_names = [t.name for t in playbook.tiers]
    ranks = {
        "fifo": fifo_rank(n),
        "model": priority_rank(tier, tier_names, respond_by),
        "keywords": keywords.rank(frame["text"]),
        "oracle": priority_rank(truth.tier, tier_names, truth.respond_by),
    }
    groups = {lab: Y[:, k] for k, lab in enumerate(labels) if Y[:, k].any()}
    groups[NO_LABEL_GROUP] = ~Y.any(axis=1)
    groups[URGENT_GROUP] = urgency >= URGENT_FROM - 1e-9

    hours = playbook.business_hours
    if hours is None or n == 0:
        base = int(created.min()) if n else 0
        arrival = (created - base) / _NS_PER_MINUTE

        def to_wall(minutes: np.ndarray) -> np.ndarray:
            return base + np.rint(np.asarray(minutes) * _NS_PER_MINUTE).astype(np.int64)

    else:
        # enough open time ahead to drain the whole stream with one agent, and the deadlines
        ahead = int(np.ceil(handling.sum())) + max(t.respond_within_minutes for t in playbook.tiers)
        clock = business_clock(hours, created, ahead)
        open_time = clock.elapsed(created)
        base = int(open_time.min())
        arrival = (open_time - base) / _NS_PER_MINUTE

        def to_wall(minutes: np.ndarray) -> np.ndarray:
            b = base + np.rint(np.asarray(minutes) * _NS_PER_MINUTE).astype(np.int64)
            return clock.instant(b)

    return Inbox(
        ids=frame["id"].astype(str).to_numpy(),
        created=created,
        arrival=arrival,
        handling=handling,
        due=due,
        groups=groups,
        ranks=ranks,
        to_wall=to_wall,
    )


def serve_inbox(inbox: Inbox, ordering: str, agents: int) -> tuple[np.ndarray, np.ndarray]:
    """Replay the inbox in one order: the wait (minutes) of each post and whether its reply
    went out by its true deadline."""
    served = simulate_inbox(inbox.arrival, inbox.handling, inbox.ranks[ordering], agents)
    answered = inbox.to_wall(served.answered)
    waits = (answered - inbox.created) / _NS_PER_MINUTE
    return waits, answered <= inbox.due


def _share(mask: np.ndarray, within: np.ndarray) -> float | None:
    return round(float(within[mask].mean()), 4) if mask.any() else None


def summarise(inbox: Inbox, ordering: str, agents: int, waits, within) -> dict:
    """One summary row: shares within deadline and the hour per group, breaches, waits."""
    row: dict = {
        "agents": agents,
        "ordering": ordering,
        "posts": len(waits),
        "within_deadline": _share(np.ones(len(waits), dtype=bool), within),
        "sla_breaches": int((~within).sum()),
    }
    soon = waits <= WITHIN_MINUTES + 1e-9
    for group, mask in inbox.groups.items():
        if not mask.any():
            continue
        row[f"{group}_posts"] = int(mask.sum())
        row[f"{group}_within_deadline"] = _share(mask, within)
        row[f"{group}_within_{WITHIN_MINUTES}"] = _share(mask, soon)
        row[f"{group}_wait_median"] = round(float(np.median(waits[mask])), 1)
        row[f"{group}_wait_p90"] = round(float(np.quantile(waits[mask], 0.9)), 1)
    row["wait_median"] = round(float(np.median(waits)), 1) if len(waits) else None
    row["wait_p90"] = round(float(np.quantile(waits, 0.9)), 1) if len(waits) else None
    return row


def agents_sweep(spec: str | int | Sequence[int]) -> list[int] | None:
    """Staffing levels from a CLI value: ``4``, ``1-12``, ``1,2,4,8`` or ``auto`` (``None``:
    sweep until arrival order keeps up)."""
    if isinstance(spec, int):
        values = [spec]
    elif not isinstance(spec, str):
        values = [int(v) for v in spec]
    elif spec.strip().lower() == "auto":
        return None
    else:
        text = spec.replace(" ", "")
        try:
            if "-" in text:
                lo, hi = (int(v) for v in text.split("-", 1))
                values = list(range(lo, hi + 1))
            else:
                values = [int(v) for v in text.split(",") if v]
        except ValueError:
            values = []
    if not values or min(values) < 1:
        raise ValueError(
            f"agents: give a number of agents >= 1, a range such as 1-12, a list such as "
            f"1,2,4,8 or 'auto'; got {spec!r}"
        )
    return sorted(set(values))


def replay(
    bundle: Bundle,
    history: pd.DataFrame,
    agents: str | int | Sequence[int],
    handling_minutes: float,
    playbook: Playbook | None = None,
    keywords: KeywordRules | None = None,
    featured_agents: int | None = None,
    source: str = "the history",
    row_base: int = 0,
    progress: Progress = lambda _: None,
) -> ReplayResult:
    """Replay a canonical labelled history with real arrival times through a simulated inbox,
    in the four orders, at each staffing level of ``agents`` (see :func:`agents_sweep`).

    ``featured_agents`` is the staffing level whose per-post waits are kept (default: the only
    one, or the smallest at which the oracle meets 90% of the deadlines, else the largest).
    ``source`` and ``row_base`` say how errors name the data (see :func:`arrival_order`)."""
    from triage_ml.evaluation.metrics import evaluate

    playbook = playbook or bundle.playbook
    keywords = keywords or load_keywords()
    sweep = agents_sweep(agents)
    frame = arrival_order(history, source, row_base)
    if frame.empty:
        raise DataError("no posts to replay", source=source)
    progress("scoring")
    preds = score_posts(bundle, frame, playbook, validated=True, with_reasons=False)
    labels = list(bundle.labels)
    inbox = build_inbox(
        frame, labels, preds.tier, preds.respond_by, playbook, handling_minutes, keywords
    )
    rows: list[dict] = []
    keeps_up = None
    levels = sweep if sweep is not None else range(1, MAX_AUTO_AGENTS + 1)
    for k in levels:
        progress(f"{k} agents")
        for ordering in ORDERINGS:
            waits, within = serve_inbox(inbox, ordering, k)
            rows.append(summarise(inbox, ordering, k, waits, within))
        fifo = rows[-len(ORDERINGS)]
        if keeps_up is None and fifo["within_deadline"] >= KEEPS_UP_SHARE:
            keeps_up = k
            if sweep is None:
                break
    summary = pd.DataFrame(rows)
    swept = sorted(set(summary["agents"]))
    if featured_agents is None:
        oracle = summary[(summary["ordering"] == "oracle") & (summary["within_deadline"] >= 0.9)]
        featured_agents = int(oracle["agents"].min()) if len(oracle) else swept[-1]
    waits = _waits_at(inbox, featured_agents)

    metrics = evaluate(preds, frame)
    info = {
        "model_version": bundle.model_version,
        "data": source,
        "posts": len(frame),
        "first_post": _iso(inbox.created.min()),
        "last_post": _iso(inbox.created.max()),
        "labels": labels,
        "groups": list(inbox.groups),
        "orderings": list(ORDERINGS),
        "agents": swept,
        "keeps_up_agents": keeps_up,
        "keeps_up_rule": (
            f"smallest K at which arrival order answers {KEEPS_UP_SHARE:.0%} of all posts "
            "within their deadline"
        ),
        "featured_agents": featured_agents,
        "handling_minutes": handling_minutes,
        "handling_minutes_per_label": dict(playbook.handling_minutes),
        "business_hours": (
            playbook.business_hours.model_dump(mode="json") if playbook.business_hours else None
        ),
        "tiers": {t.name: t.respond_within_minutes for t in playbook.tiers},
        "keywords": {
            "source": keywords.source,
            "urgent": len(keywords.urgent),
            "complaint": len(keywords.complaint),
        },
        "within_minutes": WITHIN_MINUTES,
        "model_macro_f1": metrics["macro_f1"],
        "model_f1_per_label": {lab: m["f1"] for lab, m in metrics["per_label"].items()},
    }
    if len(labels) == 1:
        from sklearn.metrics import f1_score

        y = label_matrix(frame, labels)[:, 0]
        info["model_macro_f1_two_class"] = round(
            float(f1_score(y, preds.predicted[:, 0], average="macro", zero_division=0)), 4
        )
    if sweep is None and keeps_up is None:
        info["note"] = f"arrival order did not keep up within {MAX_AUTO_AGENTS} agents"
    return ReplayResult(info=info, summary=summary, waits=waits)


def _waits_at(inbox: Inbox, agents: int) -> pd.DataFrame:
    parts = []
    for ordering in ORDERINGS:
        waits, within = serve_inbox(inbox, ordering, agents)
        part = {"id": inbox.ids, "ordering": ordering, "wait_minutes": np.round(waits, 2)}
        part["within_deadline"] = within
        for group, mask in inbox.groups.items():
            part[f"is_{group}"] = mask
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def write_replay(result: ReplayResult, out_dir: str | Path, plots: bool = True) -> dict[str, Path]:
    """``replay.json`` (info + summary), the summary and per-post waits as CSV, and the two
    plots as PNG (``plots=False`` when matplotlib is not installed)."""
    from triage_ml.contract.tables import write_table

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    path = out_dir / JSON_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    tmp.replace(path)
    written["json"] = path
    for key, name, frame in (
        ("summary", SUMMARY_FILE, result.summary),
        ("waits", WAITS_FILE, result.waits),
    ):
        write_table(frame, out_dir / name)
        written[key] = out_dir / name
    if plots:
        from triage_ml.replay.plots import plot_waits, plot_within_by_agents

        for name, fig in (
            ("waits", plot_waits(result)),
            ("within_deadline_by_agents", plot_within_by_agents(result)),
        ):
            png = out_dir / f"{name}.png"
            fig.savefig(png, dpi=100, facecolor="white")
            written[f"{name}_png"] = png
    return written


def load_replay(path: str | Path) -> ReplayResult:
    """A replay written by :func:`write_replay`: its folder or its ``replay.json``."""
    from triage_ml.contract.params import ConfigError

    path = Path(path)
    file = path / JSON_FILE if path.is_dir() else path
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        info, summary = raw["info"], pd.DataFrame(raw["summary"])
        info["agents"], info["orderings"]  # noqa: B018 - the keys a replay must have
    except FileNotFoundError:
        raise ConfigError(f"{file}: no replay here; write one with 'triage-ml replay'") from None
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{file}: not a replay written by 'triage-ml replay' ({type(err).__name__}: {err})"
        ) from None
    waits_file = file.parent / WAITS_FILE
    waits = pd.read_csv(waits_file) if waits_file.is_file() else pd.DataFrame()
    return ReplayResult(info=info, summary=summary, waits=waits)
