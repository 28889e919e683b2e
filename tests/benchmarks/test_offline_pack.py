"""benchmarks.offline_pack: the carried weights come back exact where they are used."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import offline_pack as op


def _weights(rng) -> dict[str, np.ndarray]:
    return {
        op.EMBEDDINGS: rng.normal(size=(50, 8)).astype(np.float32),
        "encoder.layer.0.weight": rng.normal(size=(8, 8)).astype(np.float32),
        "embeddings.position_ids": np.arange(16, dtype=np.int64)[None, :],
    }


def test_weights_round_trip_exact_in_used_rows_and_zero_elsewhere() -> None:
    rng = np.random.default_rng(0)
    weights = _weights(rng)
    used = [0, 3, 7, 49]
    manifest, payload = op.encode_weights(weights, used)
    json.dumps(manifest)  # the manifest is written as JSON
    back = op.decode_weights(manifest, payload)
    assert set(back) == set(weights)
    for name, array in weights.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
    emb = back[op.EMBEDDINGS]
    np.testing.assert_array_equal(emb[used], weights[op.EMBEDDINGS][used])
    assert not np.delete(emb, used, axis=0).any()
    for name in ("encoder.layer.0.weight", "embeddings.position_ids"):
        np.testing.assert_array_equal(back[name], weights[name])


def test_saved_file_is_read_by_safetensors(tmp_path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    weights = _weights(np.random.default_rng(1))
    path = tmp_path / "model.safetensors"
    op.save_safetensors(weights, path)
    loaded = safetensors_numpy.load_file(str(path))
    assert set(loaded) == set(weights)
    for name, array in weights.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == array.dtype


def test_unpack_without_a_pack_says_so(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        op.main(["unpack", str(tmp_path), str(tmp_path / "dest")])
    assert exit_.value.code == 2
    assert "holds no pack (manifest.json missing)" in capsys.readouterr().err


def test_pack_refuses_an_unknown_task(capsys) -> None:
    with pytest.raises(SystemExit):
        op.main(["pack", "--tasks", "imdb"])
    assert "unknown task(s) ['imdb']" in capsys.readouterr().err
