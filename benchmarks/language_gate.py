"""How often scoring can skip the language identifier, on real tweets.

    .venv/bin/python -m benchmarks.language_gate [--datasets ../shared/datasets] [--runs 5]

A post of which at least ``KNOWN_SHARE`` of the distinct words are in the model's word
vocabulary is readable without asking py3langid (``triage_ml.model.language.foreign``). This
fits the default ``params.yaml``'s normaliser and word n-grams on 80% of
twitter-airline-sentiment (real English tweets to airlines), then on the other 20% reports:
the share of posts that skip the identifier, whether any post is flagged differently with and
without the gate, and the median time per post of the check both ways. Then the same for a
fixed set of complaints written in other languages (which must all still be asked about and
flagged).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality.tasks import default_datasets_dir, repo_root
from triage_ml.contract import load_params
from triage_ml.model import KNOWN_SHARE, build_features, foreign, known_share, word_vocabulary

#: complaints to an airline in six other languages (written for this benchmark)
FOREIGN = [
    "Wo ist mein Koffer? Seit drei Tagen warte ich auf eine Antwort von euch",
    "Mi vuelo fue cancelado y nadie en el aeropuerto me quiere ayudar",
    "Je n'ai toujours pas reçu mon remboursement, c'est inadmissible",
    "Il mio volo è stato cancellato e nessuno risponde al telefono",
    "Mijn vlucht is geannuleerd en niemand bij de balie helpt me",
    "Meu voo foi cancelado e ninguém me ajuda no aeroporto",
]


def _median_ms_per_post(texts: list[str], known, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        foreign(texts, ["en"], known)
        times.append((time.perf_counter() - started) / len(texts) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=Path, default=None, help="default: ../shared/datasets")
    ap.add_argument("--runs", type=int, default=5, help="timing runs (the median is reported)")
    args = ap.parse_args(argv)
    path = (args.datasets or default_datasets_dir()) / "twitter-airline-sentiment" / "Tweets.csv"
    if not path.exists():
        print(f"twitter-airline-sentiment not found at {path}")
        return 1
    texts = pd.read_csv(path)["text"].astype(str).tolist()
    order = np.random.default_rng(0).permutation(len(texts))
    cut = int(0.8 * len(texts))
    history = [texts[i] for i in order[:cut]]
    new = [texts[i] for i in order[cut:]]

    params = load_params(repo_root() / "params.yaml")
    text_only = params.train.features.model_copy(update={"metadata": False, "char_weight": 0.0})
    features = build_features(text_only, params.train.normaliser)
    features.fit(pd.DataFrame({"text": history}))
    known = word_vocabulary(features)

    gated, plain = foreign(new, ["en"], known), foreign(new, ["en"], None)
    shares = [known_share(text, known) for text in new]
    # the posts the identifier is asked about: long enough to tell, under the known share
    asked_new = sum(share is not None and share < KNOWN_SHARE for share in shares)
    foreign_flags = foreign(FOREIGN, ["en"], known)
    foreign_shares = [known_share(text, known) for text in FOREIGN]
    asked_foreign = sum(share is not None and share < KNOWN_SHARE for share in foreign_shares)
    differ = sum(a != b for a, b in zip(gated, plain, strict=True))

    print(f"history: {len(history)} tweets of {path.parent.name}; vocabulary {len(known)} words")
    print(f"held-out tweets: {len(new)}")
    print(
        f"  sent to the identifier: {asked_new} ({asked_new / len(new):.1%}); "
        f"skipped: {1 - asked_new / len(new):.1%}"
    )
    print(f"  flagged as foreign without the gate: {sum(map(bool, plain))}, with it: "
          f"{sum(map(bool, gated))}; posts whose flag differs: {differ}")  # fmt: skip
    ms_gated = _median_ms_per_post(new, known, args.runs)
    ms_plain = _median_ms_per_post(new, None, args.runs)
    print(
        f"  check per post (median of {args.runs} runs): {ms_plain * 1e3:.0f} us without the "
        f"gate, {ms_gated * 1e3:.0f} us with it"
    )
    print(f"foreign complaints: {len(FOREIGN)}, sent to the identifier: {asked_foreign}")
    for text, flag, share in zip(FOREIGN, foreign_flags, foreign_shares, strict=True):
        print(f"  {share:4.0%} known, flagged as {flag!r}: {text}")
    return 0 if all(foreign_flags) and differ == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
