"""Datasets (real, offline), validation, and owner partitions. No torch here."""

from privshare.data.dataset import DataError, Dataset, as_labels, as_uint8_images, validate_arrays
from privshare.data.idx import read_idx
from privshare.data.loaders import (
    NAMES,
    load_dataset,
    load_digits,
    load_idx_folder,
    load_npz,
    load_png_folder,
    restrict,
    split_test,
)
from privshare.data.mnist import fetch_mnist, load_mnist
from privshare.data.partition import Partition, load_partition, make_partition, save_partition

__all__ = [
    "NAMES",
    "DataError",
    "Dataset",
    "Partition",
    "as_labels",
    "as_uint8_images",
    "fetch_mnist",
    "load_dataset",
    "load_digits",
    "load_idx_folder",
    "load_mnist",
    "load_npz",
    "load_partition",
    "load_png_folder",
    "make_partition",
    "read_idx",
    "restrict",
    "save_partition",
    "split_test",
    "validate_arrays",
]
