"""Safe promotion: is the challenger at least as good as the champion on posts neither saw?

Both models are scored on the same labelled posts, created after the newest post either was
trained on (each bundle records the time range of its training history, ``data_time_range``);
posts from inside either window would favour the model that saw them, so they are refused, or
dropped when asked. The score is macro-F1 over the label set (as ``triage-ml evaluate``), with
a 95% bootstrap interval for each model and for their difference, from the same resamples of
posts (paired: the two models' errors on a post are not independent). The challenger is refused
when its macro-F1 is below the champion's by more than the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from triage_ml.contract.errors import DataError
from triage_ml.contract.labels import label_matrix
from triage_ml.decide.scoring import score_posts

if TYPE_CHECKING:
    from triage_ml.store.bundle import Bundle

DEFAULT_TOLERANCE = 0.01
N_BOOTSTRAP = 1000


class PromotionRefused(DataError):
    """The comparison cannot be made fairly (no time range, overlapping or undated posts)."""


@dataclass
class ModelScore:
    name: str
    model_version: str
    macro_f1: float
    ci_low: float
    ci_high: float
    trained_until: str


@dataclass
class PromotionCheck:
    champion: ModelScore
    challenger: ModelScore
    difference: float
    difference_ci: tuple[float, float]
    tolerance: float
    n_posts: int
    after: str
    dropped_older: int = 0

    @property
    def passed(self) -> bool:
        return self.difference >= -self.tolerance

    def verdict(self) -> str:
        if self.passed:
            return (
                f"the challenger's macro-F1 is {self.difference:+.4f} against the champion's "
                f"(tolerance {self.tolerance:g}): promotion allowed"
            )
        return (
            f"the challenger is worse than the champion by {-self.difference:.4f} macro-F1 "
            f"(95% interval of the difference {self.difference_ci[0]:+.4f} to "
            f"{self.difference_ci[1]:+.4f}), more than the tolerance {self.tolerance:g}"
        )

    def tags(self) -> dict[str, str]:
        """What the registry records about this check on the promoted version."""
        return {
            "promotion.champion_macro_f1": f"{self.champion.macro_f1:.4f}",
            "promotion.challenger_macro_f1": f"{self.challenger.macro_f1:.4f}",
            "promotion.difference": f"{self.difference:+.4f}",
            "promotion.tolerance": f"{self.tolerance:g}",
            "promotion.posts": str(self.n_posts),
            "promotion.posts_after": self.after,
            "promotion.passed": str(self.passed).lower(),
        }


def trained_until(bundle: Bundle, name: str) -> pd.Timestamp:
    """The newest ``created_at`` of the history a bundle was trained on."""
    window = bundle.metadata.get("data_time_range")
    if not isinstance(window, dict) or not window.get("last"):
        raise PromotionRefused(
            f"{name} ({bundle.model_version}) records no time range of its training history "
            "(trained by an older triage-ml, or on posts without created_at), so no posts can "
            "be shown to be new to it; retrain it, or promote with --force"
        )
    return pd.Timestamp(window["last"])


def newer_posts(
    frame: pd.DataFrame, after: pd.Timestamp, source: str, drop_older: bool = False
) -> tuple[pd.DataFrame, int]:
    """The labelled posts created after ``after``; older or undated ones refused (or dropped)."""
    times = pd.to_datetime(frame["created_at"], utc=True, errors="coerce")
    old = ~(times > after)  # undated rows count as old: they cannot be shown to be new
    if old.any() and not drop_older:
        undated = int(times.isna().sum())
        first = times.min()
        raise PromotionRefused(
            f"{source}: {int(old.sum())} of {len(frame)} posts were created at or before "
            f"{after.strftime('%Y-%m-%dT%H:%M:%SZ')}, inside the training data of the champion "
            f"or the challenger{f' ({undated} have no created_at)' if undated else ''}"
            f"{f'; the earliest is {first:%Y-%m-%dT%H:%M:%SZ}' if pd.notna(first) else ''}. "
            "Compare on posts newer than both models' training data (pass --drop-older to "
            "drop the others)"
        )
    kept = frame[~old.to_numpy()].reset_index(drop=True)
    if kept.empty:
        raise PromotionRefused(
            f"{source}: no labelled post was created after "
            f"{after.strftime('%Y-%m-%dT%H:%M:%SZ')}, the end of the newer model's training data"
        )
    return kept, int(old.sum())


def _f1_counts(truth: np.ndarray, pred: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro-F1 for each row of ``weights`` (how often each post is drawn)."""
    tp = weights @ (truth & pred)
    fp = weights @ (~truth & pred)
    fn = weights @ (truth & ~pred)
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(denom, dtype=float), where=denom > 0)
    return f1.mean(axis=1)


def compare_models(
    champion: Bundle,
    challenger: Bundle,
    labelled: pd.DataFrame,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    source: str = "the labelled posts",
    drop_older: bool = False,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
    names: tuple[str, str] = ("champion", "challenger"),
) -> PromotionCheck:
    """Score both models on labelled posts newer than both training histories, with paired
    bootstrap intervals; raises :class:`PromotionRefused` when that cannot be done fairly."""
    if list(champion.labels) != list(challenger.labels):
        raise PromotionRefused(
            f"the champion predicts {champion.labels} and the challenger {challenger.labels}: "
            "models with different label sets cannot be compared on one macro-F1"
        )
    ends = [trained_until(champion, names[0]), trained_until(challenger, names[1])]
    after = max(ends)
    posts, dropped = newer_posts(labelled, after, source, drop_older)
    posts = posts[posts["labels"].notna()].reset_index(drop=True)
    if posts.empty:
        raise PromotionRefused(f"{source}: no labelled post to compare on")
    truth = label_matrix(posts, champion.labels).astype(bool)
    preds = [
        score_posts(b, posts, validated=True, with_reasons=False).predicted.astype(bool)
        for b in (champion, challenger)
    ]
    n = len(posts)
    rng = np.random.default_rng(seed)
    point = [float(_f1_counts(truth, p, np.ones((1, n)))[0]) for p in preds]
    boot: list[list[np.ndarray]] = [[], []]
    for start in range(0, n_bootstrap, 100):  # 100 resamples at a time: bounded memory
        size = min(100, n_bootstrap - start)
        draws = rng.multinomial(n, np.full(n, 1 / n), size=size).astype(float)
        for side, p in enumerate(preds):
            boot[side].append(_f1_counts(truth, p, draws))
    boot = [np.concatenate(parts) for parts in boot]
    diff = boot[1] - boot[0]
    scores = []
    for bundle, name, value, dist, end in zip(
        (champion, challenger), names, point, boot, ends, strict=True
    ):
        low, high = np.percentile(dist, [2.5, 97.5])
        scores.append(
            ModelScore(
                name,
                bundle.model_version,
                value,
                float(low),
                float(high),
                end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        )
    low, high = np.percentile(diff, [2.5, 97.5])
    return PromotionCheck(
        champion=scores[0],
        challenger=scores[1],
        difference=point[1] - point[0],
        difference_ci=(float(low), float(high)),
        tolerance=tolerance,
        n_posts=n,
        after=after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        dropped_older=dropped,
    )


def tag_version(
    version: str, tags: dict[str, Any], model_name: str, tracking_uri: str | None = None
) -> None:
    """Record tags on a registered version (the promotion check, a forced promotion)."""
    from triage_ml.store.tracking import mlflow_client, require_mlflow, resolve_tracking_uri

    require_mlflow()
    client = mlflow_client(resolve_tracking_uri(tracking_uri))
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, str(value))


def alias_version(model_name: str, alias: str, tracking_uri: str | None = None) -> str | None:
    """The version an alias points at now (``None``: no such alias or model yet)."""
    from triage_ml.store.tracking import mlflow_client, require_mlflow, resolve_tracking_uri

    require_mlflow()
    from mlflow.exceptions import MlflowException

    client = mlflow_client(resolve_tracking_uri(tracking_uri))
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def require_version(model_name: str, version: str, tracking_uri: str | None = None) -> None:
    """A ``TrackingError`` listing the registered versions when ``version`` is not one."""
    from triage_ml.store.registry import list_versions
    from triage_ml.store.tracking import (
        TrackingError,
        mlflow_client,
        require_mlflow,
        resolve_tracking_uri,
    )

    require_mlflow()
    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    try:
        mlflow_client(uri).get_model_version(model_name, str(version))
    except MlflowException:
        known = [v.version for v in list_versions(model_name, uri)]
        raise TrackingError(
            f"model '{model_name}' has no version {version} at {uri}; "
            f"registered versions: {', '.join(known) if known else 'none'}"
        ) from None
