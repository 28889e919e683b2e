"""benchmarks.serving's judgement of a quiet machine: other processes' CPU during the run."""

from __future__ import annotations

import pytest

from benchmarks import cpu, serving


def test_other_processes_cores_are_the_machines_busy_time_less_the_benchmarks(
    monkeypatch,
) -> None:
    busy, own, clock = iter([100.0, 103.0]), iter([10.0, 11.0]), iter([50.0, 52.0])
    monkeypatch.setattr(cpu, "machine_busy_seconds", lambda: next(busy))
    monkeypatch.setattr(cpu.time, "monotonic", lambda: next(clock))
    # 3 s busy on the machine in 2 s, 1 s of it the benchmark's: the others kept one core
    assert cpu.OtherLoad(lambda: next(own)).start().cores() == pytest.approx(1.0)


def test_without_proc_the_other_load_is_unknown(monkeypatch) -> None:
    monkeypatch.setattr(cpu, "machine_busy_seconds", lambda: None)
    assert cpu.OtherLoad(serving._own_seconds).start().cores() is None


def test_the_real_counters_read_this_machine() -> None:
    busy = cpu.machine_busy_seconds()
    if busy is None:
        pytest.skip("the machine's CPU counters cannot be read here")
    # the machine has been busy at least as long as this process has
    assert busy >= serving._own_seconds() > 0


def test_a_servers_whole_process_tree_is_counted_as_the_benchmarks_own(tmp_path) -> None:
    """A grandchild that burns CPU and is never reaped by this process still counts."""
    import subprocess
    import sys
    import time

    script = "import subprocess,sys; subprocess.run([sys.executable,'-c','while True: pass'])"
    child = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        time.sleep(1.0)
        assert cpu.tree_seconds(child.pid) > 0.3  # the busy grandchild's CPU
    finally:
        import os
        import signal

        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert cpu.tree_seconds(child.pid) == 0.0  # gone: nothing to read


def _figures(p50: float, p99: float, batch: float) -> serving.Figures:
    return serving.Figures(single_p50_ms=p50, single_p99_ms=p99, batch_posts_per_s=batch, runs=[])


def test_an_encoder_is_held_to_its_own_serving_targets() -> None:
    plain, http = _figures(9.0, 13.0, 380.0), _figures(12.0, 21.0, 364.0)
    encoder = {
        label: (value, limit, unit)
        for label, value, limit, unit in serving.targets("encoder", plain, http)
    }
    assert encoder == {
        "single post over HTTP, p99": (21.0, 25.0, "ms"),
        "100-post batches over HTTP": (364.0, 300.0, "posts/s"),
    }
    linear = [label for label, *_ in serving.targets("linear", plain, http)]
    assert "single post over HTTP, p50" in linear and len(linear) == 3
