"""Owner partitions: disjoint, sized per class, seeded, refused when unsound; saved and loaded."""

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
    assert all((LABELS[p.nonmember_class_indices(c)] == c).all() for c in (0, 1, 2))
    assert all(idx.dtype == np.int64 and np.all(np.diff(idx) > 0) for idx in (a, b, rest))


def test_sizes_are_rounded_per_class():
    labels = np.repeat(np.arange(2), [37, 23])
    p = make_partition(labels=labels, fractions=[0.13, 0.31], seed=0)
    assert p.counts()["owner_0"] == [round(0.13 * 37), round(0.13 * 23)]
    assert p.counts()["owner_1"] == [round(0.31 * 37), round(0.31 * 23)]


def test_halves_of_an_odd_class_cover_it_exactly():
    labels = np.repeat(np.arange(2), [7, 6])
    p = make_partition(labels=labels, fractions=[0.5, 0.5], seed=0, min_nonmembers=0)
    assert p.counts() == {"owner_0": [4, 3], "owner_1": [3, 3], "nonmember": [0, 0]}
    with pytest.raises(DataError, match="leaving 0 non-members"):
        make_partition(labels=labels, fractions=[0.5, 0.5], seed=0)


def test_restricted_classes_leave_other_rows_out():
    p = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3, classes=(0, 2))
    assert p.classes == (0, 2) and not np.isin(1, LABELS[np.concatenate(p.owner_indices)])
    assert 1 not in LABELS[p.nonmember_indices]
    with pytest.raises(DataError, match="class 1 is not in this partition"):
        p.owner_class_indices(0, 1)


def test_seeded():
    a = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    b = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    c = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a.owner_indices, b.owner_indices))
    assert np.array_equal(a.nonmember_indices, b.nonmember_indices)
    assert not np.array_equal(a.owner_indices[0], c.owner_indices[0])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"fractions": [0.6, 0.5]}, "sum to 1.1000 > 1"),
        ({"fractions": [0.0, 0.5]}, "fractions[0]=0.0 is not positive"),
        ({"fractions": [0.2, -0.1]}, "fractions[1]=-0.1 is not positive"),
        ({"fractions": [0.2, float("nan")]}, "fractions[1]=nan is not positive"),
        ({"fractions": [1.0, 0.5]}, "fractions[0]=1.0 is >= 1"),
        ({"fractions": [0.5]}, "need at least 2 owners"),
        ({"fractions": [0.02, 0.5]}, "class 1 has 60 train rows: fraction 0.02 gives owner 0 only 1"),
        ({"fractions": [0.5, 0.5]}, "leaving 0 non-members (< min_nonmembers=1)"),
        ({"fractions": [0.1, 0.5], "classes": (0, 7)}, "unknown [7], available [0, 1, 2]"),
        ({"fractions": [0.1, 0.5], "labels": LABELS.astype(float)}, "expected 1-D integer labels"),
        ({"fractions": [0.1, 0.5], "min_rows_per_owner": 0}, "min_rows_per_owner=0 (>= 1)"),
    ],
)
def test_bad_inputs_each_have_their_own_message(kw, message):
    args = {"labels": LABELS, "seed": 0, **kw}
    with pytest.raises(DataError) as err:
        make_partition(**args)
    assert message in str(err.value)


def test_save_load_round_trip(tmp_path):
    p = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    save_partition(p, tmp_path / "p.npz")
    assert [f.name for f in tmp_path.iterdir()] == ["p.npz"]  # no temp file left
    q = load_partition(tmp_path / "p.npz")
    assert q.classes == p.classes and q.fractions == p.fractions and q.seed == 3
    assert all(np.array_equal(x, y) for x, y in zip(p.owner_indices, q.owner_indices))
    assert np.array_equal(p.nonmember_indices, q.nonmember_indices) and q.counts() == p.counts()


def _tampered(tmp_path, change):
    p = make_partition(labels=LABELS, fractions=[0.1, 0.5], seed=3)
    save_partition(p, tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as d:
        data = dict(d)
    change(data)
    np.savez(tmp_path / "bad.npz", **data)
    return tmp_path / "bad.npz"


def _overlap(d):
    d["owner_1"] = np.sort(np.concatenate([d["owner_1"], d["owner_0"][:1]]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_overlap, "overlap each other or the non-member pool"),
        (lambda d: d.pop("owner_1"), "partition lacks ['owner_1']"),
        (lambda d: d.pop("labels"), "partition lacks ['labels']"),
        (lambda d: d.update(owner_0=d["owner_0"][::-1]), "unsorted, repeated or outside 0..239"),
        (lambda d: d.update(owner_0=d["owner_0"] + 1000), "unsorted, repeated or outside"),
    ],
)
def test_load_detects_damage(tmp_path, change, message):
    with pytest.raises(DataError) as err:
        load_partition(_tampered(tmp_path, change))
    assert message in str(err.value)


def test_load_missing_or_junk(tmp_path):
    with pytest.raises(DataError, match="none.npz does not exist"):
        load_partition(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable partition"):
        load_partition(tmp_path / "junk.npz")
