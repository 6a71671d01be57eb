from __future__ import annotations

import numpy as np
import pytest

from privshare.data import DataError, load_partition, make_partition, save_partition

LABELS = np.repeat(np.arange(3), [100, 60, 80])


def test_disjoint_sizes_and_nonmembers():
    p = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    a, b, rest = p.owner_indices[0], p.owner_indices[1], p.nonmember_indices
    assert not set(a) & set(b) and not (set(a) | set(b)) & set(rest)
    assert len(a) + len(b) + len(rest) == len(LABELS)
    assert p.counts() == {"owner_0": [10, 6, 8], "owner_1": [50, 30, 40], "nonmember": [40, 24, 32]}
    assert all((LABELS[p.owner_class_indices(1, c)] == c).all() for c in (0, 1, 2))


def test_seeded():
    a = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    b = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    c = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=4)
    assert np.array_equal(a.owner_indices[0], b.owner_indices[0])
    assert not np.array_equal(a.owner_indices[0], c.owner_indices[0])


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ([0.6, 0.5], "sum to 1.1000"),
        ([0.0, 0.5], "not in (0, 1)"),
        ([-0.1, 0.5], "not in (0, 1)"),
        ([0.5], "at least 2 owners"),
        ([0.02, 0.5], "class 1 has 60 train rows"),
        ([0.5, 0.5], "leaving 0 non-members"),
    ],
)
def test_bad_fractions(fractions, message):
    with pytest.raises(DataError) as err:
        make_partition(labels=LABELS, fractions=fractions, seed=0)
    assert message in str(err.value)


def test_save_load_round_trip_and_overlap_detected(tmp_path):
    p = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    save_partition(p, tmp_path / "p.npz")
    q = load_partition(tmp_path / "p.npz")
    assert q.classes == p.classes and q.fractions == p.fractions and q.seed == 3
    assert all(np.array_equal(x, y) for x, y in zip(p.owner_indices, q.owner_indices))
    with np.load(tmp_path / "p.npz") as d:
        data = dict(d)
    data["owner_1"] = np.concatenate([data["owner_1"], data["owner_0"][:1]])
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(DataError, match="overlap"):
        load_partition(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_partition(tmp_path / "none.npz")
