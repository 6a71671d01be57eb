"""Per-owner, per-class shares: sizes, absent classes, Dirichlet draws, saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest

from privshare.config import ConfigError, load_config
from privshare.data import DataError, load_partition, make_partition, save_partition
from privshare.data.partition import dirichlet_shares
from privshare.data.prepare import prepare_data

LABELS = np.repeat(np.arange(3), [100, 60, 80])
TABLE = ((0.1, 0.2, 0.0), (0.5, 0.3, 0.4))


def test_shares_size_each_owner_and_class_and_zero_means_none():
    p = make_partition(labels=LABELS, fractions=[0.1, 0.4], seed=3, shares=TABLE)
    assert p.counts() == {"owner_0": [10, 12, 0], "owner_1": [50, 18, 32],
                          "nonmember": [40, 30, 48]}
    assert p.holds().tolist() == [[True, True, False], [True, True, True]]
    assert len(p.owner_class_indices(0, 2)) == 0 and p.shares == TABLE
    a, b = p.owner_indices
    assert not set(a) & set(b) and not (set(a) | set(b)) & set(p.nonmember_indices)


def test_without_a_table_the_partition_is_the_fractions_one():
    a = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    b = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3,
                       shares=[[0.1] * 3, [0.5] * 3])
    assert a.shares == () and a.holds().all()
    assert all(np.array_equal(x, y) for x, y in zip(a.owner_indices, b.owner_indices))


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        (((0.01, 0.2, 0.0), (0.5, 0.3, 0.4)),
         "class 0 has 100 train rows: share 0.01 gives owner 0 only 1 row(s), fewer than "
         "min_rows_per_owner=2"),
        (((0.1, 0.2, 0.0), (0.5, 0.3)), "shares is 2 x 2/3 (owners x classes); it must be 2 x 3"),
        (((0.1, -0.2, 0.0), (0.5, 0.3, 0.4)), "shares[0][1]=-0.2 is not a share >= 0"),
        (((0.1, 0.2, 0.0), (0.5, 0.3, 0.0)), "no owner holds class 2"),
        (((0.0, 0.0, 0.0), (0.5, 0.3, 0.4)), "shares[0] is all 0: owner 0 would hold no rows"),
    ],
)
def test_bad_tables_are_refused(shares, message):
    with pytest.raises(DataError) as err:
        make_partition(labels=LABELS, fractions=[0.1, 0.4], seed=0, shares=shares)
    assert message in str(err.value)


def test_shares_survive_save_and_load(tmp_path):
    p = make_partition(labels=LABELS, fractions=[0.1, 0.4], seed=3, shares=TABLE)
    save_partition(p, tmp_path / "p.npz")
    q = load_partition(tmp_path / "p.npz")
    assert q.shares == TABLE and q.counts() == p.counts()
    iid = make_partition(labels=LABELS, fractions=[0.1, 0.4], seed=3)
    save_partition(iid, tmp_path / "i.npz")
    assert load_partition(tmp_path / "i.npz").shares == ()


def test_dirichlet_shares_are_seeded_keep_the_total_and_drop_tiny_shares():
    kw = dict(fractions=[0.1, 0.3], class_sizes=[1000, 1000, 1000, 1000], min_rows_per_owner=2)
    a = dirichlet_shares(alpha=0.5, seed=7, **kw)
    assert a == dirichlet_shares(alpha=0.5, seed=7, **kw)
    assert a != dirichlet_shares(alpha=0.5, seed=8, **kw)
    assert np.allclose(np.sum(a, axis=0), 0.4)  # nothing this small: every column keeps 0.4
    wide = np.array(dirichlet_shares(alpha=1e4, seed=7, **kw))  # large alpha: the fractions
    assert np.allclose(wide, [[0.1] * 4, [0.3] * 4], atol=0.01)
    tight = np.array(dirichlet_shares(alpha=0.01, seed=7, **{**kw, "class_sizes": [20] * 4}))
    rows = np.rint(tight * 20)
    assert np.all((tight == 0) | (rows >= 2)) and (tight == 0).any()  # < 2 rows: none at all


def test_a_drawn_table_the_run_cannot_train_is_refused_before_anything_is_written():
    config = load_config(preset="tiny", overrides=["data.dirichlet=0.3"])
    with pytest.raises(ConfigError) as err:
        prepare_data(config)
    text = str(err.value)
    assert "data.dirichlet=0.3 with seed=0 drew" in text and "only owner 1 holds class 2" in text


def test_table_columns_are_checked_against_the_loaded_classes():
    config = load_config(preset="tiny", overrides=["data.classes=[]",
                                                   "data.class_shares=[[0.2, 0.2], [0.3, 0.3]]"])
    with pytest.raises(ConfigError, match=r"data.class_shares is 2 x 2 \(owners x classes\); it "
                                          r"must be 2 x 10"):
        prepare_data(config)


def test_dirichlet_run_partition_follows_its_table():
    config = load_config(preset="tiny", overrides=["data.dirichlet=100"])
    _, p = prepare_data(config)
    assert p.shares and p.holds().all()
    again = prepare_data(config)[1]
    assert all(np.array_equal(x, y) for x, y in zip(p.owner_indices, again.owner_indices))
