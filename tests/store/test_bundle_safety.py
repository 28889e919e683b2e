"""A model file cannot run code: hostile files in every format the loader reads are refused.

Each hostile file carries a payload that would create a marker file if it were ever executed
(unpickled), and its sha256 is rewritten in metadata.json, as someone who can write an unsigned
bundle's folder would do. Loading must refuse it with a clear message, and the marker must not
exist afterwards. The service's watcher and the registry path are in tests/serve and
test_tracking; this file covers the bundle loader and ``triage-ml predict``.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from triage_ml.store.bundle import BundleError, load_bundle


class Payload:
    """Unpickling this opens (creates) the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))


def rewrite(bundle: Path, name: str, raw: bytes, **metadata) -> None:
    """Replace a bundle file and update its checksum (an unsigned bundle cannot tell)."""
    (bundle / name).write_bytes(raw)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["files"][name] = hashlib.sha256(raw).hexdigest()
    meta.update(metadata)
    (bundle / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))


def arrays_of(bundle: Path) -> dict[str, np.ndarray]:
    with np.load(bundle / "model.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def npz(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _legacy_pickle(bundle: Path, marker: Path) -> None:
    rewrite(bundle, "model.joblib", pickled(marker), format_version=1)


def _legacy_pickle_claiming_format_2(bundle: Path, marker: Path) -> None:
    rewrite(bundle, "model.joblib", pickled(marker))


def _npz_object_array(bundle: Path, marker: Path) -> None:
    arrays = arrays_of(bundle)
    arrays["coef"] = np.array([Payload(marker)], dtype=object)
    rewrite(bundle, "model.npz", npz(arrays))


def _npz_extra_object_array(bundle: Path, marker: Path) -> None:
    arrays = arrays_of(bundle)
    arrays["extra"] = np.array([Payload(marker), 1], dtype=object)
    rewrite(bundle, "model.npz", npz(arrays))


def _npz_is_a_pickle(bundle: Path, marker: Path) -> None:
    rewrite(bundle, "model.npz", pickled(marker))


def _npz_member_is_a_pickle(bundle: Path, marker: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("coef", pickled(marker))  # not an .npy: numpy hands back raw bytes
    rewrite(bundle, "model.npz", buffer.getvalue())


def _npz_strings(bundle: Path, marker: Path) -> None:
    arrays = arrays_of(bundle)
    arrays["thresholds"] = np.array(["0.5"] * len(arrays["thresholds"]))
    rewrite(bundle, "model.npz", npz(arrays))


def _json_edit(edit):
    def damage(bundle: Path, marker: Path) -> None:
        state = json.loads((bundle / "model.json").read_text())
        edit(state, marker)
        rewrite(bundle, "model.json", json.dumps(state).encode())

    return damage


def _ngram_block(state: dict) -> dict:
    text = state["features"]["blocks"][0]["node"]
    return text["steps"][1]["node"]["parts"][0]["node"]


CASES = {
    "legacy pickle (format 1)": (_legacy_pickle, "triage-ml convert"),
    "pickle beside a format 2 bundle": (_legacy_pickle_claiming_format_2, "triage-ml convert"),
    "npz with an object array": (_npz_object_array, "only numeric arrays"),
    "npz with an extra object array": (_npz_extra_object_array, "only numeric arrays"),
    "npz that is a pickle": (_npz_is_a_pickle, "only numeric arrays"),
    "npz member that is a pickle": (_npz_member_is_a_pickle, "only numeric arrays"),
    "npz with strings": (_npz_strings, "only numeric arrays"),
    "json: a class to build": (
        _json_edit(lambda s, m: s["features"].update({"py/object": "os.system"})),
        "Extra inputs are not permitted",
    ),
    "json: an unknown kind": (
        _json_edit(lambda s, m: s["features"]["blocks"][0]["node"].update(kind="pickle")),
        "does not match any of the expected tags",
    ),
    "json: labels as an object": (
        _json_edit(lambda s, m: s.update(labels={"complaint": 1})),
        "labels: Input should be a valid array",
    ),
    "json: a number as text": (
        _json_edit(lambda s, m: s.update(abstain_band="0.1")),
        "abstain_band: Input should be a valid number",
    ),
    "json: a callable tokenizer": (
        _json_edit(lambda s, m: _ngram_block(s)["params"].update(tokenizer="os.system")),
        "Extra inputs are not permitted",
    ),
    "json: a spaCy pipeline from a path": (
        _json_edit(
            lambda s, m: s["features"]["blocks"][0]["node"]["steps"][0]["node"].update(
                model=str(m.parent)
            )
        ),
        "String should match pattern",
    ),
    "json: vocabulary longer than idf": (
        _json_edit(lambda s, m: _ngram_block(s)["vocabulary"].append("zzz-extra")),
        "has shape",
    ),
    "json: parts that do not fit": (
        _json_edit(lambda s, m: s["features"]["blocks"][1].update(columns=["text"])),
        "do not make a working model",
    ),
    "json: not JSON": (
        lambda b, m: rewrite(b, "model.json", pickled(m)),
        "not a model description written by triage-ml",
    ),
}


@pytest.fixture
def hostile(bundle_dir: Path, tmp_path: Path):
    def make(case: str) -> tuple[Path, Path]:
        bundle = tmp_path / "models" / "triage"
        shutil.copytree(bundle_dir, bundle)
        marker = tmp_path / "PWNED"
        CASES[case][0](bundle, marker)
        return bundle, marker

    return make


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_bundle_is_refused_and_runs_nothing(hostile, case) -> None:
    bundle, marker = hostile(case)
    with pytest.raises(BundleError, match=CASES[case][1]) as caught:
        load_bundle(bundle, key="")
    assert str(bundle) in str(caught.value)  # the message names where
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize(
    "case", ["legacy pickle (format 1)", "npz with an object array", "json: a class to build"]
)
def test_predict_refuses_a_hostile_bundle_with_exit_2(hostile, case, tmp_path) -> None:
    from triage_ml.cli import app

    bundle, marker = hostile(case)
    posts = tmp_path / "posts.csv"
    posts.write_text("id,text\n1,my order never arrived\n")
    result = CliRunner().invoke(
        app,
        ["predict", "--model", str(bundle), "--data", str(posts), "--out", str(tmp_path / "o.csv")],
        env={"TRIAGE_BUNDLE_KEY": ""},
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    assert not marker.exists(), "the payload ran"
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("name", ["encoder.onnx", "encoder-tokenizer.json", "encoder.json"])
def test_tampered_encoder_files_are_refused_before_they_are_used(bundle_dir, tmp_path, name):
    bundle = tmp_path / "enc"
    shutil.copytree(bundle_dir, bundle)
    meta = json.loads((bundle / "metadata.json").read_text())
    for encoder_file in ("encoder.onnx", "encoder-tokenizer.json", "encoder.json"):
        (bundle / encoder_file).write_bytes(b"{}")
        meta["files"][encoder_file] = hashlib.sha256(b"{}").hexdigest()
    (bundle / "metadata.json").write_text(json.dumps(meta))
    (bundle / name).write_bytes(b"{} ")  # changed after its checksum was recorded
    with pytest.raises(BundleError, match=f"checksum of {name} does not match"):
        load_bundle(bundle, key="")


def test_each_file_is_read_once_and_parsed_from_the_checked_bytes(bundle_dir, monkeypatch):
    """No second read between the check and the use: a file swapped after its checksum was
    checked is never what gets parsed."""
    opened: list[str] = []
    path_open = Path.open

    def counting_open(self, *args, **kwargs):
        if self.parent == bundle_dir:
            opened.append(self.name)
        return path_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    monkeypatch.setattr("numpy.load", _only_from_memory(np.load))
    load_bundle(bundle_dir, key="")
    files = ["metadata.json", "model.json", "model.npz", "playbook.yaml", "params.yaml"]
    assert sorted(opened) == sorted(files)  # each once


def _only_from_memory(load):
    def checked(file, *args, **kwargs):
        assert isinstance(file, io.BytesIO), f"numpy.load read {file} from disk"
        assert kwargs.get("allow_pickle") is False
        return load(file, *args, **kwargs)

    return checked


def test_signed_bundle_with_a_rewritten_checksum_is_refused(triager, params, tmp_path) -> None:
    """With a key, rewriting a file and its checksum breaks the signature."""
    from triage_ml.decide.playbook import load_playbook
    from triage_ml.store.bundle import save_bundle

    bundle = save_bundle(
        tmp_path / "signed", triager, load_playbook(), params.model_dump(mode="json"), key="k1"
    )
    marker = tmp_path / "PWNED"
    _npz_object_array(bundle, marker)
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(bundle, key="k1")
    assert not marker.exists()


def test_a_bundle_holds_no_pickle(bundle_dir) -> None:
    names = {p.name for p in bundle_dir.iterdir()}
    assert names == {"metadata.json", "model.json", "model.npz", "playbook.yaml", "params.yaml"}
    arrays = arrays_of(bundle_dir)  # readable without pickle
    assert all(a.dtype.kind in "fiub" for a in arrays.values())
    json.loads((bundle_dir / "model.json").read_text())
