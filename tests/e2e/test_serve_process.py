"""The real service as processes on 127.0.0.1: scoring over HTTP, and a reload with 2 workers."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest

from triage_ml.decide.playbook import load_playbook
from triage_ml.decide.scoring import score_posts
from triage_ml.store.bundle import load_bundle, save_bundle

pytestmark = pytest.mark.slow

KEY, ADMIN = "process-key-" + "x" * 20, "process-admin-" + "y" * 20
CLI = Path(sys.executable).with_name("triage-ml")
POSTS = [
    {
        "id": "h-1",
        "text": "my order never arrived!!! third time asking",
        "created_at": "2026-11-22T10:00:00Z",
    },
    {"id": "h-2", "text": "how much is the premium plan for 20 seats?", "author_followers": 12},
    {
        "id": "h-3",
        "text": "great battery, love it",
        "channel": "review_site",
        "author_verified": True,
    },
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def service(root: Path, tmp_path: Path, *, workers: int = 1, **env: str) -> Iterator[str]:
    """Start ``triage-ml serve`` in its own process group; yield its URL once ready."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    environ.update(
        {"TRIAGE_API_KEYS": KEY, "TRIAGE_ADMIN_KEYS": ADMIN, "TRIAGE_ALLOW_UNSIGNED": "true", **env}
    )
    log = (tmp_path / f"service-{port}.log").open("w")
    cmd = [str(CLI), "serve", "--model", str(root / "triage"), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers)],
        env=environ,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / f"service-{port}.log").read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not become ready in 90 s"
            time.sleep(0.25)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def model_root(tmp_path: Path, bundle_dir: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    return root


def test_the_real_service_scores_over_http(model_root: Path, tmp_path: Path) -> None:
    with service(model_root, tmp_path) as url:
        r = httpx.post(f"{url}/v1/score", json={"posts": POSTS}, headers={"X-API-Key": KEY})
        assert r.status_code == 200, r.text
        body = r.json()
        unauthorized = httpx.post(f"{url}/v1/score", json={"posts": POSTS})
        assert unauthorized.status_code == 401
        bad = httpx.post(
            f"{url}/v1/score",
            content=b'{"posts": [',
            headers={"X-API-Key": KEY, "content-type": "application/json"},
        )
        assert bad.status_code == 400
        metrics = httpx.get(f"{url}/metrics").text
    expected = score_posts(load_bundle(model_root / "triage", key=""), pd.DataFrame(POSTS))
    got, want = body["results"], expected.records()
    assert [r["id"] for r in got] == ["h-1", "h-2", "h-3"]
    for a, b in zip(got, want, strict=True):
        a_prio, b_prio = a.pop("priority"), b.pop("priority")
        if a["id"] == "h-1":  # the only one whose deadline does not depend on "now"
            assert a_prio == b_prio
        else:
            assert a_prio["tier"] == b_prio["tier"]
        assert a == b
    assert "triage_posts_scored_total 3.0" in metrics
    assert 'triage_errors_total{kind="unauthorized"} 1.0' in metrics


def _model_info(url: str) -> dict:
    # a new connection each time, so that the kernel hands it to either worker
    with httpx.Client(headers={"X-API-Key": KEY, "Connection": "close"}) as c:
        return c.get(f"{url}/v1/model", timeout=10).json()


def test_two_workers_both_pick_up_a_replaced_bundle(
    model_root: Path, tmp_path: Path, triager, params
) -> None:
    with service(model_root, tmp_path, workers=2, TRIAGE_RELOAD_INTERVAL="0.5") as url:
        first = [_model_info(url) for _ in range(40)]
        old = first[0]["model_version"]
        assert {i["model_version"] for i in first} == {old}
        pids = {i["worker_pid"] for i in first}
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.add(_model_info(url)["worker_pid"])
        assert len(pids) == 2, "requests never reached the second worker"

        failures: list[str] = []
        scored = [0]
        stop = threading.Event()

        def keep_scoring() -> None:  # no request may fail while the workers reload
            with httpx.Client(headers={"X-API-Key": KEY}) as c:
                while not stop.is_set():
                    r = c.post(f"{url}/v1/score", json={"posts": POSTS}, timeout=30)
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        scored[0] += len(POSTS)

        load = threading.Thread(target=keep_scoring)
        load.start()
        try:
            changed = copy.copy(triager)
            changed.thresholds_ = triager.thresholds_ * 0.9
            save_bundle(
                model_root / "triage",
                changed,
                load_playbook(),
                params.model_dump(mode="json"),
                key="",
            )
            new_by_pid: dict[int, str] = {}
            streak, deadline = 0, time.monotonic() + 60
            while (len(new_by_pid) < 2 or streak < 20) and time.monotonic() < deadline:
                info = _model_info(url)
                if info["model_version"] != old:
                    new_by_pid[info["worker_pid"]] = info["model_version"]
                    streak += 1
                else:
                    streak = 0
            assert set(new_by_pid) == pids, f"only workers {set(new_by_pid)} of {pids} reloaded"
            assert len(set(new_by_pid.values())) == 1
            assert streak >= 20
        finally:
            stop.set()
            load.join(timeout=60)
        assert not failures, failures[:3]
        assert scored[0] > 0
        metrics = httpx.get(f"{url}/metrics").text  # aggregated over both workers
    total = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("triage_posts_scored_total")
    )
    assert total == scored[0]
    assert metrics.count('triage_model_reloads_total{outcome="loaded"}') == 1


def test_serving_a_local_bundle_never_imports_mlflow(bundle_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(bundle_dir, root / "triage")
    script = f"""
import sys
from fastapi.testclient import TestClient
from serve.app import create_app
from serve.settings import Settings, get_settings
app = create_app()
settings = Settings(model_root={str(root)!r}, reload_interval=0, allow_unsigned=True)
app.dependency_overrides[get_settings] = lambda: settings
with TestClient(app) as c:
    r = c.post("/v1/score", json={{"posts": [{{"id": "a", "text": "hello"}}]}})
    assert r.status_code == 200, r.text
    c.get("/metrics")
assert "mlflow" not in sys.modules, "mlflow was imported"
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_no_key_token_or_post_text_reaches_any_log_line(model_root: Path, tmp_path: Path) -> None:
    """Keys in headers and in the query string, a bearer token, wrong keys, post text in bodies,
    paths and queries: none of them may appear in the process's output (debug level)."""
    token, wrong, text = "tok-" + "t" * 24, "wrong-" + "w" * 24, "zqxj-private-customer-sentence"
    secrets = (KEY, ADMIN, token, wrong, text)
    env = {"TRIAGE_LOG_LEVEL": "debug"}
    with service(model_root, tmp_path, **env) as url, httpx.Client(base_url=url) as c:
        posts = {"posts": [{"id": "s-1", "text": f"{text}, my order never arrived"}]}
        sent = [
            c.post("/v1/score", json=posts, headers={"X-API-Key": KEY}),
            c.post(f"/v1/score?api_key={KEY}&reasons=false", json=posts),
            c.post(f"/v1/score?token={token}", json=posts, headers={"X-API-Key": KEY}),
            c.post("/v1/score", json=posts, headers={"Authorization": f"Bearer {token}"}),
            c.post("/v1/score", json=posts, headers={"X-API-Key": wrong}),
            c.get(f"/v1/model?key={wrong}", headers={"X-API-Key": KEY}),
            c.post("/v1/admin/reload", headers={"X-API-Key": ADMIN}),
            c.post(f"/v1/admin/reload?admin_key={ADMIN}"),
            c.post("/v1/score", json={"posts": [{"id": "s-2", "text": text, "x": 1}]}),
            c.post("/v1/score", content=f'{{"posts": [{{"text": "{text}"'.encode()),
            c.get(f"/v1/score/{text}"),
            c.get(f"/healthz?q={text}"),
        ]
        assert [r.status_code for r in sent[:4]] == [200, 401, 200, 401]
    log = next(tmp_path.glob("service-*.log")).read_text()
    leaked = [s for s in secrets if s in log]
    assert not leaked, f"{leaked} found in the service log:\n{log[-3000:]}"
    assert '"POST /v1/score HTTP/1.1" 200' in log  # the access log is on
    assert "/v1/score?reasons=false&[1 hidden parameter]" in log
