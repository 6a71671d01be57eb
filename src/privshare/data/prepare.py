"""A run's dataset and its owners' partition, drawn the same way by every path (one process, federated)."""

from __future__ import annotations

from privshare.config import ConfigError, RunConfig
from privshare.config.schema import conv_fits
from privshare.data.dataset import Dataset
from privshare.data.loaders import load_dataset
from privshare.data.partition import Partition, make_partition
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
    )
    return dataset, partition
