"""CPU seconds of processes and of the whole machine (psutil), for the benchmarks that report
who used the cores: ``benchmarks.load`` (locust, the service, the harness) and
``benchmarks.serving`` (whether other processes ran beside it: :class:`OtherLoad`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import psutil


def process_seconds(proc: psutil.Process, children: bool = False) -> float:
    """User + system seconds of one process (plus its reaped children's with ``children``);
    0 once it is gone."""
    try:
        t = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    extra = t.children_user + t.children_system if children else 0.0
    return t.user + t.system + extra


def tree_seconds(pid: int) -> float:
    """User + system seconds so far of a process and all its live descendants (0 once it is
    gone): a server's grandchildren that will end unreaped, like the uvicorn that ``mlflow
    models serve`` starts through a shell, are counted only this way."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in tree:
        with suppress(psutil.Error):
            total += process_seconds(proc)
    return total


def machine_busy_seconds() -> float | None:
    """Seconds every process on the machine has run since boot (user, nice, system, irq,
    softirq, steal; idle and I/O wait left out); ``None`` where the counters cannot be read."""
    try:
        t = psutil.cpu_times()
    except (OSError, psutil.Error):
        return None
    busy = ("user", "nice", "system", "irq", "softirq", "steal")  # the last three: Linux only
    return sum(getattr(t, name, 0.0) for name in busy)


@dataclass
class OtherLoad:
    """How many cores other processes kept busy between :meth:`start` and :meth:`cores`: the
    machine's busy CPU time less the benchmark's own (``own_seconds``: its process, and its
    servers' whole process trees and clients). The load average cannot say this at the end of
    a run: the benchmark's own processes are in it."""

    own_seconds: Callable[[], float]
    busy: float | None = None
    own: float = 0.0
    wall: float = 0.0

    def start(self) -> OtherLoad:
        self.busy, self.own = machine_busy_seconds(), self.own_seconds()
        self.wall = time.monotonic()
        return self

    def cores(self) -> float | None:
        busy = machine_busy_seconds()
        if busy is None or self.busy is None:
            return None
        elapsed = time.monotonic() - self.wall
        others = (busy - self.busy) - (self.own_seconds() - self.own)
        return max(others, 0.0) / elapsed if elapsed > 0 else None
