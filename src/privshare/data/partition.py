"""Owner partitions: disjoint, seeded per-class subsets of the train split.

Owner j receives ``round(fractions[j] * n_c)`` rows of every class c (a
fraction is of each class's rows: 1% of MNIST train is about 60 images per
digit), or, for owners that are not alike, ``round(shares[j][k] * n_c)`` rows
of the k-th class from an owners x classes table (a share of 0: owner j
holds none of that class; the rules are :mod:`privshare.config.shares`).
Rows of the partition's classes that no owner holds form the non-member pool
that membership attacks draw from. The test split is never partitioned: it
stays for utility.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from privshare.config import shares as rules
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
        Each owner's share of every class (with ``shares``: one per owner, not used for sizes).
    seed : int
        Root of the per-class ``SeedSequence`` streams.
    labels : np.ndarray
        int64 ``(n,)``: the dataset's ``y_train``, so per-class views need no dataset.
    owner_indices : tuple of np.ndarray
        One sorted int64 array of row indices into ``labels`` per owner.
    nonmember_indices : np.ndarray
        Sorted int64 rows of ``classes`` that no owner holds.
    shares : tuple of tuple of float
        The owners x classes table the sizes came from; () when ``fractions`` gave every class.
    """

    classes: tuple[int, ...]
    fractions: tuple[float, ...]
    seed: int
    labels: np.ndarray
    owner_indices: tuple[np.ndarray, ...]
    nonmember_indices: np.ndarray
    shares: tuple[tuple[float, ...], ...] = ()

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

    def holds(self) -> np.ndarray:
        """bool ``(owners, classes)``: whether owner j holds any row of the k-th class."""
        return np.array([[len(self.owner_class_indices(j, c)) > 0 for c in self.classes]
                         for j in range(self.owners)], dtype=bool)


def _refuse(problem: str) -> None:
    if problem:
        raise DataError(problem)


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


def _class_sizes(*, cls: int, n: int, column: tuple[float, ...], min_rows_per_owner: int,
                 min_nonmembers: int, what: str = "fraction") -> list[int]:
    """Rows of class ``cls`` (``n`` of them) for each owner: none for a share of 0, else
    ``max(1, round(share * n))``, refused below ``min_rows_per_owner``.

    Shares summing to at most 1 can round up past ``n`` (two halves of an odd
    class); then the owners rounded up the most give back one row each, the
    later owner first on a tie, until the class is covered exactly."""
    sizes = [0 if f == 0 else max(1, round(f * n)) for f in column]
    excess = sorted(range(len(sizes)), key=lambda j: (column[j] * n - sizes[j], -j))
    for j in excess[: max(0, sum(sizes) - n)]:
        if sizes[j] > column[j] * n:
            sizes[j] -= 1
    for j, s in enumerate(sizes):
        if 0 < s < min_rows_per_owner:
            raise DataError(
                f"class {cls} has {n} train rows: {what} {column[j]} gives owner {j} only "
                f"{s} row(s), fewer than min_rows_per_owner={min_rows_per_owner}; raise the "
                f"{what}, lower min_rows_per_owner, or drop that class (data.classes)"
                + (" (or give owner j a share of 0: none of the class)" if what == "share" else "")
            )
    if n - sum(sizes) < min_nonmembers:
        raise DataError(
            f"class {cls} has {n} train rows: owners take {sum(sizes)}, leaving {n - sum(sizes)} "
            f"non-members (< min_nonmembers={min_nonmembers}); lower the {what}s"
        )
    return sizes


def dirichlet_shares(
    *,
    fractions: tuple[float, ...] | list[float],
    alpha: float,
    class_sizes: list[int],
    seed: int,
    min_rows_per_owner: int = 2,
) -> tuple[tuple[float, ...], ...]:
    """An owners x classes table drawn per class from a Dirichlet around ``fractions``.

    For every class c (in order) ``p_c ~ Dirichlet(alpha * N * fractions / T)``
    over the N owners, ``T = sum(fractions)``, and owner i's share is
    ``T * p_c[i]``: each class still gives the owners ``T`` of its rows, and
    owner i keeps ``fractions[i]`` of every class on average (with equal
    fractions this is the usual symmetric ``Dirichlet(alpha)`` split; a large
    ``alpha`` approaches the ``fractions`` split, a small one gives each class
    mostly to one owner). A share that would give an owner fewer than
    ``max(1, min_rows_per_owner)`` of the class's ``class_sizes[c]`` rows
    becomes 0: that owner holds none of the class.

    Parameters
    ----------
    seed : int
        Seeds one ``numpy.random.default_rng`` that draws the classes in order.

    Returns
    -------
    tuple of tuple of float
        ``(owners, classes)`` shares, checked by
        :func:`privshare.config.shares.table_problem` by the caller.
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    total = float(fractions.sum())
    draws = np.random.default_rng(seed).dirichlet(alpha * len(fractions) * fractions / total,
                                                  size=len(class_sizes))  # (C, N)
    table = total * draws.T  # (N, C)
    rows = np.rint(table * np.asarray(class_sizes, dtype=np.float64)[None, :])
    table[rows < max(1, min_rows_per_owner)] = 0.0  # too few rows (or none): not held
    return tuple(tuple(float(v) for v in r) for r in table)


def make_partition(
    *,
    labels: np.ndarray,
    fractions: tuple[float, ...] | list[float],
    seed: int,
    classes: tuple[int, ...] | None = None,
    min_rows_per_owner: int = 2,
    min_nonmembers: int = 1,
    shares: tuple[tuple[float, ...], ...] | list[list[float]] | None = None,
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
        Refuse a class that gives an owner fewer rows (0 rows from a share of 0
        excepted), or leaves fewer non-members.
    shares : owners x classes table, optional
        Owner j's share of the k-th class (columns in ``classes`` order; 0 =
        none of it) instead of ``fractions[j]`` for every class; checked by
        :mod:`privshare.config.shares` (privGAN's rule of two holders per class
        is the trainer's, not the partition's).

    Returns
    -------
    Partition
        Owner j holds ``max(1, round(share * n_c))`` rows of each class c
        (``share = fractions[j]`` without a table), none for a share of 0.
    """
    fractions = tuple(float(f) for f in fractions)
    _refuse(rules.fraction_problem(fractions, key="fractions"))
    labels, classes = _check_inputs(labels=labels, classes=classes,
                                    min_rows_per_owner=min_rows_per_owner,
                                    min_nonmembers=min_nonmembers)
    table = () if shares is None else tuple(tuple(float(v) for v in r) for r in shares)
    if shares is not None:
        _refuse(rules.table_problem(table, owners=len(fractions), classes=classes, key="shares"))
    streams = np.random.SeedSequence(seed).spawn(len(classes))
    owners: list[list[np.ndarray]] = [[] for _ in fractions]
    rest = []
    for k, (c, stream) in enumerate(zip(classes, streams)):
        rows = np.flatnonzero(labels == c)
        column = fractions if shares is None else tuple(r[k] for r in table)
        sizes = _class_sizes(cls=c, n=len(rows), column=column,
                             min_rows_per_owner=min_rows_per_owner, min_nonmembers=min_nonmembers,
                             what="fraction" if shares is None else "share")
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
        shares=table,
    )


def save_partition(partition: Partition, path: str | Path) -> None:
    """Write the partition as .npz, whole or not at all (:func:`~privshare.data.loaders.write_npz`)."""
    path = Path(path)
    owners = {f"owner_{j}": idx for j, idx in enumerate(partition.owner_indices)}
    write_npz(path, version=np.int64(FORMAT_VERSION), classes=np.asarray(partition.classes, np.int64),
              fractions=np.asarray(partition.fractions, np.float64), seed=np.int64(partition.seed),
              labels=partition.labels, nonmember=partition.nonmember_indices, **owners,
              **({"shares": np.asarray(partition.shares, np.float64)} if partition.shares else {}))


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
                     nonmember_indices=data["nonmember"].astype(np.int64),
                     shares=tuple(tuple(float(v) for v in r) for r in data.get("shares", ())))
