"""Inbox replay on real traffic: Twitter US Airline Sentiment (February 2015).

    .venv/bin/python -m benchmarks.replay_airline [--datasets ../shared/datasets]
        [--out reports/replay-airline] [--suggest-keywords]

14,640 real tweets to six US airlines with their posting times, crowd-labelled sentiment and,
for negative tweets, the reason. We train a linear triage-ml model on the days up to
2015-02-21 (Pacific time) and replay the days from 2015-02-22 through a simulated inbox with
K agents, K = 1, 2, ... until arrival order keeps up (answers 95% of posts within their
deadline), in four orders: arrival (FIFO), triage-ml priority, keyword rules, oracle.

The mapping from the data set to our contract (decided before the first run, and why):

- ``created_at``: ``tweet_created`` is local US Pacific time (the Kaggle original carries a
  -0800 offset; this copy lost the offset and the seconds), converted to UTC. Tweets of the
  same minute keep file order.
- ``labels``: ``complaint`` when the sentiment is negative *and* the crowd named a concrete
  reason (anything but "Can't Tell"): a grievance an agent can act on. Negative tweets with
  "Can't Tell" are venting without a stated problem, and neutral or positive tweets carry no
  label. The data set has no sales leads, product reviews or follower counts, so
  ``sales_lead`` and ``influencer`` are not learned and no figure about them is reported.
- ``urgency`` (the contract's names): ``critical`` for Cancelled Flight and Lost Luggage (a
  traveller is stranded or without bags: rebooking or a claim has to start now); ``high`` for
  Late Flight and Flight Booking Problems (a connection or a booking at stake, fixable today);
  ``medium`` for the other negative reasons (customer service, flight attendants, bad flight,
  long lines, damaged luggage) and for negative "Can't Tell"; ``low`` for neutral and positive.
- Handling time: :data:`HANDLING_MINUTES` per post, every post, fixed before the first run.
  A reply on Twitter with a look-up in the booking system; positive and neutral tweets are
  answered too (a like or a thank-you also takes an agent's turn in the inbox).
- Hours: airline social care answers around the clock, so the playbook declares no business
  hours (benchmarks/params/replay-airline-playbook.yaml): every minute counts.
- Keyword rules: benchmarks/params/replay-airline-keywords.yaml, chosen by hand from the
  terms ``--suggest-keywords`` prints, which reads the training days only.

Writes ``replay.json``, the CSVs and the two PNGs under ``--out`` (default reports/replay-airline)
and prints the headline: complaints answered within 60 minutes, per order, across the sweep.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Minutes an agent spends on one post. Fixed before the first run; do not tune it on results.
HANDLING_MINUTES = 5.0
#: The replayed days start here (US Pacific); everything before trains the model.
REPLAY_FROM = "2015-02-22"
TIME_ZONE = "America/Los_Angeles"
DATASET = "twitter-airline-sentiment"
PARAMS_DIR = Path(__file__).resolve().parent / "params"
PLAYBOOK = PARAMS_DIR / "replay-airline-playbook.yaml"
KEYWORDS = PARAMS_DIR / "replay-airline-keywords.yaml"
PARAMS = PARAMS_DIR / "replay-airline.yaml"

URGENCY_BY_REASON = {
    "Cancelled Flight": "critical",
    "Lost Luggage": "critical",
    "Late Flight": "high",
    "Flight Booking Problems": "high",
    "Customer Service Issue": "medium",
    "Flight Attendant Complaints": "medium",
    "Bad Flight": "medium",
    "longlines": "medium",
    "Damaged Luggage": "medium",
    "Can't Tell": "medium",
}


def load_airline(root: Path) -> pd.DataFrame:
    """The tweets in the labelled-history contract (see the module docstring for the mapping)."""
    raw = pd.read_csv(root / DATASET / "Tweets.csv", dtype=str, keep_default_na=False)
    created = pd.to_datetime(raw["tweet_created"], format="%d-%m-%Y %H.%M")
    created = created.dt.tz_localize(TIME_ZONE).dt.tz_convert("UTC")
    negative = raw["airline_sentiment"] == "negative"
    reason = raw["negativereason"].where(negative, "")
    unknown = sorted(set(reason[negative]) - set(URGENCY_BY_REASON))
    if unknown:
        raise SystemExit(f"{DATASET}: negative reasons without an urgency mapping: {unknown}")
    complaint = negative & (reason != "Can't Tell")
    return pd.DataFrame(
        {
            "id": [f"t{i:05d}" for i in range(len(raw))],  # tweet ids lost precision here
            "text": raw["text"],
            "created_at": created.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channel": "twitter",
            "labels": np.where(complaint, "complaint", ""),
            "urgency": reason.map(URGENCY_BY_REASON).fillna("low"),
            "reason": reason,
        }
    )


def split_days(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    start = pd.Timestamp(REPLAY_FROM, tz=TIME_ZONE).tz_convert("UTC")
    when = pd.to_datetime(frame["created_at"], utc=True)
    return frame[when < start].reset_index(drop=True), frame[when >= start].reset_index(drop=True)


def suggest_keywords(train: pd.DataFrame, top: int = 40) -> None:
    """Terms most over-represented in complaints and in urgent posts of the training days
    (smoothed log-odds of word counts), to choose the keyword rules from."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(lowercase=True, token_pattern=r"(?u)\b[a-z][a-z']+\b", min_df=10)
    X = vec.fit_transform(train["text"].str.replace(r"@\w+", " ", regex=True))
    words = np.array(vec.get_feature_names_out())
    targets = {
        "complaint": train["labels"].eq("complaint").to_numpy(),
        "urgent (critical/high)": train["urgency"].isin(["critical", "high"]).to_numpy(),
    }
    for name, y in targets.items():
        pos = np.asarray(X[y].sum(axis=0)).ravel() + 1.0
        neg = np.asarray(X[~y].sum(axis=0)).ravel() + 1.0
        score = np.log(pos / pos.sum()) - np.log(neg / neg.sum())
        best = np.argsort(-score)[:top]
        print(f"{name} ({int(y.sum())} of {len(y)} training posts):")
        print("  " + ", ".join(f"{words[i]} {score[i]:.1f}" for i in best))


def train_bundle(train: pd.DataFrame, out: Path):
    """The linear model on the training days, as a bundle (no tracking)."""
    from triage_ml.contract import load_params, validate_posts
    from triage_ml.decide import load_playbook
    from triage_ml.model import fit
    from triage_ml.store import load_bundle, save_bundle

    params = load_params(PARAMS)
    frame, _ = validate_posts(
        train.drop(columns="reason"), label_set=params.labels.names, require_labels=True
    )
    triager = fit(frame, params)
    save_bundle(out, triager, load_playbook(PLAYBOOK), params.model_dump(mode="json"), key="")
    return load_bundle(out, key="")


def main(argv: list[str] | None = None) -> int:
    from benchmarks import quality

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=Path, default=None, help="default: ../shared/datasets")
    ap.add_argument("--out", type=Path, default=Path("reports/replay-airline"))
    ap.add_argument(
        "--suggest-keywords",
        action="store_true",
        help="print candidate keyword terms from the training days and stop",
    )
    args = ap.parse_args(argv)
    root = args.datasets or quality.default_datasets_dir()
    if not (root / DATASET / "Tweets.csv").is_file():
        print(f"{DATASET}: not found under {root}; nothing to do")
        return 1
    frame = load_airline(root)
    train, replayed = split_days(frame)
    print(
        f"{DATASET}: {len(frame):,} tweets; training days {len(train):,} (before {REPLAY_FROM} "
        f"Pacific), replayed days {len(replayed):,}"
    )
    if args.suggest_keywords:
        suggest_keywords(train)
        return 0

    from triage_ml.contract import validate_posts
    from triage_ml.decide import load_playbook
    from triage_ml.replay import load_keywords, replay, write_replay

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="replay-airline-") as tmp:
        bundle = train_bundle(train, Path(tmp) / "airline")
        print(f"trained {bundle.model_version} in {time.perf_counter() - started:.0f} s")
        stream, _ = validate_posts(
            replayed.drop(columns="reason"), label_set=bundle.labels, require_labels=True
        )
        result = replay(
            bundle,
            stream,
            "auto",
            HANDLING_MINUTES,
            playbook=load_playbook(PLAYBOOK),
            keywords=load_keywords(KEYWORDS),
            source=f"{DATASET}, days from {REPLAY_FROM} (Pacific)",
        )
    result.info["keywords"]["source"] = str(KEYWORDS.relative_to(PARAMS_DIR.parents[1]))
    result.info["benchmark"] = {
        "command": "python -m benchmarks.replay_airline",
        "train_posts": len(train),
        "train_complaints": int(train["labels"].eq("complaint").sum()),
        "replay_from": REPLAY_FROM,
        "mapping": "see benchmarks/replay_airline.py",
        "not_in_data": "sales leads, product reviews, follower counts (no figures for them)",
    }
    written = write_replay(result, args.out)
    report(result)
    print(f"written: {', '.join(str(p) for p in written.values())}")
    return 0


def report(result) -> None:
    info = result.info
    print(
        f"replayed {info['posts']:,} posts, {info['first_post']} to {info['last_post']}; "
        f"{HANDLING_MINUTES:g} min per post; 24/7; arrival order keeps up at "
        f"{info['keeps_up_agents']} agents"
    )
    print(
        f"model on the replayed days: F1(complaint) {info['model_macro_f1']}, macro-F1 "
        f"complaint/not {info.get('model_macro_f1_two_class')}"
    )
    summary = result.summary
    for col, title in (
        ("complaint_within_60", "complaints answered within 60 minutes"),
        ("complaint_within_deadline", "complaints answered within their deadline"),
        ("high_urgency_within_deadline", "high-urgency posts answered within their deadline"),
        ("sla_breaches", "SLA breaches (all posts)"),
    ):
        table = summary.pivot(index="agents", columns="ordering", values=col)[
            list(info["orderings"])
        ]
        print(f"\n{title}:")
        shown = table if col == "sla_breaches" else table.map(lambda v: f"{v:.1%}")
        print(shown.to_string())
    k = info["featured_agents"]
    at = result.at(k)
    cols = [c for c in at.columns if c.endswith(("_wait_median", "_wait_p90"))]
    print(f"\nwaits at {k} agents (minutes, post to reply):")
    print(at[cols].to_string())


if __name__ == "__main__":
    raise SystemExit(main())
