"""Frechet distance and k-NN precision / recall against answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from privshare.evaluation import frechet_distance, frechet_from_moments, precision_recall


def test_frechet_of_diagonal_gaussians_has_a_closed_form():
    # |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2 = 25 + (1 - 2)^2 + (2 - 4)^2
    got = frechet_from_moments(np.zeros(2), np.diag([1.0, 4.0]), np.array([3.0, 4.0]),
                               np.diag([4.0, 16.0]))
    assert got == pytest.approx(30.0)


def test_frechet_is_zero_for_one_set_and_symmetric_otherwise():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(1.0, 2.0, size=(400, 6))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, b) > 1.0


def test_precision_and_recall_see_mode_collapse():
    rng = np.random.default_rng(1)
    left, right = rng.normal(-10, 1, (200, 2)), rng.normal(10, 1, (200, 2))
    real = np.r_[left, right]
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    collapsed = rng.normal(-10, 1, (400, 2))  # only one of the two modes
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.95 and 0.4 < recall < 0.6
    assert precision_recall(real, rng.normal(100, 1, (400, 2))) == (0.0, 0.0)
    with pytest.raises(ValueError, match="more than 3 rows"):
        precision_recall(real, real[:3])
