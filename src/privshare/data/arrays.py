"""Owners' own arrays as a :class:`Dataset` plus an explicit :class:`Partition`.

The Python API fits on arrays that the owners already hold instead of a
dataset split by fractions. :func:`owners_dataset` checks every array (before
anything is trained or written) and builds the train split as the owners'
rows one after another, with a partition in which owner ``j`` holds exactly
its own rows and no train row is a non-member. :func:`save_arrays` /
:func:`load_arrays` keep that dataset beside the run (``RUN/data.npz``), so a
run fitted on arrays can be evaluated from its folder alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from privshare.config import RunConfig
from privshare.data.dataset import DataError, Dataset, as_labels, as_uint8_images
from privshare.data.loaders import read_npz, write_npz
from privshare.data.partition import Partition
from privshare.data.prepare import _check_shape

ARRAYS_NAME = "arrays"  # Dataset.name of data given as arrays


def _pair(value: object, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise DataError(f"{what}: expected a pair (x, y) of images and labels, got "
                        f"{type(value).__name__}; pass e.g. (x, y) with x (n, H, W), y (n,)")
    return value[0], value[1]


def check_xy(value: object, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Check one ``(x, y)`` pair: images ``(n, H, W)`` square, finite, labels ``(n,)`` integers.

    Parameters
    ----------
    value : (np.ndarray, np.ndarray)
        Images (uint8, integers in [0, 255] or floats in [0, 1] / [0, 255])
        and integer labels.
    what : str
        The argument's name in error messages, e.g. ``"owners[1]"``.

    Returns
    -------
    x : np.ndarray
        uint8 ``(n, H, W)``.
    y : np.ndarray
        int64 ``(n,)``.
    """
    x, y = _pair(value, what=what)
    x = as_uint8_images(x, what=f"{what} x")
    if x.shape[1] != x.shape[2]:
        raise DataError(f"{what} x: images are {x.shape[1]}x{x.shape[2]} (shape {x.shape}); "
                        "square images (n, S, S) are expected: crop or pad them")
    return x, as_labels(y, what=f"{what} y", n=len(x))


def _check_classes(ys: list[np.ndarray], *, min_rows: int) -> tuple[int, ...]:
    classes = tuple(sorted(set().union(*(np.unique(y).tolist() for y in ys))))
    if len(classes) < 2:
        raise DataError(f"owners: the labels hold {len(classes)} class(es) {list(classes)}; "
                        "at least 2 classes are needed (one generator per class)")
    for j, y in enumerate(ys):
        have = dict(zip(*(a.tolist() for a in np.unique(y, return_counts=True))))
        missing = [c for c in classes if c not in have]
        if missing:
            raise DataError(
                f"owners[{j}] y: no rows of class(es) {missing}; the owners' labels together are "
                f"{list(classes)} and owner {j} has {sorted(have)}. Every owner needs rows of "
                "every class: drop those classes from every owner, or add rows")
        few = {c: n for c, n in have.items() if n < min_rows}
        if few:
            raise DataError(f"owners[{j}] y: class(es) {sorted(few)} have only {few} row(s), "
                            f"fewer than data.min_rows_per_owner={min_rows}; add rows or lower it")
    return classes


def owners_dataset(
    owners: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    config: RunConfig,
    test: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Dataset, Partition]:
    """Check the owners' arrays and build the dataset and partition a run trains on.

    Parameters
    ----------
    owners : sequence of (x, y)
        One pair per owner (at least 2): images ``(n_j, S, S)`` and integer
        labels ``(n_j,)``. Every owner needs rows of every class and images of
        one size.
    config : RunConfig
        The run's configuration: its model must fit ``S x S`` images and
        ``data.min_rows_per_owner`` bounds each owner's rows per class.
    test : (x, y), optional
        Real rows no owner trained on, for evaluation; ``None`` leaves the
        test split empty (``(0, S, S)``).

    Returns
    -------
    (Dataset, Partition)
        ``x_train`` is the owners' rows in owner order; owner ``j`` holds
        exactly its own rows; there are no non-member train rows.

    Raises
    ------
    DataError
        Naming the argument (``owners[j] x``, ``test y``, ...), what it holds
        and what is expected.
    """
    if isinstance(owners, (np.ndarray, str, bytes)) or not isinstance(owners, Sequence):
        raise DataError(f"owners: expected a list of (x, y) pairs, one per owner, got "
                        f"{type(owners).__name__}; pass owners=[(x0, y0), (x1, y1)]")
    if len(owners) < 2:
        raise DataError(f"owners: got {len(owners)} owner(s); privGAN needs at least 2, "
                        "pass owners=[(x0, y0), (x1, y1), ...]")
    pairs = [check_xy(o, what=f"owners[{j}]") for j, o in enumerate(owners)]
    shape = pairs[0][0].shape[1:]
    for j, (x, _) in enumerate(pairs):
        if x.shape[1:] != shape:
            raise DataError(f"owners[{j}] x: images are {x.shape[1]}x{x.shape[2]}, owners[0]'s "
                            f"are {shape[0]}x{shape[1]}; every owner's images must have one size")
    classes = _check_classes([y for _, y in pairs], min_rows=config.data.min_rows_per_owner)
    _check_shape(config, *shape)
    if test is None:
        x_te, y_te = np.zeros((0, *shape), np.uint8), np.zeros(0, np.int64)
    else:
        x_te, y_te = check_xy(test, what="test")
        check_test(x_te, y_te, shape=shape, classes=classes)
    x_tr = np.concatenate([x for x, _ in pairs])
    y_tr = np.concatenate([y for _, y in pairs])
    bounds = np.cumsum([0, *(len(x) for x, _ in pairs)])
    dataset = Dataset(name=ARRAYS_NAME, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                      classes=classes)
    partition = Partition(
        classes=classes, fractions=tuple(config.data.fractions), seed=config.seed, labels=y_tr,
        owner_indices=tuple(np.arange(bounds[j], bounds[j + 1], dtype=np.int64)
                            for j in range(len(pairs))),
        nonmember_indices=np.zeros(0, np.int64))
    return dataset, partition


def check_test(x: np.ndarray, y: np.ndarray, *, shape: tuple[int, ...],
               classes: tuple[int, ...]) -> None:
    """Refuse test rows of another image size or with labels no owner has."""
    if x.shape[1:] != tuple(shape):
        raise DataError(f"test x: images are {x.shape[1]}x{x.shape[2]}, the owners' are "
                        f"{shape[0]}x{shape[1]}; test images must have the owners' size")
    extra = sorted(set(np.unique(y).tolist()) - set(classes))
    if extra:
        raise DataError(f"test y: labels {extra} were not modelled (the owners' classes are "
                        f"{list(classes)}); drop those test rows")


def owner_fractions(sizes: Sequence[int]) -> tuple[float, ...]:
    """Each owner's share of all rows, rounded down to 6 digits: ``data.fractions`` of a run on arrays."""
    total = sum(sizes)
    return tuple(max(1e-6, np.floor(n / total * 1e6) / 1e6) for n in sizes)


def save_arrays(dataset: Dataset, path: str | Path) -> None:
    """Write ``dataset`` as the .npz :func:`load_arrays` reads (``x``, ``y``, ``x_test``, ``y_test``)."""
    write_npz(path, x=dataset.x_train, y=dataset.y_train, x_test=dataset.x_test,
              y_test=dataset.y_test)


def load_arrays(path: str | Path) -> Dataset:
    """Read a dataset written by :func:`save_arrays`; the test split may be empty."""
    path = Path(path)
    arrays = read_npz(path)  # the loaders' one error path for an unreadable .npz
    missing = sorted({"x", "y", "x_test", "y_test"} - set(arrays))
    if missing:
        raise DataError(f"{path}: lacks {missing}; it was not written by save_arrays")
    x, y = arrays["x"], arrays["y"].astype(np.int64)
    return Dataset(name=ARRAYS_NAME, x_train=x, y_train=y, x_test=arrays["x_test"],
                   y_test=arrays["y_test"].astype(np.int64),
                   classes=tuple(int(c) for c in np.unique(y)))
