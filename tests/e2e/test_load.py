"""Load and faults in a few seconds: `triage-ml serve` with 2 workers under locust, one rollout
(bundle swap + admin reload), then kill -9 of one worker (the harness of benchmarks/load.py
and its rig, benchmarks/load_rig.py)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from benchmarks import load, load_rig
from benchmarks.serving import KEY, sample_posts

pytestmark = pytest.mark.slow


def test_a_rollout_fails_nothing_and_a_killed_worker_costs_only_its_requests(
    bundle_dir: Path, tmp_path: Path
) -> None:
    posts = tmp_path / "posts.json"
    posts.write_text(json.dumps(sample_posts(200, seed=7)))
    link = load_rig.prepare_root(bundle_dir, tmp_path / "models")
    with load_rig.service(link, tmp_path, workers=2) as svc:
        h = load.hold(
            svc,
            link,
            posts,
            batch=1,
            rate=20,
            out=tmp_path / "hold",
            seconds=5,
            reload_every=1.5,
            kill_at=2.5,
            warm=0.5,
            settle=1.0,
        )
        after = httpx.post(
            f"{svc.url}/v1/score",
            json={"posts": [{"id": "x", "text": "my order never arrived"}]},
            headers={"X-API-Key": KEY},
            timeout=30,
        )

    # the rollout: answered by one worker, reloaded by both (watcher + admin), nothing failed
    assert len(h.reloads) == 1
    assert h.reloads[0]["admin_status"] == 200 and h.reloads[0]["admin_reloaded"] is True
    assert h.reloads_counted >= 2
    reloads = h.phases["reloads"]
    assert reloads["requests"] > 0
    assert reloads["failed"] == 0, reloads["statuses"]
    assert h.kill["failed_before_kill"] == 0

    # the kill: only requests in flight, or sent on a connection the dead worker held (then
    # retried), failed; never with an HTTP error status
    k, records = h.kill, h.records
    failed_after = records[
        (records[:, load_rig.FAILED] == 1) & (records[:, load_rig.END] > k["at"])
    ]
    assert set(failed_after[:, load_rig.STATUS]) <= {0}
    assert len(failed_after) == k["failed_in_flight"] + k["failed_started_after_kill"]
    assert k["failed_in_flight"] <= k["in_flight_at_kill"]
    late = failed_after[failed_after[:, load_rig.START] > k["at"]]
    assert (late[:, load_rig.RETRIED] == 1).all()
    assert k["failed_started_after_kill"] <= k["connections_of_killed_worker"]
    assert k["failed_after_retry"] <= k["in_flight_at_kill"]

    # the supervisor replaced the worker, the replacement answered, the service still scores
    assert len(h.workers_after) == 2
    assert k["pid"] not in h.workers_after
    assert k["replacement_pid"] in h.workers_after
    assert k["replacement_serving_s"] is not None
    assert h.phases["after_kill"]["requests"] > h.phases["after_kill"]["failed"]
    assert after.status_code == 200, after.text
    assert [r["id"] for r in after.json()["results"]] == ["x"]
