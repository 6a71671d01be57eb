"""Membership-inference attacks: scorers registered by name, pools, metrics.

Scorers share one signature, ``scorer(run, owner=j, x=x, y=y, **options)``
(see :mod:`privshare.attacks.registry`); ``logan`` (white-box, on the
discriminators), ``central_attribution`` (the central discriminator) and
``monte_carlo`` (black-box, generated samples only) are built in.
"""

from privshare.attacks.blackbox import make_embedding, monte_carlo_scores, pixel_embedding
from privshare.attacks.metrics import (
    AttackMetrics,
    TprAtFpr,
    advantage,
    attack_metrics,
    clopper_pearson,
    precision_at_members,
    tpr_at_fpr,
    tv_distance,
)
from privshare.attacks.pools import AttackPool, draw_pools
from privshare.attacks.registry import available_attacks, get_attack, register_attack, score
from privshare.attacks.suite import PLAN, PrivacyResult, privacy_evaluation
from privshare.attacks.whitebox import central_attribution_scores, logan_scores

__all__ = [
    "PLAN",
    "AttackMetrics",
    "AttackPool",
    "PrivacyResult",
    "TprAtFpr",
    "advantage",
    "attack_metrics",
    "available_attacks",
    "clopper_pearson",
    "central_attribution_scores",
    "draw_pools",
    "get_attack",
    "logan_scores",
    "make_embedding",
    "monte_carlo_scores",
    "pixel_embedding",
    "precision_at_members",
    "privacy_evaluation",
    "register_attack",
    "score",
    "tpr_at_fpr",
    "tv_distance",
]
