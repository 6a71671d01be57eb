"""Attacks on owners that are not alike: no pool for a class an owner lacks, and the
white-box aggregates leave out the untrained D_i of owners that lack the row's class."""

from __future__ import annotations

import numpy as np

from privshare.attacks import draw_pools
from privshare.attacks.whitebox import logan_scores
from privshare.data import make_partition

LABELS = np.repeat(np.arange(2), 300)
SHARES = ((0.1, 0.0), (0.2, 0.3), (0.1, 0.1))  # owner 0 holds no row of class 1


def test_pools_skip_classes_the_owner_lacks():
    p = make_partition(labels=LABELS, fractions=(0.1, 0.2, 0.1), seed=0, shares=SHARES)
    lacking = draw_pools(p, owner=0, seed=3)
    assert [pool.cls for pool in lacking] == [0] and len(lacking[0].members) > 0
    full = draw_pools(p, owner=1, seed=3)
    assert [pool.cls for pool in full] == [0, 1]
    others = set(full[1].others.tolist())  # class 1's other holder is owner 2 alone
    assert others and others <= set(p.owner_class_indices(2, 1).tolist())


class _Run:
    """Three owners' discriminators that each give one constant score."""

    owners, classes, methods, root = 3, (0, 1), ("privgan",), "stand-in"

    def score(self, method, owner, x, y):
        return np.full(len(x), (0.2, 0.9, 0.4)[owner])

    def class_index(self, y):
        return np.asarray(y)


def test_white_box_aggregates_use_only_the_holders_discriminators():
    holds = np.array([[True, True], [True, False], [True, True]])  # owner 1 lacks class 1
    x, y = np.zeros((2, 8, 8), np.uint8), np.array([0, 1])
    top = logan_scores(_Run(), owner=0, x=x, y=y, aggregate="max", holds=holds)
    mean = logan_scores(_Run(), owner=0, x=x, y=y, aggregate="mean", holds=holds)
    assert np.allclose(top, [0.9, 0.4]) and np.allclose(mean, [0.5, 0.3])
    every = logan_scores(_Run(), owner=0, x=x, y=y, aggregate="max")  # no table: every D_i
    assert np.allclose(every, [0.9, 0.9])
