"""Each owner's rows as one private ``.npz`` file, and reading it back per class.

A federated owner never sees the other owners' rows: it reads only its own
file (``x`` uint8 (n, H, W), ``y`` labels (n,)). :func:`write_owner_files`
cuts those files out of one dataset for a simulation on one machine, with the
same seeds as the one-process run, so both paths train on the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from privshare.config import ConfigError, RunConfig
from privshare.training import RealRows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OwnerRows:
    """One owner's rows as the training functions want them."""

    rows: RealRows  # (C, n_max, D) in [-1, 1], padded
    classes: tuple[int, ...]  # labels, in the class order every owner must share
    image_shape: tuple[int, int]  # (H, W)


class OwnerDataError(ValueError):
    """An owner's data file is missing or malformed."""


def owner_partition(config: RunConfig):
    """Train images, labels and the owners' partition, seeded as a one-process run.

    Returns ``(x_train, y_train, Partition)``.
    """
    from privshare.data.prepare import prepare_data  # scikit-learn: not on the owner's path

    dataset, partition = prepare_data(config)
    if not partition.holds().all():  # each owner's file must hold every class (load_owner_rows)
        raise ConfigError(
            f"data.class_shares / data.dirichlet leave an owner without some class "
            f"(rows per class: {partition.counts()}); the federated trainer needs every owner to "
            "hold every class: train these owners with `privshare run`, or give every share > 0")
    return dataset.x_train, dataset.y_train, partition


def write_owner_files(
    config: RunConfig, *, folder: str | Path, partition_path: str | Path | None = None
) -> list[Path]:
    """Write ``folder/owner_<j>_rows.npz`` for every owner; return the paths.

    Rows are stored class by class in ``partition.classes`` order, each class's
    rows in partition order, so :func:`load_owner_rows` rebuilds exactly the
    :class:`RealRows` of the one-process run.
    """
    from privshare.artifacts import save_npz_atomic
    from privshare.data import save_partition

    x, y, partition = owner_partition(config)
    folder = Path(folder)
    paths = []
    for j in range(partition.owners):
        idx = np.concatenate([partition.owner_class_indices(j, c) for c in partition.classes])
        path = folder / f"owner_{j}_rows.npz"
        save_npz_atomic(path, x=x[idx], y=y[idx])
        paths.append(path)
    if partition_path is not None:
        Path(partition_path).parent.mkdir(parents=True, exist_ok=True)
        save_partition(partition, partition_path)
    log.info("wrote %d owner row files to %s", len(paths), folder)
    return paths


def load_owner_rows(
    path: str | Path,
    *,
    classes: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype,
) -> OwnerRows:
    """Read an owner's ``.npz`` and group its rows per class.

    ``classes`` () means every label in the file, sorted.
    """
    path = Path(path)
    if not path.is_file():
        raise OwnerDataError(f"owner data file {str(path)!r} does not exist; check the node config 'data'")
    with np.load(path, allow_pickle=False) as f:
        if not {"x", "y"} <= set(f.files):
            raise OwnerDataError(f"{str(path)!r} holds {f.files}; an owner file needs arrays x and y")
        x, y = f["x"], f["y"]
    if x.dtype != np.uint8 or x.ndim != 3 or y.shape != (len(x),):
        raise OwnerDataError(
            f"{str(path)!r}: x must be uint8 (n, H, W) and y (n,) labels, got x {x.dtype} "
            f"{x.shape} and y {y.shape}"
        )
    classes = tuple(int(c) for c in (classes or np.unique(y)))
    per_class = [x[y == c] for c in classes]
    empty = [c for c, a in zip(classes, per_class) if len(a) == 0]
    if empty:
        raise OwnerDataError(f"{str(path)!r} has no rows of classes {empty}; every owner needs each class")
    rows = RealRows.from_arrays(per_class, device=device, dtype=dtype)
    return OwnerRows(rows=rows, classes=classes, image_shape=(int(x.shape[1]), int(x.shape[2])))
