"""API fuzzing benchmark: schemathesis, every check, against the real service process.

    .venv/bin/python -m benchmarks.api_fuzz                 # >= 1,000 cases, ~8 min on 2 busy cores
    .venv/bin/python -m benchmarks.api_fuzz --max-examples 400 --model models/triage

Starts ``triage-ml serve`` on loopback with the sample model (the serving benchmark's cached
bundle, trained once with params.yaml) and runs ``schemathesis run .../openapi.json --checks
all`` against it: every phase (examples, coverage, fuzzing, stateful), valid and invalid
requests, with a key that is both an API and an admin key so that every operation is reached.
``benchmarks/schemathesis.toml`` counts a 413 (more posts than ``maxItems``) as a refusal of
a schema-violating request, as a 422 is. The run passes when schemathesis reports no failure
of any check and at least ``--min-cases`` cases, and the service's own access log holds no 5xx
answer. The figures are printed with the machine and its load.

One rule of the API cannot be written in JSON Schema: ids are unique within a request. The hook
:func:`make_ids_unique` (loaded by schemathesis from ``benchmarks.api_fuzz_hooks``) renames
repeated ids in generated *valid* requests, so that "schema-valid requests are accepted" tests
everything else; invalid requests are sent as generated.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEY = "fuzz-key-" + "f" * 24
CONFIG = Path(__file__).with_name("schemathesis.toml")


def make_ids_unique(context: Any, case: Any) -> Any:
    """A schemathesis ``map_case`` hook: repeated post ids in a valid ``/v1/score`` body get
    fresh ones (the service compares ids as text: 7, 7.0 and "7" are one id)."""
    from schemathesis import GenerationMode

    if case.operation.path != "/v1/score" or case.meta is None:
        return case
    body_info = case.meta.components.get(_body_location())
    mode = body_info.mode if body_info is not None else case.meta.generation.mode
    if mode != GenerationMode.POSITIVE or not isinstance(case.body, dict):
        return case
    posts = case.body.get("posts")
    if not isinstance(posts, list):
        return case
    seen: set[str] = set()
    for i, post in enumerate(posts):
        if not isinstance(post, dict) or isinstance(post.get("id"), bool):
            continue
        value = post.get("id")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, str | int):
            continue
        text = str(value)
        if text in seen:
            n = i
            while f"dup-{n}" in seen:
                n += 1
            text = f"dup-{n}"
            post["id"] = text
        seen.add(text)
    return case


def _body_location() -> Any:
    from schemathesis.core.parameters import ParameterLocation

    return ParameterLocation.BODY


def _bundle(model: Path | None, retrain: bool) -> tuple[Path, str]:
    from benchmarks.serving import ensure_bundle

    return ensure_bundle(model, retrain)


def run(args: argparse.Namespace) -> int:
    from benchmarks.serving import free_port, machine, server

    bundle, how = _bundle(args.model, args.retrain)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(
        {
            "TRIAGE_API_KEYS": KEY,
            "TRIAGE_ADMIN_KEYS": KEY,
            "TRIAGE_ALLOW_UNSIGNED": "true",  # the benchmark's own freshly trained bundle
            "TRIAGE_RELOAD_INTERVAL": "0",
            "TRIAGE_MAX_BATCH": "20",  # 20 posts of 10,000 characters fit TRIAGE_MAX_CHARS
        }
    )
    cmd = [str(BIN / "triage-ml"), "serve", "--model", str(bundle), "--port", str(port)]
    with tempfile.TemporaryDirectory(prefix="api-fuzz-") as tmp:
        logdir = Path(tmp)
        env["TRIAGE_FEEDBACK_URL"] = f"sqlite:///{logdir / 'feedback.db'}"  # fuzzed corrections
        load_before = os.getloadavg()
        started = time.perf_counter()
        with server(cmd, env, port, "/readyz", logdir):
            fuzz = [
                str(BIN / "schemathesis"),
                "--config-file",
                str(CONFIG),
                "--no-color",
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--header",
                f"X-API-Key: {KEY}",
                "--max-examples",
                str(args.max_examples),
                "--workers",
                "1",
                "--continue-on-failure",
            ]
            if args.seed is not None:
                fuzz += ["--seed", str(args.seed)]
            for path in args.exclude_path:
                fuzz += ["--exclude-path", path]
            fuzz_env = {**os.environ, "SCHEMATHESIS_HOOKS": "benchmarks.api_fuzz_hooks"}
            fuzz_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            )
            # run in the temporary folder: schemathesis keeps its replay store in the cwd
            done = subprocess.run(fuzz, env=fuzz_env, capture_output=True, text=True, cwd=tmp)
        seconds = time.perf_counter() - started
        server_log = "\n".join(p.read_text() for p in logdir.glob("server-*.log"))
    output = done.stdout + done.stderr
    if args.verbose or done.returncode != 0:
        print(output[-20_000:])
    figures = summarise(output, server_log)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}")
    print(f"load average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"model: {how}")
    print(f"schemathesis {figures['version']}, --checks all, --max-examples {args.max_examples}")
    if args.exclude_path:
        print(f"operations left out: {', '.join(args.exclude_path)}")
    print(f"test cases: {figures['cases']:,} generated in {seconds:.0f} s")
    print(f"failures: {figures['failures']}")
    print(f"server errors (5xx in the service's access log): {figures['server_errors']}")
    print(f"responses by status (access log): {figures['statuses']}")
    ok = (
        done.returncode == 0
        and figures["failures"] == 0
        and figures["server_errors"] == 0
        and figures["cases"] >= args.min_cases
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def summarise(output: str, server_log: str) -> dict[str, Any]:
    """The figures of one run, from schemathesis' summary and the service's access log."""
    cases = re.search(r"([\d,]+) generated", output)
    failed = re.search(r"(\d+) failures?\b", output.split("SUMMARY")[-1])
    version = re.search(r"Schemathesis v([\w.]+)", output)
    statuses: dict[str, int] = {}
    for status in re.findall(r'HTTP/1\.1" (\d{3})', server_log):
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "cases": int(cases.group(1).replace(",", "")) if cases else 0,
        "failures": int(failed.group(1)) if failed else 0,
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
        "statuses": dict(sorted(statuses.items())),
        "version": version.group(1) if version else "?",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.api_fuzz", description=__doc__)
    ap.add_argument("--model", type=Path, help="Bundle to serve (default: the sample model).")
    ap.add_argument("--retrain", action="store_true", help="Retrain the cached sample model.")
    ap.add_argument("--max-examples", type=int, default=500, help="Per operation and phase.")
    ap.add_argument("--min-cases", type=int, default=1000, help="Fewer generated cases fail.")
    ap.add_argument("--seed", type=int, default=None, help="schemathesis' seed (reproducible).")
    ap.add_argument(
        "--exclude-path", action="append", default=[], help="Leave an operation's path out."
    )
    ap.add_argument("--verbose", action="store_true", help="Print schemathesis' own report.")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
