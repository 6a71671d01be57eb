"""The long result rows every measurement produces, and the evaluation's seeds.

One row per (source, owner, seed, metric, class)::

    {"source": "privgan", "owner": "0", "seed": 0, "metric": "accuracy",
     "class": "all", "value": 0.91, "n": 10000}

``owner`` is the owner index as a string, or ``"all"`` for pooled sources;
``class`` is a label as a string, or ``"all"``; ``n`` is the count behind the
value (test rows, training rows, pool rows, members). These names are what
the sweep store and the reports read (see :mod:`privshare.reports.names`).
"""

from __future__ import annotations

from typing import Any

from privshare.seeding import STAGE_EVALUATION, derive_seed

ALL = "all"  # class (or owner) of a row over every class (or pooled owners)

# metrics
ACCURACY = "accuracy"  # classifier accuracy on real test rows (first protocol; others: accuracy_<name>)
FIT_STEPS = "fit_steps"  # converged protocol: optimizer steps taken (n = training rows)
FIT_BEST_STEP = "fit_best_step"  # step whose weights were kept
FIT_VAL_ACCURACY = "fit_val_accuracy"  # best validation accuracy (n = validation rows)
FIT_CAPPED = "fit_capped"  # 1 if max_steps stopped it before patience ran out
FRECHET = "frechet"  # Frechet distance of classifier features, source vs real test rows
PRECISION = "precision"  # k-NN manifold precision (Kynkaanniemi et al. 2019)
RECALL = "recall"
ATTACK_ACCURACY = "attack_accuracy"  # precision at |members| (the paper's measure)
BASE_RATE = "base_rate"
AUC = "auc"
ADVANTAGE = "advantage"  # max |TPR - FPR|
TV_DISTANCE = "tv_distance"
MEMBERS = "members"  # pool counts (for privgan_central, "nonmembers" are the other owners' rows)
NONMEMBERS = "nonmembers"

# sub-streams of derive_seed(run seed, STAGE_EVALUATION, eval seed, PART, ...)
UTILITY, SAMPLES, FEATURES, POOLS, BLACKBOX = range(5)


def tpr_metric(level: float) -> str:
    """``0.01`` -> ``"tpr_at_fpr_1pct"``, ``0.001`` -> ``"tpr_at_fpr_0.1pct"``."""
    return f"tpr_at_fpr_{level * 100:g}pct"


def metric_row(
    *, source: str, owner: int | str, seed: int, metric: str, cls: int | str, value: float,
    n: int | None,
) -> dict[str, Any]:
    """One long row (see the module docstring)."""
    return {"source": source, "owner": str(owner), "seed": int(seed), "metric": metric,
            "class": str(cls), "value": float(value), "n": None if n is None else int(n)}


def stream_seed(run_seed: int, eval_seed: int, part: int, *keys: int) -> int:
    """Seed of one evaluation stream: a child of the run's STAGE_EVALUATION stream."""
    return derive_seed(run_seed, STAGE_EVALUATION, eval_seed, part, *keys)
