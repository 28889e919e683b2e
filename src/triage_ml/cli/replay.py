"""``triage-ml replay``: a labelled history replayed through a simulated inbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from triage_ml.cli._common import (
    _bundle_and_labelled,
    _error,
    _note,
    _plots_unavailable,
    _table,
    console,
    handles_errors,
)


@handles_errors
def replay(
    model: Annotated[Path, typer.Option(help="Bundle directory.")],
    data: Annotated[
        Path, typer.Option(help="Labelled history with created_at on every post, to replay.")
    ],
    agents: Annotated[
        str,
        typer.Option(
            help="Agents working the inbox: a number (4), a sweep (1-12 or 1,2,4,8), or 'auto' "
            "(1, 2, ... until arrival order answers 95% of posts within their deadline)."
        ),
    ],
    handling_minutes: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="Minutes an agent spends on a post (the playbook's handling_minutes "
            "per label win where it has them).",
        ),
    ],
    playbook: Annotated[
        Path | None,
        typer.Option(help="Playbook YAML: deadlines, business hours (default: the bundle's)."),
    ] = None,
    keywords: Annotated[
        Path | None,
        typer.Option(help="Keyword rules YAML for the keyword baseline (default: generic list)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for replay.json, the CSVs and the PNG plots."),
    ] = None,
    plot_agents: Annotated[
        int | None,
        typer.Option(min=1, help="Staffing level whose waits are kept and plotted."),
    ] = None,
) -> None:
    """Replay a labelled history through a simulated inbox: arrival order vs triage-ml's
    priority vs keyword rules vs the truth, judged on what the helpdesk feels (complaints
    answered within the hour, deadlines met, waits per true label). See docs/replay.md."""
    from triage_ml.contract import fingerprint
    from triage_ml.decide import load_playbook
    from triage_ml.replay import agents_sweep, load_keywords, write_replay
    from triage_ml.replay import replay as run_replay

    try:
        agents_sweep(agents)
    except ValueError as err:
        _error(str(err))
    started = time.perf_counter()
    bundle, history, report = _bundle_and_labelled(model, data)
    book = load_playbook(playbook) if playbook else None
    rules = load_keywords(keywords) if keywords else None
    with console.status("replaying") as status:
        result = run_replay(
            bundle,
            history,
            agents,
            handling_minutes,
            playbook=book,
            keywords=rules,
            featured_agents=plot_agents,
            source=str(data),
            row_base=1,
            progress=lambda msg: status.update(f"replaying: {msg}"),
        )
    info = result.info
    headline = result.headline()
    sweep = Table(
        title=f"{headline.replace('_', ' ')} by agents", title_justify="left", show_lines=False
    )
    sweep.add_column("agents", justify="right")
    for ordering in info["orderings"]:
        sweep.add_column(ordering, justify="right")
    for k in info["agents"]:
        at = result.at(k)
        sweep.add_row(str(k), *[_pct(at.loc[o, headline]) for o in info["orderings"]])
    k = info["featured_agents"]
    at = result.at(k)
    detail = Table(title=f"at {k} agent{'s' if k > 1 else ''}", title_justify="left")
    cols = [
        ("within deadline", "within_deadline", _pct),
        ("SLA breaches", "sla_breaches", _count),
        ("complaints <= 60 min", "complaint_within_60", _pct),
        ("high urgency in deadline", "high_urgency_within_deadline", _pct),
        ("complaint wait p50/p90", ("complaint_wait_median", "complaint_wait_p90"), _minutes),
        ("no-label wait p50/p90", ("no_label_wait_median", "no_label_wait_p90"), _minutes),
    ]
    cols = [(t, c if isinstance(c, tuple) else (c,), f) for t, c, f in cols]
    cols = [c for c in cols if all(x in at.columns for x in c[1])]
    detail.add_column("ordering")
    for title, _, _ in cols:
        detail.add_column(title, justify="right")
    for ordering, row in at.iterrows():
        detail.add_row(
            ordering,
            *[fmt(*[row[x] for x in col]) for _, col, fmt in cols],
        )
    Console().print(sweep)
    Console().print(detail)
    rows = [
        ("data", f"{data} ({info['posts']} posts, {info['first_post']} to {info['last_post']})"),
        ("model", f"{info['model_version']} (macro-F1 {info['model_macro_f1']} on these posts)"),
        ("handling", f"{handling_minutes:g} min per post"),
        ("business hours", "declared" if info["business_hours"] else "none (24/7)"),
        ("arrival order keeps up at", str(info["keeps_up_agents"] or "not within the sweep")),
    ]
    if bundle.metadata.get("data_fingerprint") == fingerprint(history):
        _note(
            "this is the history the model was trained on: its order looks better than it "
            "would on new posts; replay posts from after the training data"
        )
    if out:
        no_plots = _plots_unavailable()
        if no_plots:
            _note(no_plots)
        written = write_replay(result, out, plots=not no_plots)
        rows.append(("written to", f"{out} ({', '.join(p.name for p in written.values())})"))
    rows.append(("time", f"{time.perf_counter() - started:.1f} s"))
    Console().print(_table("triage-ml replay", rows))


def _count(value) -> str:
    return f"{int(value):,}"


def _pct(value) -> str:
    return "-" if value is None or value != value else f"{float(value):.0%}"


def _minutes(*values) -> str:
    return " / ".join("-" if v is None or v != v else f"{float(v):,.0f}" for v in values) + " min"
