"""The :class:`Dataset` every loader returns, and the checks every loader runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DataError(ValueError):
    """Input data is missing, corrupt or mis-shaped; the message says how to fix it."""


@dataclass(frozen=True)
class Dataset:
    """Images and labels, train and test split.

    Attributes
    ----------
    x_train, x_test : uint8 (n, H, W)
    y_train, y_test : int64 (n,)
    classes : sorted labels present in the train split
    class_names : optional human names, one per entry of ``classes``
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[int, ...]
    class_names: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def as_uint8_images(x: np.ndarray, *, what: str, image_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Check and convert images to uint8 (n, H, W).

    Accepts uint8, integers in [0, 255], floats in [0, 1] (scaled by 256 when
    every value is a multiple of 1/256, as in MNIST pickles, else by 255) or
    floats in [0, 255]. NaN/Inf and anything else raise :class:`DataError`.
    """
    if not isinstance(x, np.ndarray):
        raise DataError(f"{what}: expected a numpy array, got {type(x).__name__}")
    if x.ndim == 2 and image_shape is not None:
        if x.shape[1] != image_shape[0] * image_shape[1]:
            raise DataError(
                f"{what}: rows have {x.shape[1]} values, image shape {image_shape} needs "
                f"{image_shape[0] * image_shape[1]}"
            )
        x = x.reshape(len(x), *image_shape)
    if x.ndim != 3:
        raise DataError(
            f"{what}: expected images shaped (n, height, width), got shape {x.shape}; "
            "flat rows need an explicit image shape"
        )
    if len(x) == 0:
        raise DataError(f"{what}: no images")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "iu":
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{what}: integer pixels must be in [0, 255], got min {lo}, max {hi}")
        return x.astype(np.uint8)
    if x.dtype.kind != "f":
        raise DataError(f"{what}: pixel dtype {x.dtype} is not numeric; use uint8 or float")
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
        raise DataError(
            f"{what}: {int(bad.sum())} NaN/Inf pixel values (first in image {first}); "
            "clean or drop those images"
        )
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise DataError(f"{what}: float pixels must be in [0, 1] or [0, 255], got [{lo}, {hi}]")
    if hi <= 1.0:
        scale = 256.0 if np.allclose(x * 256, np.round(x * 256)) and hi < 1.0 else 255.0
        return np.clip(np.round(x * scale), 0, 255).astype(np.uint8)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def as_labels(y: np.ndarray, *, what: str, n: int) -> np.ndarray:
    """Check labels: 1-D, integer-valued, as many as images; returns int64."""
    if not isinstance(y, np.ndarray):
        raise DataError(f"{what}: expected a numpy array, got {type(y).__name__}")
    if y.ndim != 1:
        raise DataError(f"{what}: labels must be 1-D, got shape {y.shape}")
    if len(y) != n:
        raise DataError(f"{what}: {len(y)} labels for {n} images; they must match one to one")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{what}: labels must be whole numbers, got non-integer or NaN values")
    elif y.dtype.kind not in "iu":
        raise DataError(f"{what}: labels of dtype {y.dtype} are not integers")
    return y.astype(np.int64)


def make_dataset(
    *,
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: tuple[str, ...] = (),
    image_shape: tuple[int, int] | None = None,
) -> Dataset:
    """Validate raw arrays and build a :class:`Dataset`."""
    xt = as_uint8_images(x_train, what=f"{name} x_train", image_shape=image_shape)
    xs = as_uint8_images(x_test, what=f"{name} x_test", image_shape=image_shape)
    if xt.shape[1:] != xs.shape[1:]:
        raise DataError(f"{name}: train images are {xt.shape[1:]}, test images {xs.shape[1:]}")
    yt = as_labels(y_train, what=f"{name} y_train", n=len(xt))
    ys = as_labels(y_test, what=f"{name} y_test", n=len(xs))
    classes = tuple(int(c) for c in np.unique(yt))
    if len(classes) < 2:
        raise DataError(f"{name}: the train split has {len(classes)} class(es); at least 2 needed")
    extra = sorted(set(np.unique(ys).tolist()) - set(classes))
    if extra:
        raise DataError(f"{name}: test labels {extra} never occur in the train split")
    return Dataset(name=name, x_train=xt, y_train=yt, x_test=xs, y_test=ys, classes=classes,
                   class_names=class_names)
