"""White-box scorers: the attacker holds the trained discriminators.

- ``logan``: LOGAN (Hayes et al. 2019), as in the privGAN code's ``WBattack``:
  score a row with D's probability that it is real, using the row's class's
  D. For privGAN the attacker holds every owner's D_i and aggregates their
  scores (``max``, the privGAN paper's attack, or ``mean``, its sanity
  check) over the owners that hold the row's class (an owner without rows
  of a class has an untrained D_i of it); ``own`` uses only the attacked
  owner's D_j.
- ``central_attribution``: can the shared central discriminator D_central tell which
  owner a real row came from? Score = D_central's softmax probability of owner j.
"""

from __future__ import annotations

import numpy as np

from privshare.artifacts import Run
from privshare.attacks.registry import register_attack

AGGREGATES = ("max", "mean", "own")


@register_attack("logan")
def logan_scores(
    run: Run, *, owner: int, x: np.ndarray, y: np.ndarray, method: str = "privgan",
    aggregate: str = "max", holds: np.ndarray | None = None,
) -> np.ndarray:
    """D's P(real) for each row, aggregated over discriminators; (n,) in [0, 1].

    ``method="gan"`` (or ``"dpgan"``) uses owner j's local GAN discriminator
    (its DP-SGD one; one D: the aggregate changes nothing); ``method="privgan"``
    uses every D_i of the privGAN run (``max`` / ``mean``) or only D_j (``own``).
    ``holds`` (owners, classes) bool, the partition's: a row is then scored
    only by the D_i of owners that hold its class (None: every owner holds
    every class).
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate={aggregate!r}: choose one of {', '.join(AGGREGATES)}")
    if method not in run.methods:
        raise ValueError(f"method {method!r} was not trained in {run.root}; it has {run.methods}")
    which = [owner] if method != "privgan" or aggregate == "own" else list(range(run.owners))
    per_d = np.stack([run.score(method, j, x, y) for j in which])  # (|which|, n)
    if holds is not None and not holds[which].all():  # only D_i of owners holding the class
        trained = holds[which][:, run.class_index(y)]  # (|which|, n)
        per_d = np.where(trained, per_d, np.nan)
        return np.nanmean(per_d, axis=0) if aggregate == "mean" else np.nanmax(per_d, axis=0)
    return per_d.mean(axis=0) if aggregate == "mean" else per_d.max(axis=0)


@register_attack("central_attribution")
def central_attribution_scores(run: Run, *, owner: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """D_central's probability that each row came from ``owner``; (n,) in [0, 1]."""
    if "privgan" not in run.methods:
        raise ValueError(f"{run.root} has no privGAN models, so no central discriminator")
    return run.central_probabilities(x, y)[:, owner]
