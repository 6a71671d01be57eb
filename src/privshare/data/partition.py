"""Owner partitions: disjoint, seeded per-class subsets of the train split.

Owner j receives ``round(fractions[j] * n_c)`` rows of every class c (a
fraction is of each class's rows: 1% of MNIST train is about 60 images per
digit). Rows of the partition's classes that no owner holds form the
non-member pool that membership attacks draw from. The test split is never
partitioned: it stays for utility.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privshare.data.dataset import DataError
from privshare.data.loaders import write_npz

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Partition:
    """Who holds which train row.

    Attributes
    ----------
    classes : tuple of int
        Labels partitioned, in the order their seed streams were spawned.
    fractions : tuple of float
        Each owner's share of every class.
    seed : int
        Root of the per-class ``SeedSequence`` streams.
    labels : np.ndarray
        int64 ``(n,)``: the dataset's ``y_train``, so per-class views need no dataset.
    owner_indices : tuple of np.ndarray
        One sorted int64 array of row indices into ``labels`` per owner.
    nonmember_indices : np.ndarray
        Sorted int64 rows of ``classes`` that no owner holds.
    """

    classes: tuple[int, ...]
    fractions: tuple[float, ...]
    seed: int
    labels: np.ndarray
    owner_indices: tuple[np.ndarray, ...]
    nonmember_indices: np.ndarray

    @property
    def owners(self) -> int:
        """Number of owners."""
        return len(self.owner_indices)

    def _check_class(self, cls: int) -> None:
        if cls not in self.classes:
            raise DataError(f"class {cls} is not in this partition; its classes are {list(self.classes)}")

    def owner_class_indices(self, owner: int, cls: int) -> np.ndarray:
        """Sorted rows of class ``cls`` held by ``owner``."""
        if not 0 <= owner < self.owners:
            raise DataError(f"owner {owner} does not exist; owners are 0..{self.owners - 1}")
        self._check_class(cls)
        idx = self.owner_indices[owner]
        return idx[self.labels[idx] == cls]

    def nonmember_class_indices(self, cls: int) -> np.ndarray:
        """Sorted rows of class ``cls`` held by no owner."""
        self._check_class(cls)
        idx = self.nonmember_indices
        return idx[self.labels[idx] == cls]

    def counts(self) -> dict[str, list[int]]:
        """Rows per class (in ``classes`` order) for ``owner_<j>`` and ``nonmember``."""
        out = {f"owner_{j}": [len(self.owner_class_indices(j, c)) for c in self.classes]
               for j in range(self.owners)}
        out["nonmember"] = [len(self.nonmember_class_indices(c)) for c in self.classes]
        return out


def _check_fractions(fractions: tuple[float, ...]) -> None:
    if len(fractions) < 2:
        raise DataError(f"fractions={list(fractions)}: need at least 2 owners; "
                        "give one fraction per owner, e.g. [0.02, 0.2]")
    for j, f in enumerate(fractions):
        if not math.isfinite(f) or f <= 0:
            raise DataError(f"fractions[{j}]={f} is not positive; every owner needs a share in "
                            "(0, 1), e.g. 0.02")
        if f >= 1:
            raise DataError(f"fractions[{j}]={f} is >= 1; a share is of each class's rows and "
                            "must be below 1 (0.2 means 20%)")
    if sum(fractions) > 1 + 1e-9:
        raise DataError(f"fractions={list(fractions)} sum to {sum(fractions):.4f} > 1; "
                        "owners' shares are disjoint, lower them")


def _check_inputs(*, labels: np.ndarray, classes: tuple[int, ...] | None,
                  min_rows_per_owner: int, min_nonmembers: int) -> tuple[np.ndarray, tuple[int, ...]]:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"labels: expected 1-D integer labels, got shape {labels.shape}, dtype "
                        f"{labels.dtype}; pass dataset.y_train")
    if min_rows_per_owner < 1 or min_nonmembers < 0:
        raise DataError(f"min_rows_per_owner={min_rows_per_owner} (>= 1) and min_nonmembers="
                        f"{min_nonmembers} (>= 0) are out of range")
    present = np.unique(labels).tolist()
    if classes is None:
        return labels.astype(np.int64), tuple(present)
    classes = tuple(int(c) for c in classes)
    unknown = sorted(set(classes) - set(present))
    if unknown or len(set(classes)) != len(classes) or not classes:
        raise DataError(f"classes={list(classes)}: need distinct labels present in the data; "
                        f"unknown {unknown}, available {present}")
    return labels.astype(np.int64), classes


def _class_sizes(*, cls: int, n: int, fractions: tuple[float, ...], min_rows_per_owner: int,
                 min_nonmembers: int) -> list[int]:
    sizes = [max(1, round(f * n)) for f in fractions]
    for j, s in enumerate(sizes):
        if s < min_rows_per_owner:
            raise DataError(
                f"class {cls} has {n} train rows: fraction {fractions[j]} gives owner {j} only "
                f"{s} row(s), fewer than min_rows_per_owner={min_rows_per_owner}; raise the "
                "fraction, lower min_rows_per_owner, or drop that class (data.classes)"
            )
    if n - sum(sizes) < min_nonmembers:
        raise DataError(
            f"class {cls} has {n} train rows: owners take {sum(sizes)}, leaving {n - sum(sizes)} "
            f"non-members (< min_nonmembers={min_nonmembers}); lower the fractions"
        )
    return sizes


def make_partition(
    *,
    labels: np.ndarray,
    fractions: tuple[float, ...] | list[float],
    seed: int,
    classes: tuple[int, ...] | None = None,
    min_rows_per_owner: int = 2,
    min_nonmembers: int = 1,
) -> Partition:
    """Draw disjoint per-class subsets for every owner.

    Parameters
    ----------
    labels : np.ndarray
        Integer ``(n,)``, the dataset's ``y_train``.
    fractions : sequence of float
        One share in (0, 1) per owner (at least 2), summing to at most 1.
    seed : int
        Root seed; class ``classes[i]`` is shuffled by ``SeedSequence(seed).spawn(...)[i]``.
    classes : tuple of int, optional
        Labels to partition (default: every label present).
    min_rows_per_owner, min_nonmembers : int
        Refuse a class that gives an owner fewer rows, or leaves fewer non-members.

    Returns
    -------
    Partition
        Owner j holds ``max(1, round(fractions[j] * n_c))`` rows of each class c.
    """
    fractions = tuple(float(f) for f in fractions)
    _check_fractions(fractions)
    labels, classes = _check_inputs(labels=labels, classes=classes,
                                    min_rows_per_owner=min_rows_per_owner,
                                    min_nonmembers=min_nonmembers)
    streams = np.random.SeedSequence(seed).spawn(len(classes))
    owners: list[list[np.ndarray]] = [[] for _ in fractions]
    rest = []
    for c, stream in zip(classes, streams):
        rows = np.flatnonzero(labels == c)
        sizes = _class_sizes(cls=c, n=len(rows), fractions=fractions,
                             min_rows_per_owner=min_rows_per_owner, min_nonmembers=min_nonmembers)
        shuffled = np.random.default_rng(stream).permutation(rows)
        bounds = np.cumsum([0, *sizes])
        for j in range(len(sizes)):
            owners[j].append(shuffled[bounds[j] : bounds[j + 1]])
        rest.append(shuffled[bounds[-1] :])
    return Partition(
        classes=classes,
        fractions=fractions,
        seed=int(seed),
        labels=labels,
        owner_indices=tuple(np.sort(np.concatenate(o)).astype(np.int64) for o in owners),
        nonmember_indices=np.sort(np.concatenate(rest)).astype(np.int64),
    )


def save_partition(partition: Partition, path: str | Path) -> None:
    """Write the partition as .npz, whole or not at all (:func:`~privshare.data.loaders.write_npz`)."""
    path = Path(path)
    owners = {f"owner_{j}": idx for j, idx in enumerate(partition.owner_indices)}
    write_npz(path, version=np.int64(FORMAT_VERSION), classes=np.asarray(partition.classes, np.int64),
              fractions=np.asarray(partition.fractions, np.float64), seed=np.int64(partition.seed),
              labels=partition.labels, nonmember=partition.nonmember_indices, **owners)


def _check_indices(path: Path, *, data: dict[str, np.ndarray], names: list[str]) -> None:
    labels, classes = data["labels"], data["classes"]
    for key in names:
        idx = data[key]
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise DataError(f"{path}: {key} must be 1-D integer indices, got {idx.dtype} {idx.shape}")
        if len(idx) and (idx.min() < 0 or idx.max() >= len(labels) or np.any(np.diff(idx) <= 0)):
            raise DataError(f"{path}: {key} holds indices that are unsorted, repeated or outside "
                            f"0..{len(labels) - 1}; the file is corrupt, draw the partition again")
        if not np.isin(labels[idx], classes).all():
            raise DataError(f"{path}: {key} holds rows outside classes {classes.tolist()}")
    allidx = np.concatenate([data[k] for k in names])
    if len(np.unique(allidx)) != len(allidx):
        raise DataError(f"{path}: owners' subsets overlap each other or the non-member pool; "
                        "the file is corrupt, draw the partition again")


def load_partition(path: str | Path) -> Partition:
    """Read a partition saved by :func:`save_partition`; check keys and that owners are disjoint."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"partition file {path} does not exist; draw one with make_partition")
    try:
        with np.load(path, allow_pickle=False) as d:
            data = {k: d[k] for k in d.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path}: not a readable partition .npz (truncated or damaged: "
                        f"{type(err).__name__}: {err}); this run folder cannot be used as is") from err
    required = {"classes", "fractions", "seed", "labels", "nonmember"}
    missing = sorted(required - set(data))
    owner_keys = [f"owner_{j}" for j in range(len(data.get("fractions", ())))]
    missing += [k for k in owner_keys if k not in data]
    if missing:
        raise DataError(f"{path}: partition lacks {missing} (found {sorted(data)}); "
                        "it was not written by save_partition")
    if int(data.get("version", FORMAT_VERSION)) != FORMAT_VERSION:
        raise DataError(f"{path}: partition format version {int(data['version'])}, this code "
                        f"reads version {FORMAT_VERSION}")
    _check_indices(path, data=data, names=[*owner_keys, "nonmember"])
    return Partition(classes=tuple(int(c) for c in data["classes"]),
                     fractions=tuple(float(f) for f in data["fractions"]), seed=int(data["seed"]),
                     labels=data["labels"].astype(np.int64),
                     owner_indices=tuple(data[k].astype(np.int64) for k in owner_keys),
                     nonmember_indices=data["nonmember"].astype(np.int64))
