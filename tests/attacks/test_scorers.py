"""Scorers: the registry, known answers on a stand-in run, and the real models of a tiny run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from privshare.attacks import get_attack, privacy_evaluation, register_attack, score
from privshare.data import make_partition
from privshare.evaluation import EvalConfig

CONFIG = EvalConfig(members=20, nonmembers=40, blackbox_samples=60, blackbox_space="pixels",
                    attacks=("gan", "privgan_max", "privgan_mean", "privgan_d", "privgan_central",
                             "nn_gan", "nn_privgan"))


class StandInRun:
    """Discriminators that know the truth (or nothing), and a memorising generator.

    Pixel (0, j) of a train row is 255 when owner j holds the row, so D_j can
    read membership off the image; every other pixel is noise.
    """

    def __init__(self, *, constant: bool = False) -> None:
        rng = np.random.default_rng(0)
        self.labels = np.repeat(np.arange(2), 200)
        self.partition = make_partition(labels=self.labels, fractions=(0.2, 0.3), seed=1)
        self.x = rng.integers(0, 200, (400, 8, 8), dtype=np.uint8)
        self.x[:, 0, :2] = 0
        for j, rows in enumerate(self.partition.owner_indices):
            self.x[rows, 0, j] = 255
        self.constant = constant
        self.root, self.owners, self.classes = Path("stand-in"), 2, (0, 1)
        self.methods = ("privgan", "gan")
        self.config = SimpleNamespace(seed=0)

    def score(self, method, owner, x, y):
        return np.full(len(x), 0.5) if self.constant else x[:, 0, owner] / 255.0

    def central_probabilities(self, x, y):
        p = x[:, 0, :2].astype(float) / 255.0
        p[p.sum(1) == 0] = 0.5
        return p / p.sum(1, keepdims=True)

    def generate(self, method, owner, *, n_per_class, seed):
        """Copies of the owner's own rows, cycled: a generator that memorised its data."""
        xs, ys = [], []
        for c in self.classes:
            rows = self.partition.owner_class_indices(owner, c)
            xs.append(self.x[np.resize(rows, n_per_class)])
            ys.append(np.full(n_per_class, c))
        return np.concatenate(xs), np.concatenate(ys)


def _values(rows, metric):
    return {(r["source"], r["owner"], r["class"]): r["value"] for r in rows if r["metric"] == metric}


def test_scorers_that_know_the_members_get_accuracy_one_and_auc_one():
    run = StandInRun()
    res = privacy_evaluation(run, x_train=run.x, partition=run.partition, reference=run.x[:50],
                             config=CONFIG, seed=0)
    acc, auc = _values(res.rows, "attack_accuracy"), _values(res.rows, "auc")
    assert {k[0] for k in acc} == set(CONFIG.attacks)
    assert len(acc) == len(CONFIG.attacks) * 2 * 3  # sources x owners x (2 classes + all)
    assert all(v == 1.0 for v in acc.values()) and all(v == 1.0 for v in auc.values())
    assert {k[2] for k in acc} == {"0", "1", "all"}


def test_a_scorer_that_knows_nothing_gets_the_base_rate_and_auc_half():
    run = StandInRun(constant=True)
    config = replace(CONFIG, attacks=("gan", "privgan_max", "privgan_mean"))
    res = privacy_evaluation(run, x_train=run.x, partition=run.partition, reference=run.x[:50],
                             config=config, seed=0)
    acc, base, auc = (_values(res.rows, m) for m in ("attack_accuracy", "base_rate", "auc"))
    assert acc.keys() == base.keys() and len(acc) == 3 * 2 * 3
    assert all(acc[k] == pytest.approx(base[k]) for k in acc)
    assert all(v == 0.5 for v in auc.values())
    # owner 0 holds 40 rows per class (20 attacked), 100 rows per class are nobody's (40 drawn)
    assert base[("gan", "0", "0")] == pytest.approx(20 / 60)
    assert res.counts["0"] == {"members": [20, 20], "nonmembers": [40, 40], "other": [20, 20]}


def test_scores_are_kept_per_source_owner_class_and_group():
    run = StandInRun()
    res = privacy_evaluation(run, x_train=run.x, partition=run.partition, reference=run.x[:50],
                             config=CONFIG, seed=0)
    assert res.scores["gan/0/1/members"].shape == (20,)
    assert res.scores["privgan_d/1/0/other"].shape == (20,)  # the other owner's rows
    assert "nn_gan/0/0/other" not in res.scores  # black-box pools: members and non-members only
    assert np.all(res.scores["gan/0/0/members"] == 1.0) and np.all(res.scores["gan/0/0/nonmembers"] == 0)


def test_the_eps_ball_attack_finds_a_memorising_generator_with_the_median_heuristic():
    # equal pools: the median nearest distance lies below every non-member's, so only
    # members have generated samples inside their ball
    run = StandInRun()
    config = replace(CONFIG, members=30, nonmembers=30, attacks=("mc_gan", "mc_privgan"))
    res = privacy_evaluation(run, x_train=run.x, partition=run.partition, reference=run.x[:50],
                             config=config, seed=0)
    assert all(v == 1.0 for v in _values(res.rows, "attack_accuracy").values())
    members = res.scores["mc_gan/0/0/members"]
    assert np.all(members > 0) and np.all(res.scores["mc_gan/0/0/nonmembers"] == 0)


def test_registry_lookup_and_errors():
    assert get_attack("logan").__name__ == "logan_scores"
    with pytest.raises(KeyError, match="registered"):
        get_attack("shadow_models")
    with pytest.raises(ValueError, match="registered twice"):
        register_attack("logan")(lambda run, **kw: None)


def test_logan_aggregates_on_a_trained_run(tiny_run):
    part = tiny_run.partition()
    from privshare.experiments.run import prepare_data

    dataset, _ = prepare_data(tiny_run.config)
    rows = np.r_[part.owner_indices[0][:10], part.nonmember_indices[:10]]
    x, y = dataset.x_train[rows], dataset.y_train[rows]
    per_d = [tiny_run.score("privgan", j, x, y) for j in range(2)]
    got = {a: score("logan", tiny_run, owner=0, x=x, y=y, method="privgan", aggregate=a)
           for a in ("max", "mean", "own")}
    np.testing.assert_allclose(got["max"], np.maximum(*per_d))
    np.testing.assert_allclose(got["mean"], (per_d[0] + per_d[1]) / 2)
    np.testing.assert_allclose(got["own"], per_d[0])
    np.testing.assert_allclose(score("logan", tiny_run, owner=1, x=x, y=y, method="gan"),
                               tiny_run.score("gan", 1, x, y))
    central = np.stack([score("central_attribution", tiny_run, owner=j, x=x, y=y) for j in range(2)])
    np.testing.assert_allclose(central.sum(0), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="aggregate='median'"):
        score("logan", tiny_run, owner=0, x=x, y=y, aggregate="median")


def test_nonmembers_can_come_from_the_test_split():
    """The paper's pools: members plus held-out test rows; the PCA reference leaves them out."""
    run = StandInRun()
    rng = np.random.default_rng(5)
    x_test = rng.integers(0, 200, (90, 8, 8), dtype=np.uint8)
    x_test[:, 0, :2] = 0  # no owner's mark: the knowing scorers call every test row a non-member
    y_test = np.repeat(np.arange(2), 45)
    config = replace(CONFIG, nonmembers_from="test", attacks=("gan", "privgan_d", "nn_gan"))
    res = privacy_evaluation(run, x_train=run.x, partition=run.partition, reference=x_test,
                             reference_labels=y_test, config=config, seed=0)
    assert res.counts["0"]["nonmembers"] == [40, 40]  # capped by the config, drawn from 45 a class
    auc = _values(res.rows, "auc")
    assert all(v == 1.0 for k, v in auc.items() if k[0] in ("gan", "privgan_d"))
    nonmembers = res.scores["gan/0/0/nonmembers"]
    assert len(nonmembers) == 40 and np.all(nonmembers == 0)
    with pytest.raises(ValueError, match="test split's labels"):
        privacy_evaluation(run, x_train=run.x, partition=run.partition, reference=x_test,
                           config=config, seed=0)


def test_the_nonmember_split_setting_is_checked():
    from privshare.config import ConfigError
    from privshare.evaluation.config import eval_config_from_dict

    with pytest.raises(ConfigError, match="nonmembers_from='holdout': choose train or test"):
        eval_config_from_dict({"nonmembers_from": "holdout"})


def test_both_blackbox_statistics_of_one_generator_draw_its_samples_once():
    """mc_* and nn_* of one generator share one draw per seed; the scores are those of fresh draws."""
    run, calls = StandInRun(), []
    generate = run.generate

    def counted(method, owner, *, n_per_class, seed):
        calls.append((method, owner, seed))
        return generate(method, owner, n_per_class=n_per_class, seed=seed)

    run.generate = counted
    config = replace(CONFIG, attacks=("mc_gan", "nn_gan", "mc_privgan", "nn_privgan"))
    res = privacy_evaluation(run, x_train=run.x, partition=run.partition, reference=run.x[:50],
                             config=config, seed=0)
    assert len(calls) == len(set(calls)) == 4  # (gan, privgan) x (owner 0, owner 1), once each
    x, y = run.x[:40], run.labels[:40]
    for statistic in ("eps_ball", "nearest"):
        fresh = score("monte_carlo", run, owner=0, x=x, y=y, method="gan", statistic=statistic,
                      samples_per_class=60, seed=5)
        cache: dict = {}
        first, again = (score("monte_carlo", run, owner=0, x=x, y=y, method="gan",
                              statistic=statistic, samples_per_class=60, seed=5, cache=cache)
                        for _ in range(2))
        np.testing.assert_array_equal(first, fresh)
        np.testing.assert_array_equal(again, fresh)
    assert res.rows
