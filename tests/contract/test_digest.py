"""``sha256_file``: the one file digest the bundle store, the registry and the base model's record
share, read block by block."""

from __future__ import annotations

import hashlib

from triage_ml.contract import sha256_file


def test_a_file_over_several_blocks_hashes_as_its_whole_bytes(tmp_path) -> None:
    # 2.5 MiB: three reads of a megabyte, the last one partial
    data = bytes(range(256)) * (10 * 1024)
    path = tmp_path / "weights.safetensors"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == sha256_file(path)


def test_one_changed_byte_changes_the_digest(tmp_path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00" * (1 << 20) + b"a")
    before = sha256_file(path)
    path.write_bytes(b"\x00" * (1 << 20) + b"b")
    assert sha256_file(path) != before


def test_an_empty_file_has_the_empty_digest(tmp_path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert sha256_file(path) == hashlib.sha256(b"").hexdigest()
