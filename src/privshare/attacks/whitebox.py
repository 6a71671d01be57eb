"""White-box scorers: the attacker holds the trained discriminators.

- ``logan``: LOGAN (Hayes et al. 2019), as in the privGAN code's ``WBattack``:
  score a row with D's probability that it is real, using the row's class's
  D. For privGAN the attacker holds every owner's D_i and aggregates their
  scores (``max``, the privGAN paper's attack, or ``mean``, its sanity
  check); ``own`` uses only the attacked owner's D_j.
- ``dp_attribution``: can the shared central discriminator DP tell which
  owner a real row came from? Score = DP's softmax probability of owner j.
"""

from __future__ import annotations

import numpy as np

from privshare.artifacts import Run
from privshare.attacks.registry import register_attack

AGGREGATES = ("max", "mean", "own")


@register_attack("logan")
def logan_scores(
    run: Run, *, owner: int, x: np.ndarray, y: np.ndarray, method: str = "privgan",
    aggregate: str = "max",
) -> np.ndarray:
    """D's P(real) for each row, aggregated over discriminators; (n,) in [0, 1].

    ``method="gan"`` uses owner j's local GAN discriminator (one D: the
    aggregate changes nothing); ``method="privgan"`` uses every D_i of the
    privGAN run (``max`` / ``mean``) or only D_j (``own``).
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate={aggregate!r}: choose one of {', '.join(AGGREGATES)}")
    if method not in run.methods:
        raise ValueError(f"method {method!r} was not trained in {run.root}; it has {run.methods}")
    which = [owner] if method == "gan" or aggregate == "own" else list(range(run.owners))
    per_d = np.stack([run.score(method, j, x, y) for j in which])  # (|which|, n)
    return per_d.mean(axis=0) if aggregate == "mean" else per_d.max(axis=0)


@register_attack("dp_attribution")
def dp_attribution_scores(run: Run, *, owner: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """DP's probability that each row came from ``owner``; (n,) in [0, 1]."""
    if "privgan" not in run.methods:
        raise ValueError(f"{run.root} has no privGAN models, so no central discriminator")
    return run.central_probabilities(x, y)[:, owner]
