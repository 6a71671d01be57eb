"""Owner partitions: disjoint, seeded per-class subsets of the train split.

Owner j receives ``round(fractions[j] * n_c)`` rows of every class c (a
fraction is of each class's rows: 1% of MNIST train is about 60 images per
digit). Rows no owner holds form the non-member pool that membership attacks
draw from. The test split is never partitioned: it stays for utility.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privshare.data.dataset import DataError


@dataclass(frozen=True)
class Partition:
    """Who holds which train row (indices into the dataset's ``y_train``)."""

    classes: tuple[int, ...]
    fractions: tuple[float, ...]
    seed: int
    labels: np.ndarray  # y_train, so per-class views need no dataset
    owner_indices: tuple[np.ndarray, ...]
    nonmember_indices: np.ndarray

    @property
    def owners(self) -> int:
        return len(self.owner_indices)

    def owner_class_indices(self, owner: int, cls: int) -> np.ndarray:
        idx = self.owner_indices[owner]
        return idx[self.labels[idx] == cls]

    def nonmember_class_indices(self, cls: int) -> np.ndarray:
        idx = self.nonmember_indices
        return idx[self.labels[idx] == cls]

    def counts(self) -> dict[str, list[int]]:
        """Rows per class (in ``classes`` order) for each owner and the non-members."""
        out = {f"owner_{j}": [len(self.owner_class_indices(j, c)) for c in self.classes]
               for j in range(self.owners)}
        out["nonmember"] = [len(self.nonmember_class_indices(c)) for c in self.classes]
        return out


def _check_fractions(fractions: tuple[float, ...]) -> None:
    if len(fractions) < 2:
        raise DataError(f"fractions={list(fractions)}: need at least 2 owners")
    bad = [f for f in fractions if not 0 < f < 1]
    if bad:
        raise DataError(f"fractions={list(fractions)}: {bad} not in (0, 1); use e.g. [0.02, 0.2]")
    if sum(fractions) > 1 + 1e-9:
        raise DataError(f"fractions={list(fractions)} sum to {sum(fractions):.4f} > 1; lower them")


def make_partition(
    *,
    labels: np.ndarray,
    fractions: tuple[float, ...] | list[float],
    seed: int,
    classes: tuple[int, ...] | None = None,
    min_rows_per_owner: int = 2,
    min_nonmembers: int = 1,
) -> Partition:
    """Draw disjoint per-class subsets for every owner (seeded per class)."""
    fractions = tuple(float(f) for f in fractions)
    _check_fractions(fractions)
    labels = np.asarray(labels, dtype=np.int64)
    classes = tuple(sorted(set(np.unique(labels).tolist()))) if classes is None else tuple(classes)
    streams = np.random.SeedSequence(seed).spawn(len(classes))
    owners: list[list[np.ndarray]] = [[] for _ in fractions]
    rest = []
    for c, stream in zip(classes, streams):
        rows = np.flatnonzero(labels == c)
        n = len(rows)
        sizes = [int(round(f * n)) for f in fractions]
        small = [j for j, s in enumerate(sizes) if s < min_rows_per_owner]
        if small:
            j = small[0]
            raise DataError(
                f"class {c} has {n} train rows: fraction {fractions[j]} gives owner {j} only "
                f"{sizes[j]} row(s), fewer than min_rows_per_owner={min_rows_per_owner}; "
                "raise the fraction or use a larger dataset"
            )
        if n - sum(sizes) < min_nonmembers:
            raise DataError(
                f"class {c} has {n} train rows: owners take {sum(sizes)}, leaving "
                f"{n - sum(sizes)} non-members (< min_nonmembers={min_nonmembers}); lower fractions"
            )
        shuffled = np.random.default_rng(stream).permutation(rows)
        start = 0
        for j, s in enumerate(sizes):
            owners[j].append(shuffled[start : start + s])
            start += s
        rest.append(shuffled[start:])
    return Partition(
        classes=classes,
        fractions=fractions,
        seed=int(seed),
        labels=labels,
        owner_indices=tuple(np.sort(np.concatenate(o)).astype(np.int64) for o in owners),
        nonmember_indices=np.sort(np.concatenate(rest)).astype(np.int64),
    )


def save_partition(partition: Partition, path: str | Path) -> None:
    """Write the partition as .npz through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.npz")
    owners = {f"owner_{j}": idx for j, idx in enumerate(partition.owner_indices)}
    np.savez_compressed(tmp, classes=np.asarray(partition.classes, dtype=np.int64),
                        fractions=np.asarray(partition.fractions), seed=np.int64(partition.seed),
                        labels=partition.labels, nonmember=partition.nonmember_indices, **owners)
    os.replace(tmp, path)


def load_partition(path: str | Path) -> Partition:
    """Read a partition saved by :func:`save_partition` and check it is consistent."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"partition file {path} does not exist")
    with np.load(path, allow_pickle=False) as d:
        data = {k: d[k] for k in d.files}
    missing = {"classes", "fractions", "seed", "labels", "nonmember"} - set(data)
    if missing:
        raise DataError(f"{path}: partition lacks {sorted(missing)}")
    n_owners = len(data["fractions"])
    owners = tuple(data[f"owner_{j}"] for j in range(n_owners))
    allidx = np.concatenate([*owners, data["nonmember"]])
    if len(np.unique(allidx)) != len(allidx):
        raise DataError(f"{path}: owners' subsets overlap each other or the non-member pool")
    return Partition(classes=tuple(int(c) for c in data["classes"]),
                     fractions=tuple(float(f) for f in data["fractions"]), seed=int(data["seed"]),
                     labels=data["labels"], owner_indices=owners, nonmember_indices=data["nonmember"])
