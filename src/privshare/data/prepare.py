"""A run's dataset and its owners' partition, drawn the same way by every path (one process, federated)."""

from __future__ import annotations

import numpy as np

from privshare.config import ConfigError, RunConfig
from privshare.config import shares as rules
from privshare.config.schema import conv_fits
from privshare.data.dataset import Dataset
from privshare.data.loaders import load_dataset
from privshare.data.partition import Partition, dirichlet_shares, make_partition
from privshare.seeding import STAGE_PARTITION, derive_seed


def _check_shape(config: RunConfig, h: int, w: int) -> None:
    """Refuse, before anything is written, networks or augmentations these images cannot feed."""
    if config.train.augment and h != w:
        raise ConfigError(f"train.augment={list(config.train.augment)} needs square images; "
                          f"this dataset's are {h}x{w}: set train.augment=[]")
    m = config.model
    if m.kind == "conv":  # the rule models.conv.check_conv_side applies
        layers = len(m.conv_channels)
        if not conv_fits(h, w, layers):
            raise ConfigError(
                f"model.kind='conv' with model.conv_channels={list(m.conv_channels)} needs square "
                f"images whose side is a multiple of {2 ** layers} and at least "
                f"{2 ** (layers + 1)}; this dataset's are {h}x{w}: use fewer conv_channels or "
                "model.kind='mlp'")


def split_table(config: RunConfig, dataset: Dataset) -> tuple[tuple[float, ...], ...] | None:
    """The owners x classes shares of this run (None: ``data.fractions`` for every class).

    ``data.class_shares`` as given, or a Dirichlet draw (seeded by the run's
    seed, :func:`~privshare.data.partition.dirichlet_shares`); either is
    checked against the dataset's classes with the rules of
    :mod:`privshare.config.shares`, so a table the run cannot train raises
    :class:`ConfigError` before anything is written.
    """
    d = config.data
    if d.class_shares:
        table, key = d.class_shares, "data.class_shares"
    elif d.dirichlet > 0:
        sizes = [int(np.sum(dataset.y_train == c)) for c in dataset.classes]
        table = dirichlet_shares(fractions=d.fractions, alpha=d.dirichlet, class_sizes=sizes,
                                 seed=derive_seed(config.seed, STAGE_PARTITION, 2),
                                 min_rows_per_owner=d.min_rows_per_owner)
        key = (f"data.dirichlet={d.dirichlet} with seed={config.seed} drew "
               f"{[[round(v, 4) for v in r] for r in table]} (0 = a share below "
               f"min_rows_per_owner={d.min_rows_per_owner} rows); change the seed or "
               "data.dirichlet. That table")
    else:
        return None
    problem = rules.table_problem(table, owners=len(d.fractions), classes=dataset.classes,
                                  key=key, privgan="privgan" in config.train.methods)
    if problem:
        raise ConfigError(problem)
    return tuple(tuple(r) for r in table)


def prepare_data(config: RunConfig) -> tuple[Dataset, Partition]:
    """Load the dataset and draw the owners' partition.

    The dataset's own train/test split (where a loader makes one) uses a fixed
    seed, so runs with different seeds are evaluated on the same test rows;
    the partition is drawn from the run's seed.
    """
    dataset = load_dataset(config.data, seed=0)
    _check_shape(config, *dataset.x_train.shape[1:])
    partition = make_partition(
        labels=dataset.y_train,
        fractions=config.data.fractions,
        seed=derive_seed(config.seed, STAGE_PARTITION, 1),
        classes=dataset.classes,
        min_rows_per_owner=config.data.min_rows_per_owner,
        min_nonmembers=config.data.min_nonmembers,
        shares=split_table(config, dataset),
    )
    return dataset, partition
