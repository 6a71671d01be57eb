"""Membership-attack metrics from raw scores: pure functions, no models.

Higher scores mean "member". Every metric takes the members' and the
non-members' scores separately, so the pool sizes are explicit:

- the paper's accuracy: precision among the top-|members| scores
  (Rajotte & Ng 2020, Sec. IV-B), with its random-guess base rate;
- ROC AUC and the attacker's advantage max |TPR - FPR| (scikit-learn's ROC);
- TPR at a low FPR with a Clopper-Pearson interval and its counts
  (Carlini et al. 2022, "Membership inference attacks from first principles");
- total-variation distance of the two score histograms (privGAN code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta
from sklearn.metrics import roc_auc_score, roc_curve


@dataclass(frozen=True)
class TprAtFpr:
    """The best threshold whose false-positive rate stays at or below ``level``."""

    level: float  # the FPR asked for
    tpr: float  # members caught at that threshold / members
    low: float  # Clopper-Pearson interval of ``tpr``
    high: float
    true_positives: int
    false_positives: int  # non-members above the threshold (<= floor(level * nonmembers))
    resolved: bool  # the pool has enough non-members to allow one false positive at ``level``


@dataclass(frozen=True)
class AttackMetrics:
    """Every number of one attack on one pool."""

    members: int
    nonmembers: int
    accuracy: float  # precision at |members|
    base_rate: float  # |members| / |pool|: random guessing's expected accuracy
    auc: float
    advantage: float  # max over thresholds of |TPR - FPR|
    tv_distance: float  # between member and non-member score histograms
    tpr_at: tuple[TprAtFpr, ...]


def _labelled(members: np.ndarray, nonmembers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    members = np.asarray(members, dtype=np.float64).ravel()
    nonmembers = np.asarray(nonmembers, dtype=np.float64).ravel()
    if len(members) == 0 or len(nonmembers) == 0:
        raise ValueError(f"an attack needs members and non-members; got {len(members)} and "
                         f"{len(nonmembers)} scores")
    if not (np.isfinite(members).all() and np.isfinite(nonmembers).all()):
        raise ValueError("attack scores contain NaN or infinity; check the scorer")
    scores = np.concatenate([members, nonmembers])
    labels = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    return scores, labels


def precision_at_members(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """Fraction of members among the top-|members| scores.

    Ties at the cut are shared out in expectation (as if broken at random),
    so a constant scorer gets exactly the base rate, whatever the row order.
    """
    scores, labels = _labelled(members, nonmembers)
    k = len(members)
    cut = np.sort(scores)[::-1][k - 1]
    above, tied = scores > cut, scores == cut
    taken = k - int(above.sum())
    hits = labels[above].sum() + taken * labels[tied].sum() / tied.sum()
    return float(hits / k)


def clopper_pearson(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of ``successes / trials`` (Clopper & Pearson 1934)."""
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1; got {successes}/{trials}")
    alpha = 1.0 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return low, high


def tpr_at_fpr(
    members: np.ndarray, nonmembers: np.ndarray, *, level: float, confidence: float = 0.95
) -> TprAtFpr:
    """Highest TPR over thresholds with FPR <= ``level``, with its interval and counts."""
    scores, labels = _labelled(members, nonmembers)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    ok = np.flatnonzero(fpr <= level + 1e-12)
    best = ok[np.argmax(tpr[ok])]
    n_pos, n_neg = len(members), len(nonmembers)
    tp, fp = int(round(tpr[best] * n_pos)), int(round(fpr[best] * n_neg))
    low, high = clopper_pearson(tp, n_pos, confidence=confidence)
    return TprAtFpr(level=level, tpr=tp / n_pos, low=low, high=high, true_positives=tp,
                    false_positives=fp, resolved=math.floor(level * n_neg + 1e-9) >= 1)


def advantage(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """max |TPR - FPR| over thresholds (Yeom et al. 2018's membership advantage)."""
    scores, labels = _labelled(members, nonmembers)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(np.max(np.abs(tpr - fpr)))


def tv_distance(members: np.ndarray, nonmembers: np.ndarray, *, bins: int = 50) -> float:
    """Total variation between the two normalised score histograms.

    Bins are ``bins`` equal steps on [0, 1] when every score is a probability
    (the privGAN code's measure), otherwise on the scores' joint range.
    """
    scores, _ = _labelled(members, nonmembers)
    lo, hi = float(scores.min()), float(scores.max())
    span = (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi if hi > lo else lo + 1.0)
    p, _ = np.histogram(members, bins=bins, range=span)
    q, _ = np.histogram(nonmembers, bins=bins, range=span)
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


def attack_metrics(
    members: np.ndarray,
    nonmembers: np.ndarray,
    *,
    fpr_levels: tuple[float, ...] = (0.01, 0.001),
    confidence: float = 0.95,
    bins: int = 50,
) -> AttackMetrics:
    """All metrics of one attack; ``members`` / ``nonmembers`` are 1-D score arrays."""
    scores, labels = _labelled(members, nonmembers)
    return AttackMetrics(
        members=len(members),
        nonmembers=len(nonmembers),
        accuracy=precision_at_members(members, nonmembers),
        base_rate=len(members) / len(scores),
        auc=float(roc_auc_score(labels, scores)),
        advantage=advantage(members, nonmembers),
        tv_distance=tv_distance(members, nonmembers, bins=bins),
        tpr_at=tuple(tpr_at_fpr(members, nonmembers, level=f, confidence=confidence)
                     for f in fpr_levels),
    )
