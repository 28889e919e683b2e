"""The rig of the load benchmark (``benchmarks/load.py``): the service under test (``triage-ml
serve`` with N workers over a model root whose bundle link can be swapped), the locust process
that offers the load, the per-attempt records it writes, and the CPU each of them used.

The phases (rated throughput, the hold with reloads and a kill) and the report are in
``benchmarks/load.py``; this module starts, watches and stops processes, and reads what they
recorded.
"""

from __future__ import annotations

import csv
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from benchmarks.cpu import machine_busy_seconds, process_seconds
from benchmarks.serving import BIN, KEY, free_port
from benchmarks.serving import server as _server

ADMIN = "load-admin-" + "a" * 24
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


# -- the service ---------------------------------------------------------------------------


def prepare_root(bundle: Path, root: Path) -> Path:
    """Two copies of the bundle in a model root and a ``triage`` link to the first: swapping
    the link is a rollout the workers see (the resolved directory changes) and that cannot be
    half done (``os.replace`` of a link is atomic)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("triage-a", "triage-b"):
        shutil.copytree(bundle, root / name)
    (root / "triage").symlink_to("triage-a")
    return root / "triage"


def swap_bundle(link: Path) -> str:
    """Point the bundle link at the other copy; returns the copy now served."""
    target = "triage-b" if os.readlink(link) == "triage-a" else "triage-a"
    tmp = link.with_name(".triage-next")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)
    return target


@dataclass
class Service:
    url: str
    port: int
    pid: int  # the supervisor (uvicorn's multiprocess parent, i.e. the triage-ml process)
    log: Path


@contextmanager
def service(link: Path, logdir: Path, workers: int = 2) -> Iterator[Service]:
    """``triage-ml serve --workers N`` on a free port, ready once every worker answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        TRIAGE_API_KEYS=KEY,
        TRIAGE_ADMIN_KEYS=ADMIN,
        TRIAGE_ALLOW_UNSIGNED="true",  # the benchmark's own bundle, in a private folder
        TRIAGE_RELOAD_INTERVAL="1",
    )
    port = free_port()
    cmd = [str(BIN / "triage-ml"), "serve", "--model", str(link), "--port", str(port)]
    with _server([*cmd, "--workers", str(workers)], env, port, "/readyz", logdir) as proc:
        svc = Service(f"http://127.0.0.1:{port}", port, proc.pid, logdir / f"server-{port}.log")
        wait_for_workers(svc, workers, timeout=180)
        yield svc


def worker_pids(svc: Service) -> list[int]:
    """The supervisor's live worker processes (uvicorn spawns them with multiprocessing)."""
    try:
        children = psutil.Process(svc.pid).children()
    except psutil.NoSuchProcess:
        return []
    pids = []
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            pids.append(child.pid)
    return sorted(pids)


def request(svc: Service, method: str, path: str, key: str, timeout: float = 5) -> tuple:
    """One request on a new connection (``Connection: close``), so either worker may take it."""
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=timeout)
    try:
        conn.request(method, path, headers={"X-API-Key": key, "Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def answering_pid(svc: Service) -> int | None:
    try:
        status, body = request(svc, "GET", "/v1/model", KEY, timeout=2)
    except OSError:
        return None
    return json.loads(body)["worker_pid"] if status == 200 else None


def wait_for_workers(svc: Service, count: int, timeout: float) -> list[int]:
    """Until ``count`` worker processes exist and each has answered a request."""
    deadline = time.monotonic() + timeout
    answered: set[int] = set()
    while time.monotonic() < deadline:
        pids = worker_pids(svc)
        pid = answering_pid(svc)
        if pid is not None:
            answered.add(pid)
        if len(pids) == count and set(pids) <= answered:
            return pids
        time.sleep(0.05)
    raise RuntimeError(f"{count} workers did not all answer in {timeout:.0f} s: {svc.log}")


def reloads_loaded(svc: Service) -> float:
    """``triage_model_reloads_total{outcome="loaded"}``, summed over the workers."""
    _, body = request(svc, "GET", "/metrics", "")
    for line in body.decode().splitlines():
        if line.startswith('triage_model_reloads_total{outcome="loaded"}'):
            return float(line.split()[-1])
    return 0.0


# -- the load generator --------------------------------------------------------------------


class Locust:
    """A headless locust process offering ``rate`` requests/s of ``batch`` posts each."""

    def __init__(
        self, svc: Service, posts: Path, batch: int, rate: float, out: Path, per_user: float = 5
    ) -> None:
        self.users = max(1, math.ceil(rate / per_user))
        self.per_user = rate / self.users
        self.records_path = out.with_suffix(".csv")
        env = {
            **os.environ,
            "LOAD_POSTS": str(posts),
            "LOAD_BATCH": str(batch),
            "LOAD_PER_USER": f"{self.per_user:.6f}",
            "LOAD_KEY": KEY,
            "LOAD_RECORDS": str(self.records_path),
        }
        cmd = [str(BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "-H", svc.url]
        cmd += ["-u", str(self.users), "-r", str(self.users), "--only-summary"]
        cmd += ["--stop-timeout", "10", "--exit-code-on-error", "0", "--loglevel", "WARNING"]
        self.log = out.with_suffix(".log")
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.started = time.time()

    def stop(self) -> np.ndarray:
        """Stop it (SIGTERM: users finish their request, records are written) and return the
        records: start (epoch s), end (epoch s), status (0 = no response), failed."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"locust did not stop: {self.log}") from None
        return read_records(self.records_path)


CLOSED = ("HTTPConnectionClosed", "ConnectionResetError", "BrokenPipeError")
START, END, STATUS, FAILED, RETRIED = range(5)


def read_records(path: Path) -> np.ndarray:
    """One row per attempt: start and end (epoch s), status (0 = no response), failed, and
    retried (a first attempt whose connection was closed: the locustfile sent it again)."""
    rows = []
    with path.open() as f:
        for row in csv.DictReader(f):
            start, ms, status = float(row["start"]), float(row["ms"]), int(row["status"])
            failed = status != 200 or bool(row["error"])
            retried = failed and row["attempt"] == "1" and row["error"] in CLOSED
            rows.append((start, start + ms / 1e3, status, float(failed), float(retried)))
    return np.array(rows, dtype=float).reshape(-1, 5)


def window(records: np.ndarray, t0: float, t1: float, ended_by: float | None = None) -> dict:
    """Attempts that started in [t0, t1) (and ended by ``ended_by``): count, failures (all, and
    those left after the one retry of a closed connection), rate, latency percentiles."""
    keep = (records[:, START] >= t0) & (records[:, START] < t1)
    if ended_by is not None:
        keep &= records[:, END] <= ended_by
    sel = records[keep]
    ms = (sel[:, END] - sel[:, START]) * 1e3
    ok = ms[sel[:, FAILED] == 0]
    return {
        "requests": int(len(sel)),
        "failed": int(sel[:, FAILED].sum()),
        "failed_after_retry": int((sel[:, FAILED] - sel[:, RETRIED]).sum()),
        "statuses": {
            str(int(s)): int((sel[:, STATUS] == s).sum()) for s in np.unique(sel[:, STATUS])
        },
        "rate": len(sel) / (t1 - t0),
        "p50_ms": float(np.percentile(ok, 50)) if len(ok) else None,
        "p99_ms": float(np.percentile(ok, 99)) if len(ok) else None,
        "max_ms": float(ok.max()) if len(ok) else None,
    }


# -- CPU -----------------------------------------------------------------------------------


def cpu_snapshot(svc: Service, locust: Locust) -> dict:
    """Cumulative CPU seconds: locust, the service (the supervisor with its reaped children,
    i.e. killed workers, plus the live workers), this process, and the machine's busy time."""
    server = process_seconds(psutil.Process(svc.pid), children=True)
    server += sum(process_seconds(psutil.Process(pid)) for pid in worker_pids(svc))
    return {
        "time": time.time(),
        "locust": process_seconds(psutil.Process(locust.proc.pid)),
        "service": server,
        "harness": process_seconds(psutil.Process()),
        "machine": machine_busy_seconds(),
    }


def cpu_share(a: dict, b: dict) -> dict:
    """Cores used by each between two snapshots, and locust's share of what ran."""
    wall = b["time"] - a["time"]
    used = {k: (b[k] - a[k]) / wall for k in ("locust", "service", "harness", "machine")}
    used["others"] = max(0.0, used["machine"] - used["locust"] - used["service"] - used["harness"])
    ours = used["locust"] + used["service"]
    return {
        "seconds": wall,
        "cores_used": used,
        "locust_share_of_locust_and_service": used["locust"] / ours if ours else None,
        "locust_share_of_machine": used["locust"] / used["machine"] if used["machine"] else None,
    }
