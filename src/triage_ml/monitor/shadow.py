"""Reading a shadow log: how often the challenger agrees with the champion, and who was right.

The service in shadow mode (``TRIAGE_SHADOW_MODEL``, docs/monitoring.md) writes one JSON line
per scored post: ``{"at", "id", "champion": {"model_version", "labels", "tier", "urgency"},
"challenger": {...}}``. :func:`compare_shadow` reports, per label, the share of posts on which
both models made the same decision, and, per champion tier, the share the challenger put in
the same tier. Given agents' corrections (a ``triage-ml feedback export`` file), it counts for
each label which model's decision matched the correction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from triage_ml.contract.errors import DataError

SIDES = ("champion", "challenger")


@dataclass
class ShadowReport:
    n_posts: int
    versions: dict[str, list[str]]
    labels: pd.DataFrame  # label, champion_rate, challenger_rate, agreement
    tiers: pd.DataFrame  # champion tier x challenger tier counts
    tier_agreement: float
    right: pd.DataFrame | None = None  # label, posts, both, champion_only, challenger_only, ...
    notes: list[str] = field(default_factory=list)


def read_shadow_log(path: str | Path) -> pd.DataFrame:
    """The log as one row per post (the newest line wins for a post scored twice)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no shadow log here (set TRIAGE_SHADOW_LOG on the service)")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                row = {"at": record["at"], "id": str(record["id"])}
                for side in SIDES:
                    part = record[side]
                    row[f"{side}_version"] = str(part["model_version"])
                    row[f"{side}_labels"] = list(part["labels"])
                    row[f"{side}_tier"] = str(part["tier"])
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DataError(
                    f"line {number} is not a shadow record ({err}); each line is "
                    '{"at", "id", "champion": {...}, "challenger": {...}}',
                    source=str(path),
                ) from None
            rows.append(row)
    if not rows:
        raise DataError(
            "the shadow log is empty: no post was scored in shadow mode yet", source=str(path)
        )
    frame = pd.DataFrame(rows).sort_values("at", kind="stable")
    return frame.drop_duplicates("id", keep="last").reset_index(drop=True)


def compare_shadow(log: pd.DataFrame, corrections: pd.DataFrame | None = None) -> ShadowReport:
    """Agreement per label and tier; with corrections (canonical: ``id``, ``labels``), which
    model was right per label on the corrected posts."""
    names = sorted({lab for side in SIDES for row in log[f"{side}_labels"] for lab in row})
    rows = []
    for lab in names:
        has = {side: log[f"{side}_labels"].map(lambda x, lab=lab: lab in x) for side in SIDES}
        rows.append(
            {
                "label": lab,
                "champion_rate": float(has["champion"].mean()),
                "challenger_rate": float(has["challenger"].mean()),
                "agreement": float((has["champion"] == has["challenger"]).mean()),
            }
        )
    labels = pd.DataFrame(rows, columns=["label", "champion_rate", "challenger_rate", "agreement"])
    tiers = pd.crosstab(log["champion_tier"], log["challenger_tier"])
    report = ShadowReport(
        n_posts=len(log),
        versions={side: sorted(log[f"{side}_version"].unique()) for side in SIDES},
        labels=labels,
        tiers=tiers,
        tier_agreement=float((log["champion_tier"] == log["challenger_tier"]).mean()),
    )
    if corrections is not None:
        report.right, note = _who_was_right(log, corrections, names)
        report.notes.append(note)
    return report


def _who_was_right(
    log: pd.DataFrame, corrections: pd.DataFrame, names: list[str]
) -> tuple[pd.DataFrame, str]:
    fixed = corrections[corrections["labels"].notna()][["id", "labels"]].copy()
    fixed["id"] = fixed["id"].astype(str)
    fixed["truth"] = fixed["labels"].map(lambda s: {x for x in str(s).split(";") if x})
    joined = log.merge(fixed[["id", "truth"]], on="id", how="inner")
    note = f"{len(joined)} of {len(log)} shadow-scored posts have a label correction"
    all_labels = sorted(set(names) | {x for t in joined["truth"] for x in t})
    rows = []
    for lab in all_labels:
        truth = joined["truth"].map(lambda t, lab=lab: lab in t)
        ok = {s: joined[f"{s}_labels"].map(lambda x, lab=lab: lab in x) == truth for s in SIDES}
        rows.append(
            {
                "label": lab,
                "posts": len(joined),
                "both_right": int((ok["champion"] & ok["challenger"]).sum()),
                "champion_only": int((ok["champion"] & ~ok["challenger"]).sum()),
                "challenger_only": int((~ok["champion"] & ok["challenger"]).sum()),
                "both_wrong": int((~ok["champion"] & ~ok["challenger"]).sum()),
            }
        )
    exact = {
        s: joined.apply(lambda r, s=s: set(r[f"{s}_labels"]) == r["truth"], axis=1) for s in SIDES
    }
    rows.append(
        {
            "label": "(all labels exact)",
            "posts": len(joined),
            "both_right": int((exact["champion"] & exact["challenger"]).sum()),
            "champion_only": int((exact["champion"] & ~exact["challenger"]).sum()),
            "challenger_only": int((~exact["champion"] & exact["challenger"]).sum()),
            "both_wrong": int((~exact["champion"] & ~exact["challenger"]).sum()),
        }
    )
    return pd.DataFrame(rows), note
