"""The feedback store on a real PostgreSQL server: a throwaway cluster (initdb + pg_ctl) in a
temporary folder. scripts/setup.sh installs the Debian ``postgresql`` package; without it the
test is skipped outside CI and fails in CI (``CI`` set), so it cannot silently stop running."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from triage_ml.feedback import open_store, validate_correction

LABELS = ["complaint", "sales_lead", "product_review", "influencer"]


def _pg_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: run scripts/setup.sh, which installs it)")
    pytest.skip(f"{reason}; scripts/setup.sh installs the Debian postgresql package")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if not initdb or not pg_ctl:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="triage-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no 'postgres' user to run the server")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    quiet = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    done = subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "triage", "--auth=trust", "-E", "UTF8"],
        **quiet,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = [pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w"]
    done = subprocess.run([*run_as, *start, "start"], **quiet, timeout=120)
    try:
        assert done.returncode == 0, done.stdout[-2000:]
        yield f"postgresql://triage@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], **quiet, timeout=60
        )
        shutil.rmtree(folder, ignore_errors=True)


def _correction(i: int, **overrides) -> dict:
    record = {
        "id": f"p-{i}",
        "text": f"post number {i}: still waiting for my refund",
        "labels": ["complaint"],
        "urgency": 0.5,
        "reviewer": f"agent-{i % 3}",
        "corrected_at": f"2026-11-22T10:{i % 60:02d}:00Z",
        "model_version": "triage (sha256:3f2a9c1b7d4e)",
    }
    record.update(overrides)
    return validate_correction(record, label_set=LABELS)


def test_the_store_works_on_postgresql(postgres_url: str) -> None:
    stores = []
    errors: list[BaseException] = []

    def open_one() -> None:  # two workers starting at once both migrate, one after the other
        try:
            stores.append(open_store(postgres_url))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    store = stores[0]
    assert store.dialect == "postgresql" and store.schema_version() == "0001"

    def write(worker: int) -> None:
        store_w = stores[worker % 2]
        for i in range(60):  # every worker writes the same 60: each is stored once
            store_w.record(_correction(i))

    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    rows = store.corrections()
    assert len(rows) == 60 and rows["id"].nunique() == 60

    assert store.record(_correction(1)).status == "duplicate"
    assert store.delete_post("p-1") == {"corrections": 1, "posts": 1}
    exported = store.export()
    assert len(exported) == 59 and "p-1" not in set(exported["id"])
    for s in stores:
        s.close()
