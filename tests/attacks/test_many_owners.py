"""Attacks on a run of more than two owners: every owner attacked, the white-box
aggregates over all N discriminators, D_central's attribution per owner."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from privshare.attacks import privacy_evaluation, score
from privshare.data import make_partition

from .test_scorers import CONFIG, StandInRun

OWNERS = 4


class ManyOwnerRun(StandInRun):
    """:class:`StandInRun` with four owners: pixel (0, j) is 255 on owner j's rows, so
    only D_j (and D_central's column j) can tell owner j's members from anything else."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.partition = make_partition(labels=self.labels, fractions=(0.1, 0.15, 0.2, 0.25),
                                        seed=1)
        self.x = rng.integers(0, 200, (400, 8, 8), dtype=np.uint8)
        self.x[:, 0, :OWNERS] = 0
        for j, rows in enumerate(self.partition.owner_indices):
            self.x[rows, 0, j] = 255
        self.owners = OWNERS

    def central_probabilities(self, x, y):
        p = x[:, 0, :OWNERS].astype(float) / 255.0
        p[p.sum(1) == 0] = 1.0  # a row of no owner: uniform
        return p / p.sum(1, keepdims=True)


def test_the_max_over_d_i_takes_every_one_of_the_n_discriminators():
    run = ManyOwnerRun()
    x = run.x[np.concatenate(run.partition.owner_indices)]
    y = np.zeros(len(x), dtype=np.int64)
    per_d = np.stack([run.score("privgan", j, x, y) for j in range(OWNERS)])  # (N, n)
    for owner in range(OWNERS):
        got = {a: score("logan", run, owner=owner, x=x, y=y, method="privgan", aggregate=a)
               for a in ("max", "mean", "own")}
        np.testing.assert_array_equal(got["max"], per_d.max(axis=0))
        np.testing.assert_allclose(got["mean"], per_d.mean(axis=0))
        np.testing.assert_array_equal(got["own"], per_d[owner])
    last = run.partition.owner_indices[-1]  # only the last D_i knows these rows
    assert np.all(score("logan", run, owner=0, x=run.x[last], y=run.labels[last],
                        method="privgan", aggregate="max") == 1.0)
    assert np.all(per_d[:OWNERS - 1, -len(last):].max(axis=0) == 0.0)  # a max over fewer: 0


def test_every_owner_is_attacked_and_the_white_box_attack_finds_the_last_owner():
    run = ManyOwnerRun()
    config = replace(CONFIG, attacks=("privgan_max", "privgan_mean", "privgan_d", "privgan_central"))
    res = privacy_evaluation(run, x_train=run.x, partition=run.partition, reference=run.x[:50],
                             config=config, seed=0)
    auc = {(r["source"], r["owner"]): r["value"] for r in res.rows
           if r["metric"] == "auc" and r["class"] == "all"}
    assert set(auc) == {(s, str(j)) for s in config.attacks for j in range(OWNERS)}
    assert all(v == pytest.approx(1.0) for v in auc.values())  # D_j (and D_central) know owner j
    assert set(res.counts) == {str(j) for j in range(OWNERS)}
    # D_central's attribution to owner 3: its own rows against every other owner's ("other")
    members, others = (res.scores[f"privgan_central/3/0/{g}"] for g in ("members", "other"))
    assert np.all(members == 1.0) and np.all(others == 0.0) and len(others)
