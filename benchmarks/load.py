"""Load and faults: `triage-ml serve` with 2 workers under locust, model reloads and a kill -9.

    .venv/bin/python -m benchmarks.load               # 10-15 minutes (sample model cached)
    .venv/bin/python -m benchmarks.load --hold 30 --step 6

The load generator is locust (headless, its own process, ``benchmarks/locustfile.py``) on the
same machine as the service, whose share of the CPU is reported. Phases, for single-post and
20-post requests:

1. **Rated throughput.** Step the offered rate up (x1.25 per step; halved first while the
   first step fails, on a busy machine), each step ``--step`` seconds or until it has 300
   requests (at most 30 s), the first ``--warm`` seconds not counted, until the p99 latency
   reaches ``--p99-ms`` (50), a request fails (any non-200: 429 and 503 count) or the service
   falls behind the offered rate; the rated throughput is the rate achieved at the highest
   step that passed below the lowest that failed.
2. **Hold with reloads, then a kill.** Offer 80% of it for ``--hold`` seconds. Every
   ``--reload-every`` seconds a rollout happens: the ``triage`` bundle link in the model root is
   swapped to the other copy of the bundle (both workers reload it within
   ``TRIAGE_RELOAD_INTERVAL``=1 s) and ``POST /v1/admin/reload`` forces one more reload on the
   worker that answers. No request may fail then. After the last reload one worker gets
   SIGKILL: only the requests in flight at that instant may fail (counted from each request's
   start and end; which worker held a request is not visible to the client, so the bound is all
   requests in flight). A request sent after the kill on a keep-alive connection the dead
   worker held finds it closed; the locustfile sends it once more, and both attempts are
   counted (with and without that retry). The time until uvicorn's supervisor has a
   replacement process and until that process answers is recorded, and the worker count must
   be back to 2.
3. **CPU share.** CPU seconds of the locust process, of the service (supervisor and workers)
   and of the whole machine between the end of the warm-up and the kill.

Writes ``reports/load/load.json``, each run's request records (CSV), locust's and the
service's logs and ``reports/load/load.png`` (latency and throughput per second with the reload
and kill marks), and prints a table. On a shared machine the figures are under the other
jobs' load: the load average before and after is reported.

The processes it drives (the service, locust) and the records they leave are handled in
``benchmarks/load_rig.py``; this module holds the phases and the report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psutil

from benchmarks.load_rig import (
    ADMIN,
    END,
    FAILED,
    RETRIED,
    START,
    Locust,
    Service,
    answering_pid,
    cpu_share,
    cpu_snapshot,
    prepare_root,
    reloads_loaded,
    request,
    service,
    swap_bundle,
    window,
    worker_pids,
)
from benchmarks.serving import BIN, REPO, ensure_bundle, machine, sample_posts

KINDS = {"single": 1, "batch20": 20}


# -- phases --------------------------------------------------------------------------------


@dataclass
class Step:
    offered: float
    users: int
    figures: dict
    cpu: dict
    passed: bool
    why: str = ""


def run_step(
    svc: Service, posts: Path, batch: int, rate: float, seconds: float, warm: float, out: Path
) -> Step:
    locust = Locust(svc, posts, batch, rate, out)
    time.sleep(warm + 1.0)  # startup (~1 s) and warm-up
    t0, cpu0 = time.time(), cpu_snapshot(svc, locust)
    time.sleep(seconds)
    t1, cpu1 = time.time(), cpu_snapshot(svc, locust)
    records = locust.stop()
    return Step(rate, locust.users, window(records, t0, t1), cpu_share(cpu0, cpu1), True)


def step_up(
    svc: Service,
    posts: Path,
    batch: int,
    start: float,
    p99_ms: float,
    seconds: float,
    warm: float,
    out: Path,
    factor: float = 1.25,
    floor: float = 0.5,
    min_requests: int = 300,
    max_steps: int = 30,
) -> tuple[float | None, list[Step]]:
    """The rated throughput: the rate achieved at the highest step that passed below the lowest
    that failed. Steps go up by ``factor`` from ``start``; when the first one fails (a busy
    machine), the rate is halved until one passes (down to ``floor``), then goes up again.
    A step lasts ``seconds``, longer (up to 30 s) until ``min_requests`` make its p99."""
    steps: list[Step] = []
    rate, rated, lowest_fail = start, None, math.inf
    for i in range(max_steps):
        length = min(max(seconds, min_requests / rate), 30.0)
        step = run_step(svc, posts, batch, rate, length, warm, out / f"step-{batch}-{i:02d}")
        f = step.figures
        if f["failed"]:
            step.passed, step.why = False, f"{f['failed']} failed requests {f['statuses']}"
        elif f["p99_ms"] is None or f["p99_ms"] >= p99_ms:
            step.passed, step.why = False, f"p99 {f['p99_ms']:.1f} ms"
        elif f["rate"] < 0.9 * rate:
            step.passed, step.why = False, f"achieved {f['rate']:.1f} of {rate:.1f} requests/s"
        steps.append(step)
        share = step.cpu["locust_share_of_locust_and_service"] or 0
        print(
            f"  {batch:2d} post(s): offered {rate:7.1f}/s for {length:4.1f} s  achieved "
            f"{f['rate']:7.1f}/s  p50 {f['p50_ms'] or 0:6.1f} ms  p99 {f['p99_ms'] or 0:6.1f} ms  "
            f"failed {f['failed']}  locust CPU {share:.0%}  {'ok' if step.passed else step.why}",
            flush=True,
        )
        if step.passed:
            rated = f["rate"]
            rate *= factor
            if rate >= lowest_fail:
                break
        else:
            lowest_fail = min(lowest_fail, rate)
            if rated is not None:
                break
            rate /= 2
            if rate < floor:
                break
    return rated, steps


@dataclass
class Hold:
    """What happened during one hold: the schedule, the outcome of each fault, the records."""

    batch: int
    offered: float
    started: float = 0.0
    warm_until: float = 0.0
    reloads: list[dict] = field(default_factory=list)
    kill: dict = field(default_factory=dict)
    ended: float = 0.0
    phases: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    workers_after: list[int] = field(default_factory=list)
    reloads_counted: float = 0.0
    records: np.ndarray | None = None


def _reload(svc: Service, link: Path) -> dict:
    """One rollout: swap the bundle link (every worker's watcher picks it up) and force a
    reload on the worker that answers the admin call."""
    at = time.time()
    served = swap_bundle(link)
    try:
        status, body = request(svc, "POST", "/v1/admin/reload", ADMIN, timeout=60)
        answer = json.loads(body) if status == 200 else {"detail": body.decode()[:300]}
    except OSError as err:
        status, answer = 0, {"detail": f"{type(err).__name__}: {err}"}
    return {
        "at": at,
        "bundle": served,
        "admin_status": status,
        "admin_pid": answer.get("worker_pid"),
        "admin_reloaded": answer.get("reloaded"),
        "detail": answer.get("detail"),
    }


def hold(
    svc: Service,
    link: Path,
    posts: Path,
    batch: int,
    rate: float,
    out: Path,
    *,
    seconds: float,
    reload_every: float,
    kill_at: float,
    warm: float = 2.0,
    settle: float = 2.0,
    recover_timeout: float = 120.0,
) -> Hold:
    """Offer ``rate`` for ``seconds``: rollouts every ``reload_every`` s until ``kill_at`` s,
    then SIGKILL to one worker; the load goes on until ``seconds`` have passed and the
    replacement has answered for ``settle`` s (at most ``recover_timeout`` s after the kill)."""
    result = Hold(batch, rate)
    before = worker_pids(svc)
    if len(before) < 2:
        raise RuntimeError(f"need 2 workers to kill one, found {before}")
    loaded0 = reloads_loaded(svc)
    locust = Locust(svc, posts, batch, rate, out)
    time.sleep(1.0)  # locust's startup
    t0 = result.started = time.time()
    result.warm_until = t0 + warm
    next_reload = t0 + reload_every
    cpu0 = cpu1 = None
    killed = replacement = None
    spawned_at = serving_at = None
    loaded_before_kill = None
    while True:
        now = time.time()
        if cpu0 is None and now >= result.warm_until:
            cpu0 = cpu_snapshot(svc, locust)
        if killed is None and next_reload <= now and next_reload < t0 + kill_at:
            result.reloads.append(_reload(svc, link))
            next_reload += reload_every
            continue
        if killed is None and now >= t0 + kill_at:
            time.sleep(1.5)  # let the last rollout's watcher reloads finish before counting
            cpu1 = cpu_snapshot(svc, locust)
            loaded_before_kill = reloads_loaded(svc)
            killed = worker_pids(svc)[0]
            connections = _established(killed)
            os.kill(killed, signal.SIGKILL)
            kill_time = time.time()
        if killed is not None:
            if replacement is None:
                new = [p for p in worker_pids(svc) if p not in before]
                if len(worker_pids(svc)) == 2 and new:
                    replacement, spawned_at = new[0], time.time()
            elif serving_at is None and answering_pid(svc) == replacement:
                serving_at = time.time()
            done = serving_at is not None and now >= max(t0 + seconds, serving_at + settle)
            if done or now - kill_time > recover_timeout:
                break
        time.sleep(0.05)
    result.ended = time.time()
    result.workers_after = worker_pids(svc)
    records = locust.stop()
    result.records = records
    result.reloads_counted = (loaded_before_kill or 0.0) - loaded0
    started, ended = records[:, START], records[:, END]
    in_flight = (started <= kill_time) & (ended > kill_time)
    failed, retried = records[:, FAILED] == 1, records[:, RETRIED] == 1
    first_reload = result.reloads[0]["at"] if result.reloads else kill_time
    result.kill = {
        "pid": killed,
        "at": kill_time,
        "workers_before": before,
        "connections_of_killed_worker": connections,
        "replacement_pid": replacement,
        "replacement_spawned_s": None if spawned_at is None else spawned_at - kill_time,
        "replacement_serving_s": None if serving_at is None else serving_at - kill_time,
        "in_flight_at_kill": int(in_flight.sum()),
        "failed_in_flight": int((failed & in_flight).sum()),
        "failed_started_after_kill": int((failed & (started > kill_time)).sum()),
        "failed_after_retry": int((failed & ~retried & (ended > kill_time)).sum()),
        "failed_before_kill": int((failed & (ended <= kill_time)).sum()),
    }
    result.phases = {
        "steady": window(records, result.warm_until, first_reload, ended_by=kill_time),
        "reloads": window(records, first_reload, kill_time, ended_by=kill_time),
        "after_kill": window(records, kill_time, result.ended),
        "hold": window(records, result.warm_until, result.ended),
    }
    result.cpu = cpu_share(cpu0, cpu1) if cpu0 and cpu1 else {}
    return result


def _established(pid: int) -> int | None:
    """TCP connections a worker holds open (busy or idle keep-alive) before it is killed."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    return sum(c.status == psutil.CONN_ESTABLISHED for c in conns)


def reload_cost(bundle: Path, runs: int = 5) -> dict:
    """CPU and wall seconds of one forced reload of ``bundle`` in this process, the way a
    worker does it (verify, load, score a test post, swap), with and without the full garbage
    collection before ``gc.freeze``: the time a reload takes from the requests of its worker."""
    from serve.loader import LocalSource, ModelHolder

    out = {}
    for freeze in (True, False):
        holder = ModelHolder(LocalSource(bundle.parent, bundle.name, ""), None, gc_freeze=freeze)
        holder.reload(True)
        cpu, wall = [], []
        for _ in range(runs):
            c, w = time.process_time(), time.perf_counter()
            holder.reload(True)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
        key = "with_gc_freeze" if freeze else "without_gc_freeze"
        out[key] = {"cpu_s": float(np.median(cpu)), "wall_s": float(np.median(wall))}
    return out


def hold_summary(h: Hold) -> dict:
    d = asdict(h)
    d.pop("records")
    return d


# -- report --------------------------------------------------------------------------------


def per_second(records: np.ndarray, t0: float, t1: float) -> dict[str, list]:
    """Completed requests per second and their p50/p99 latency, by second of the hold."""
    edges = np.arange(t0, t1 + 1.0, 1.0)
    out: dict[str, list] = {"t": [], "rate": [], "failed": [], "p50": [], "p99": []}
    for lo, hi in zip(edges[:-1], edges[1:], strict=False):
        sel = records[(records[:, END] >= lo) & (records[:, END] < hi)]
        ok = (sel[:, END] - sel[:, START])[sel[:, FAILED] == 0] * 1e3
        out["t"].append(lo - t0)
        out["rate"].append(len(sel))
        out["failed"].append(int(sel[:, FAILED].sum()))
        out["p50"].append(float(np.percentile(ok, 50)) if len(ok) else np.nan)
        out["p99"].append(float(np.percentile(ok, 99)) if len(ok) else np.nan)
    return out


def plot(holds: list[Hold], p99_ms: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(holds), figsize=(7 * len(holds), 7), squeeze=False)
    for col, h in enumerate(holds):
        s = per_second(h.records, h.started, h.ended)
        lat, thr = axes[0][col], axes[1][col]
        lat.plot(s["t"], s["p50"], label="p50")
        lat.plot(s["t"], s["p99"], label="p99")
        lat.axhline(p99_ms, color="grey", lw=0.8, ls=":", label=f"{p99_ms:g} ms")
        lat.set_yscale("log")
        lat.set_ylabel("latency per second (ms)")
        lat.set_title(f"{h.batch} post(s) per request, {h.offered:.0f} requests/s offered")
        thr.plot(s["t"], s["rate"], label="completed")
        thr.bar(s["t"], s["failed"], width=0.9, color="red", label="failed", align="edge")
        thr.set_ylabel("requests per second")
        thr.set_xlabel("seconds into the hold")
        for ax in (lat, thr):
            for i, r in enumerate(h.reloads):
                mark = "rollout" if i == 0 else None
                ax.axvline(r["at"] - h.started, color="green", lw=0.8, ls="--", label=mark)
            ax.axvline(h.kill["at"] - h.started, color="red", lw=1.2, label="kill -9")
            ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rate(rated: dict, batch: int) -> str:
    if batch not in rated:
        return "not rated"
    return "none passed" if rated[batch] is None else f"{rated[batch]:.1f}/s"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} ms"


def table(rated: dict, holds: list[Hold], p99_ms: float) -> list[str]:
    lines = [
        f"| requests | rated (p99 < {p99_ms:g} ms) | held | p50 / p99 before the rollouts "
        "| p99 during rollouts | failed during rollouts | kill -9: in flight / the worker's "
        "connections | failed: in flight + sent on its connections (left after one retry) "
        "| replacement answers after | workers after | locust CPU (of locust + service) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h in holds:
        name = "single post" if h.batch == 1 else f"{h.batch} posts"
        p, k = h.phases, h.kill
        share = h.cpu.get("locust_share_of_locust_and_service")
        serving = k["replacement_serving_s"]
        lines.append(
            f"| {name} | {_rate(rated, h.batch)} | {p['hold']['rate']:.1f}/s "
            f"| {_ms(p['steady']['p50_ms'])} / {_ms(p['steady']['p99_ms'])} "
            f"| {_ms(p['reloads']['p99_ms'])} | {p['reloads']['failed']} of "
            f"{p['reloads']['requests']} ({len(h.reloads)} rollouts) "
            f"| {k['in_flight_at_kill']} / {k['connections_of_killed_worker']} "
            f"| {k['failed_in_flight']} + {k['failed_started_after_kill']} "
            f"({k['failed_after_retry']}) "
            f"| {'never' if serving is None else f'{serving:.1f} s'} "
            f"| {len(h.workers_after)} | {share or 0:.0%} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="Bundle to serve (default: the sample model).")
    ap.add_argument("--retrain", action="store_true", help="Retrain the cached sample model.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--p99-ms", type=float, default=50.0, help="Latency bound of the rating.")
    ap.add_argument("--step", type=float, default=10.0, help="Measured seconds per rate step.")
    ap.add_argument("--warm", type=float, default=2.0, help="Seconds not counted per step.")
    ap.add_argument("--start", type=float, nargs=2, default=[20.0, 4.0], metavar=("SINGLE", "B20"))
    ap.add_argument("--hold", type=float, default=60.0, help="Seconds of the hold at 80%%.")
    ap.add_argument("--reload-every", type=float, default=5.0)
    ap.add_argument("--kill-at", type=float, default=45.0, help="Seconds into the hold.")
    ap.add_argument(
        "--hold-rates",
        type=float,
        nargs=2,
        metavar=("SINGLE", "B20"),
        help="Hold at these requests/s instead of 80%% of the rated throughput (skips the "
        "rating): the faults at a known load when a busy machine rates the service near zero.",
    )
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "load")
    args = ap.parse_args(argv)
    if not (BIN / "locust").exists():
        sys.exit(f"python -m benchmarks.load needs locust in {BIN}: pip install -e '.[bench]'")

    bundle, how = ensure_bundle(args.model, args.retrain)
    from triage_ml.contract import load_params

    params = load_params(REPO / "params.yaml")
    args.out.mkdir(parents=True, exist_ok=True)
    posts_file = args.out / "posts.json"
    posts_file.write_text(json.dumps(sample_posts(params.sample.rows, params.sample.seed)[-1000:]))
    load_before = os.getloadavg()
    print(f"model: {bundle} ({how}); {args.workers} workers; load average {load_before}")
    reload = reload_cost(bundle)
    print(
        "one reload in process (median of 5): "
        + ", ".join(f"{k.replace('_', ' ')} {v['cpu_s']:.3f} s CPU" for k, v in reload.items()),
        flush=True,
    )
    rated: dict[int, float | None] = {}
    steps: dict[int, list[Step]] = {}
    holds: list[Hold] = []
    work = Path(tempfile.mkdtemp(prefix="triage-load-"))
    try:
        link = prepare_root(bundle, work / "models")
        with service(link, work, args.workers) as svc:
            for (_, batch), start in zip(KINDS.items(), args.start, strict=True):
                if args.hold_rates:
                    steps[batch] = []
                    continue
                print(f"rated throughput, {batch} post(s) per request:", flush=True)
                r, steps[batch] = step_up(
                    svc, posts_file, batch, start, args.p99_ms, args.step, args.warm, args.out
                )
                rated[batch] = r
            for i, batch in enumerate(KINDS.values()):
                if args.hold_rates:
                    offered = args.hold_rates[i]
                elif rated[batch] is None:  # no step passed
                    offered = min(s.offered for s in steps[batch])
                    print(f"  no rate passed: holding at the lowest rate tried, {offered:.1f}/s")
                else:
                    offered = 0.8 * rated[batch]
                print(f"hold at {offered:.1f} requests/s of {batch} post(s) ...", flush=True)
                h = hold(
                    svc,
                    link,
                    posts_file,
                    batch,
                    offered,
                    args.out / f"hold-{batch}",
                    seconds=args.hold,
                    reload_every=args.reload_every,
                    kill_at=args.kill_at,
                )
                holds.append(h)
                k = h.kill
                print(
                    f"  rollouts {len(h.reloads)}, reloads counted {h.reloads_counted:.0f}, "
                    f"failed during rollouts {h.phases['reloads']['failed']}; kill -9 "
                    f"{k['pid']}: in flight {k['in_flight_at_kill']}, failed "
                    f"{k['failed_in_flight']} + {k['failed_started_after_kill']} started later; "
                    f"replacement {k['replacement_pid']} serving after "
                    f"{k['replacement_serving_s']} s; workers {h.workers_after}",
                    flush=True,
                )
    finally:
        for log in work.glob("server-*.log"):  # the supervisor's and workers' log lines
            shutil.copy(log, args.out / log.name)
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    plot(holds, args.p99_ms, args.out / "load.png")
    report = {
        "command": "python -m benchmarks.load " + " ".join(argv or sys.argv[1:]),
        "machine": machine(),
        "load_average": {"before": load_before, "after": load_after},
        "model": str(bundle),
        "data": how,
        "workers": args.workers,
        "p99_bound_ms": args.p99_ms,
        "rated_requests_per_s": {str(k): v for k, v in rated.items()},
        "hold_rates_given": args.hold_rates,
        "reload_in_process": reload,
        "steps": {str(k): [asdict(s) for s in v] for k, v in steps.items()},
        "holds": [hold_summary(h) for h in holds],
    }
    (args.out / "load.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print()
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")
    print("\n".join(table(rated, holds, args.p99_ms)))
    print(f"written to {args.out / 'load.json'} and {args.out / 'load.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
