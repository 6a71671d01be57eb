"""Attack pools drawn from a saved partition never mix members and non-members."""

from __future__ import annotations

import numpy as np
import pytest

from privshare.attacks import draw_pools
from privshare.data import load_partition, make_partition, save_partition


@pytest.fixture()
def saved_partition(tmp_path):
    labels = np.repeat(np.arange(3), 300)  # 300 rows per class
    part = make_partition(labels=labels, fractions=(0.1, 0.3), seed=7)
    save_partition(part, tmp_path / "partition.npz")
    return load_partition(tmp_path / "partition.npz")


def test_members_and_nonmembers_are_disjoint_and_nonmembers_belong_to_no_owner(saved_partition):
    p = saved_partition
    everyone = np.concatenate(p.owner_indices)
    for owner in range(p.owners):
        for pool in draw_pools(p, owner=owner, seed=3, members=50, nonmembers=100):
            assert not np.intersect1d(pool.members, pool.nonmembers).size
            assert not np.intersect1d(pool.nonmembers, everyone).size
            assert np.isin(pool.members, p.owner_class_indices(owner, pool.cls)).all()
            assert np.isin(pool.others, p.owner_class_indices(1 - owner, pool.cls)).all()
            assert (p.labels[np.r_[pool.members, pool.nonmembers, pool.others]] == pool.cls).all()
            for rows in (pool.members, pool.nonmembers, pool.others):
                assert len(np.unique(rows)) == len(rows)


def test_pool_sizes_are_capped_by_what_the_partition_has(saved_partition):
    small, large = (draw_pools(saved_partition, owner=j, seed=0, members=50, nonmembers=1000)
                    for j in (0, 1))
    # owner 0 holds 30 rows per class, owner 1 holds 90; 180 rows per class are nobody's
    assert [p.counts() for p in small] == [{"members": 30, "nonmembers": 180, "others": 50}] * 3
    assert [p.counts() for p in large] == [{"members": 50, "nonmembers": 180, "others": 30}] * 3


def test_pools_are_seeded_and_owners_share_the_nonmembers(saved_partition):
    a = draw_pools(saved_partition, owner=0, seed=1, members=20, nonmembers=40)
    b = draw_pools(saved_partition, owner=0, seed=1, members=20, nonmembers=40)
    c = draw_pools(saved_partition, owner=0, seed=2, members=20, nonmembers=40)
    other_owner = draw_pools(saved_partition, owner=1, seed=1, members=20, nonmembers=40)
    assert all(np.array_equal(x.members, y.members) for x, y in zip(a, b))
    assert not all(np.array_equal(x.members, y.members) for x, y in zip(a, c))
    assert all(np.array_equal(x.nonmembers, y.nonmembers) for x, y in zip(a, other_owner))


def test_empty_pool_sizes_are_refused(saved_partition):
    with pytest.raises(ValueError, match="members=0"):
        draw_pools(saved_partition, owner=0, seed=0, members=0)
