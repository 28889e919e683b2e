"""Scale benchmark: scoring throughput and peak memory in process, streaming, on Dask (1 and 2
workers) and on Spark (local mode, the MLflow pyfunc as a UDF); training time, peak memory and
held-out macro-F1 by history size. One table at the end (docs/scale.md).

    .venv/bin/python -m benchmarks.scale                          # 20k posts, histories 5k, 20k
    .venv/bin/python -m benchmarks.scale --posts 1000000 --history 100000,1000000 --out scale.json
    .venv/bin/python -m benchmarks.scale --history 100000 --train-scale in_memory,bounded --kinds ""
    .venv/bin/python -m benchmarks.scale --model models/triage --history "" --kinds "" \
        --stream-sizes 1000000,10000000     # `triage-ml predict` streaming 1M and 10M posts

Everything runs on the project's synthetic sample (``triage-ml sample``): the scored posts are
a sample of ``--posts`` rows without labels, scored by the model trained on the first
``--history`` size (``triage-ml train --no-track``; each size is trained once per
``--train-scale`` mode, ``train.scale``: auto, in_memory or bounded, and the table says which
path ``auto`` took). Each measurement runs in its own process under
``/usr/bin/time``, which gives that process's peak RSS (the largest of it and the children it
waited for); Dask and Spark also report the peak of their largest worker
(``resource.getrusage(RUSAGE_CHILDREN)``). Throughput is posts/s of the whole command,
including reading, validation and writing, excluding interpreter start-up and model loading
where the engine allows. ``--stream-sizes`` runs the user's command itself, ``triage-ml predict``
on a Parquet file of each size, under ``/usr/bin/time``: its peak RSS should not grow with the
file. On a shared machine the load average is printed with the table:
figures taken under load are slower than the machine can do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("in-process", "streaming", "dask-1", "dask-2", "spark")


def _child(kind: str, model: str, data: str, out: str) -> dict:
    """One scoring run, in this (child) process; returns what it measured."""
    import pandas as pd

    started = time.perf_counter()
    if kind == "in-process":  # the pre-streaming path: the whole file in memory
        from triage_ml.contract import PredictionWriter, read_table, validate_posts
        from triage_ml.decide import score_in_batches
        from triage_ml.store import load_bundle

        bundle = load_bundle(model)
        started = time.perf_counter()
        frame, _ = validate_posts(read_table(data), label_set=bundle.labels, source=data)
        with PredictionWriter(out) as writer:
            for preds in score_in_batches(bundle, frame):
                writer.write(preds)
        posts = len(frame)
    elif kind == "streaming":
        from triage_ml.scale import score_file
        from triage_ml.store import load_bundle

        bundle = load_bundle(model)
        started = time.perf_counter()
        posts = score_file(bundle, data, out).posts
    elif kind.startswith("dask-"):
        from triage_ml.scale import score_dataset_dask

        workers = int(kind.split("-")[1])
        posts = score_dataset_dask(model, data, out, n_workers=workers, partition_rows=10_000).posts
    else:
        posts = _spark(model, data, out)
    seconds = time.perf_counter() - started
    del pd
    return {
        "posts": posts,
        "seconds": seconds,
        "self_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "children_peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }


def _spark(model: str, data: str, out: str) -> int:
    import mlflow
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import struct

    from triage_ml.store import log_bundle

    os.environ["PYSPARK_PYTHON"] = sys.executable
    store = f"sqlite:///{Path(out).parent / 'mlflow.db'}"
    run = log_bundle(model, tracking_uri=store)
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    try:
        mlflow.set_tracking_uri(store)
        udf = mlflow.pyfunc.spark_udf(spark, run.model_uri, env_manager="local")
        cols = ["id", "text", "created_at", "channel", "author_followers", "author_verified"]
        # the pyfunc signature declares author_followers as double (NaN for unknown): Spark
        # refuses to narrow an int64 column to it implicitly
        posts = spark.read.parquet(data).select(*cols)
        posts = posts.withColumn("author_followers", posts["author_followers"].cast("double"))
        scored = posts.select(udf(struct(*cols)).alias("t")).select("t.*")
        scored.write.mode("overwrite").parquet(out)
        return spark.read.parquet(out).count()
    finally:
        spark.stop()


def _timed(cmd: list[str], workdir: Path) -> tuple[dict | None, float, int, str]:
    """Run ``cmd`` under /usr/bin/time: (its JSON line if any, wall seconds, peak KB, stderr)."""
    rss = workdir / "time.txt"
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(rss), *cmd],
        capture_output=True,
        text=True,
        env={**os.environ, "TRIAGE_TRACKING": "0"},
    )
    wall = time.perf_counter() - started
    peak = int(rss.read_text().split()[-1]) if rss.exists() else 0
    line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith("{")), None)
    if proc.returncode != 0:
        return None, wall, peak, proc.stderr[-1500:]
    return (json.loads(line) if line else None), wall, peak, ""


def _mb(kb: int | float) -> str:
    return f"{kb / 1024:,.0f} MB" if kb else "-"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--posts", type=int, default=20_000, help="posts to score")
    parser.add_argument(
        "--history", default="5000,20000", help="comma-separated history sizes to train on"
    )
    parser.add_argument(
        "--train-scale",
        default="auto",
        help="comma-separated train.scale modes to train each history with: auto, in_memory, "
        "bounded",
    )
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"subset of {','.join(KINDS)}")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--model", type=Path, help="score with this bundle (default: the first history's model)"
    )
    parser.add_argument(
        "--stream-sizes",
        default="",
        help="comma-separated file sizes (posts) to score with `triage-ml predict` (streamed)",
    )
    parser.add_argument(
        "--child", nargs=4, metavar=("KIND", "MODEL", "DATA", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(*args.child)))
        return

    cli = str(Path(sys.executable).with_name("triage-ml"))
    me = [sys.executable, "-m", "benchmarks.scale", "--child"]
    rows: list[tuple[str, ...]] = []
    figures: dict = {"machine": _machine(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="triage-scale-") as tmp:
        work = Path(tmp)
        # training by history size, once per train.scale mode
        modes = [m for m in args.train_scale.split(",") if m]
        for size in [int(s) for s in args.history.split(",") if s]:
            hist = work / f"history-{size}.csv"
            subprocess.run(
                [cli, "sample", "--rows", str(size), "--out", str(hist)],
                check=True,
                capture_output=True,
            )
            for mode in modes:
                rows.append(_train(cli, hist, size, mode, work, figures))
        # the scorer: --model, else the model trained on the first history size (first mode)
        sizes = [s for s in args.history.split(",") if s]
        if args.model is None and not sizes:
            parser.error("--history is empty: name the model to score with (--model)")
        model = args.model or work / f"m-{int(sizes[0])}-{modes[0]}"
        posts = work / "posts.parquet"
        kinds = [k for k in args.kinds.split(",") if k]
        if kinds:
            _posts(args.posts, posts)
        for kind in kinds:
            suffix = ".parquet" if kind in ("in-process", "streaming") else ""
            out = work / f"scored-{kind}{suffix}"
            result, wall, peak, err = _timed([*me, kind, str(model), str(posts), str(out)], work)
            if result is None:
                figures[kind] = {"error": err}
                rows.append(
                    (f"score {args.posts:,}: {kind}", "-", "-", "-", f"failed: {err[-300:]}")
                )
                continue
            rate = result["posts"] / result["seconds"]
            workers = result["children_peak_kb"] if kind.startswith(("dask", "spark")) else 0
            figures[kind] = {**result, "wall": wall, "peak_kb": peak, "posts_per_s": rate}
            rows.append(
                (
                    f"score {args.posts:,}: {kind}",
                    f"{rate:,.0f} posts/s",
                    _mb(peak),
                    _mb(workers),
                    "",
                )
            )
        for size in [int(s) for s in args.stream_sizes.split(",") if s]:
            rows.append(_predict_cli(cli, model, size, work, figures))
        shutil.rmtree(work, ignore_errors=True)
    figures["load_after"] = os.getloadavg()
    _print(rows, figures)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


def _train(cli: str, hist: Path, size: int, mode: str, work: Path, figures: dict) -> tuple:
    """``triage-ml train`` on ``hist`` with ``train.scale: mode``: a table row, figures added."""
    params = work / f"params-{mode}.yaml"
    params.write_text(f"train:\n  scale: {mode}\n")
    metrics = work / f"metrics-{size}-{mode}.json"
    model = work / f"m-{size}-{mode}"
    _, wall, peak, err = _timed(
        [cli, "train", "--data", str(hist), "--out", str(model), "--params", str(params),
         "--no-track", "--metrics-out", str(metrics)],
        work,
    )  # fmt: skip
    f1 = json.loads(metrics.read_text())["macro_f1"] if metrics.exists() else None
    took = None
    if (model / "metadata.json").exists():
        took = (json.loads((model / "metadata.json").read_text()).get("train_scale") or {}).get(
            "mode"
        )
    figures[f"train-{size}-{mode}"] = {
        "seconds": wall,
        "peak_kb": peak,
        "macro_f1": f1,
        "mode": took,
        "error": err,
    }
    note = f"macro-F1 {f1:.3f}" if f1 is not None else f"failed: {err[-200:]}"
    label = f"train, history {size:,}, {mode}" + (f" ({took})" if mode == "auto" and took else "")
    return (label, f"{wall:,.0f} s", _mb(peak), "-", note)


def _predict_cli(cli: str, model: Path, size: int, work: Path, figures: dict) -> tuple:
    """``triage-ml predict`` on a Parquet file of ``size`` posts: a table row, figures added."""
    posts, out = work / f"stream-{size}.parquet", work / f"stream-{size}-scored.parquet"
    _posts(size, posts)
    load = os.getloadavg()[0]
    _, wall, peak, err = _timed(
        [cli, "predict", "--model", str(model), "--data", str(posts), "--out", str(out)], work
    )
    posts.unlink()
    out.unlink(missing_ok=True)
    rate = size / wall
    figures[f"predict-{size}"] = {
        "seconds": wall, "peak_kb": peak, "posts_per_s": rate, "load_before": load, "error": err
    }  # fmt: skip
    what = f"triage-ml predict {size:,} (streamed)"
    if err:
        return (what, "-", "-", "-", f"failed: {err[-300:]}")
    note = f"whole command; load {load:.1f} at its start"
    return (what, f"{rate:,.0f} posts/s", _mb(peak), "-", note)


def _posts(n: int, path: Path) -> None:
    """``n`` sample posts without labels, written as Parquet in row groups of 10,000."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from triage_ml.synthetic import iter_sample

    writer = None
    for chunk in iter_sample(n, seed=3, chunk_rows=100_000):
        table = pa.Table.from_pandas(
            chunk.drop(columns=["labels", "urgency"]), preserve_index=False
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=10_000)
    if writer:
        writer.close()


def _machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {python}"


def _print(rows: list[tuple[str, ...]], figures: dict) -> None:
    header = ("what", "speed", "peak RSS (process)", "peak RSS (largest worker)", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"machine: {figures['machine']}; load average before/after: "
          f"{figures['load_before'][0]:.1f} / {figures['load_after'][0]:.1f}")  # fmt: skip
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
