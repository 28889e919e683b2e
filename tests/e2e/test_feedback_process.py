"""Corrections through the real service: 8 concurrent writers x 500 corrections, 2 workers,
one SQLite (WAL) store; every correction is stored exactly once, retries included."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from triage_ml.feedback import open_store

pytestmark = pytest.mark.slow

KEY = "feedback-process-key-" + "z" * 12
CLI = Path(sys.executable).with_name("triage-ml")
WRITERS, PER_WRITER, RETRY_EVERY = 8, 500, 10
LABELS = ["complaint", "sales_lead", "product_review", "influencer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def two_workers(model_dir: Path, tmp_path: Path, store_url: str) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        TRIAGE_API_KEYS=KEY,
        TRIAGE_FEEDBACK_URL=store_url,
        TRIAGE_RELOAD_INTERVAL="0",
        TRIAGE_ACCESS_LOG="false",
        TRIAGE_ALLOW_UNSIGNED="true",  # the test bundle is unsigned
    )
    log_path = tmp_path / "service.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(CLI), "serve", "--model", str(model_dir), "--port", str(port), "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the service was not ready in 120 s"
                time.sleep(0.25)
            yield url
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def correction(writer: int, i: int) -> dict:
    return {
        "id": f"w{writer}-p{i}",
        "text": f"writer {writer} post {i}: my parcel is late again",
        "labels": [LABELS[(writer + i) % 4]],
        "urgency": round((i % 11) / 10, 1),
        "reviewer": f"agent-{writer}",
        "corrected_at": f"2026-11-22T{i // 60 % 24:02d}:{i % 60:02d}:{writer:02d}Z",
        "model_version": "triage (sha256:3f2a9c1b7d4e)",
        "request_id": f"req-{writer}-{i}",
    }


def test_concurrent_writers_through_two_workers_store_each_correction_once(
    bundle_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    store_url = f"sqlite:///{tmp_path / 'feedback.db'}"
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        # its own 500, and every 10th of the next writer's again: retries racing the originals
        work = [correction(writer, i) for i in range(PER_WRITER)]
        work += [correction((writer + 1) % WRITERS, i) for i in range(0, PER_WRITER, RETRY_EVERY)]
        client = None
        try:
            for n, body in enumerate(work):
                if n % 50 == 0:  # new connections now and then, so both workers get some
                    if client is not None:
                        client.close()
                    client = httpx.Client(headers={"X-API-Key": KEY}, timeout=60)
                r = client.post(f"{url}/v1/feedback", json=body)
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code not in (200, 201):
                        failures.append(f"{r.status_code} {r.text[:200]}")
        finally:
            if client is not None:
                client.close()

    with two_workers(root / "triage", tmp_path, store_url) as url:
        threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    total = WRITERS * PER_WRITER
    retries = WRITERS * (PER_WRITER // RETRY_EVERY)
    # a retry can reach the store before its original: then the original is the duplicate
    assert statuses[201] == total and statuses[200] == retries, statuses

    store = open_store(store_url)
    rows = store.corrections()
    store.close()
    assert len(rows) == total
    assert not rows.duplicated(["id", "reviewer", "corrected_at"]).any()
    expected = {
        (c["id"], c["labels"][0], c["urgency"], c["request_id"])
        for w in range(WRITERS)
        for c in (correction(w, i) for i in range(PER_WRITER))
    }
    stored = set(
        zip(rows["id"], rows["labels"], rows["urgency"].round(1), rows["request_id"], strict=True)
    )
    assert stored == expected
