"""Attack metrics with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from privshare.attacks import (
    advantage,
    attack_metrics,
    clopper_pearson,
    precision_at_members,
    tpr_at_fpr,
    tv_distance,
)


def test_a_perfect_scorer_gets_accuracy_one_and_auc_one():
    m = attack_metrics(np.ones(200), np.zeros(800))
    assert m.accuracy == 1.0 and m.auc == 1.0 and m.advantage == 1.0
    assert m.base_rate == pytest.approx(0.2) and (m.members, m.nonmembers) == (200, 800)
    assert m.tv_distance == pytest.approx(1.0)
    one_pct, tenth_pct = m.tpr_at
    assert one_pct.tpr == 1.0 and one_pct.true_positives == 200 and one_pct.false_positives == 0
    assert one_pct.resolved and not tenth_pct.resolved  # 800 non-members cannot resolve 0.1%


@pytest.mark.parametrize("members_first", [True, False])
def test_a_constant_scorer_gets_the_base_rate_and_auc_half(members_first):
    members, nonmembers = np.full(200, 0.7), np.full(800, 0.7)
    if not members_first:  # the row order must not matter
        members, nonmembers = members[::-1], nonmembers[::-1]
    m = attack_metrics(members, nonmembers)
    assert m.accuracy == pytest.approx(0.2) and m.base_rate == pytest.approx(0.2)
    assert m.auc == 0.5 and m.advantage == 0.0 and m.tv_distance == 0.0
    assert all(t.tpr == 0.0 and t.false_positives == 0 for t in m.tpr_at)


def test_ties_at_the_cut_are_shared_in_expectation():
    # top-2 of [0.9 (member), 0.5 (member), 0.5 (non), 0.1 (non)]: 0.9 for sure, then one of
    # the two 0.5 rows at random: expected hits 1 + 1/2 out of 2.
    assert precision_at_members([0.9, 0.5], [0.5, 0.1]) == pytest.approx(0.75)
    assert precision_at_members([0.9, 0.8], [0.5, 0.1]) == 1.0
    assert precision_at_members([0.1, 0.2], [0.5, 0.9]) == 0.0


def test_auc_and_advantage_match_hand_counts():
    rng = np.random.default_rng(0)
    members, nonmembers = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 700)
    labels = np.r_[np.ones(300), np.zeros(700)]
    scores = np.r_[members, nonmembers]
    assert attack_metrics(members, nonmembers).auc == pytest.approx(roc_auc_score(labels, scores))
    # advantage: the best threshold by brute force over every score
    best = max(abs((members >= t).mean() - (nonmembers >= t).mean()) for t in scores)
    assert advantage(members, nonmembers) == pytest.approx(best)


def test_tpr_at_fpr_takes_the_best_threshold_within_the_fpr_budget():
    members = np.array([10.0, 9.0, 5.0, 0.0])  # the last ties with 99 non-members
    nonmembers = np.r_[np.array([8.0]), np.zeros(99)]  # one non-member scores 8
    t = tpr_at_fpr(members, nonmembers, level=0.01)  # one false positive allowed
    assert (t.true_positives, t.false_positives) == (3, 1) and t.tpr == 0.75
    t = tpr_at_fpr(members, nonmembers, level=0.005)  # none allowed
    assert (t.true_positives, t.false_positives) == (2, 0) and not t.resolved


def test_clopper_pearson_known_values_and_edges():
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 10))
    lo, hi = clopper_pearson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 10))
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.187086, abs=1e-5) and hi == pytest.approx(0.812914, abs=1e-5)
    with pytest.raises(ValueError, match="11/10"):
        clopper_pearson(11, 10)


def test_the_tpr_interval_widens_as_the_pool_shrinks():
    widths = []
    for n in (2000, 200, 20):
        members = np.r_[np.ones(n // 2), np.full(n - n // 2, -2.0)]  # half above every non-member
        nonmembers = np.full(10 * n, -1.0)
        t = tpr_at_fpr(members, nonmembers, level=0.01)
        assert t.tpr == pytest.approx(0.5) and t.low < 0.5 < t.high
        widths.append(t.high - t.low)
    assert widths[0] < widths[1] < widths[2]


def test_tv_distance_of_histograms():
    assert tv_distance(np.full(50, 0.01), np.full(50, 0.99)) == pytest.approx(1.0)
    assert tv_distance(np.r_[np.full(50, 0.01), np.full(50, 0.99)], np.full(100, 0.99)) == \
        pytest.approx(0.5)
    # scores outside [0, 1] (distances) are binned on their joint range
    assert tv_distance(np.array([-5.0, -4.0]), np.array([3.0, 4.0])) == pytest.approx(1.0)


def test_empty_or_nan_scores_are_refused():
    with pytest.raises(ValueError, match="got 0 and 3"):
        attack_metrics(np.array([]), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        attack_metrics(np.array([np.nan]), np.zeros(3))
