"""The :class:`Dataset` every loader returns, and the checks every loader runs.

Every loader ends with :func:`validate_arrays`, so a dataset that exists is
one whose images are uint8 ``(n, H, W)``, whose labels are int64 ``(n,)``, and
whose test labels all occur in the train split.
"""

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
    name : str
        Where the data came from (``"mnist"``, ``"npz"``, ...).
    x_train, x_test : np.ndarray
        uint8 images, shape ``(n, H, W)`` and ``(m, H, W)``.
    y_train, y_test : np.ndarray
        int64 labels, shape ``(n,)`` and ``(m,)``.
    classes : tuple of int
        Sorted labels present in the train split.
    class_names : tuple of str
        Optional human names, one per entry of ``classes`` (``()`` = none).
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
        """``(H, W)`` of every image."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def _float_to_uint8(x: np.ndarray, *, what: str) -> np.ndarray:
    """Floats in [0, 1] (x256 when all are multiples of 1/256, else x255) or [0, 255]."""
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
        raise DataError(
            f"{what}: {int(bad.sum())} NaN/Inf pixel values (first in image {first}); "
            "clean or drop those images before loading"
        )
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise DataError(
            f"{what}: float pixels must be in [0, 1] or [0, 255], got min {lo:g}, max {hi:g}; "
            "rescale the images to one of those ranges (or store them as uint8)"
        )
    if hi <= 1.0:
        on_256_grid = hi < 1.0 and np.allclose(x * 256.0, np.round(x * 256.0))
        x = x * (256.0 if on_256_grid else 255.0)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def as_uint8_images(
    x: np.ndarray, *, what: str, image_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Check images and convert them to uint8 ``(n, H, W)``.

    Parameters
    ----------
    x : np.ndarray
        ``(n, H, W)``, or ``(n, H*W)`` when ``image_shape`` is given. uint8,
        integers in [0, 255], or floats as described in :func:`_float_to_uint8`.
    what : str
        Name of the array, used in error messages (e.g. ``"npz x_train"``).
    image_shape : (int, int), optional
        ``(H, W)`` used to reshape flat rows.
    """
    if not isinstance(x, np.ndarray):
        raise DataError(f"{what}: expected a numpy array, got {type(x).__name__}; "
                        "convert it with numpy.asarray")
    if x.ndim == 2 and image_shape is not None:
        if x.shape[1] != image_shape[0] * image_shape[1]:
            raise DataError(
                f"{what}: rows have {x.shape[1]} values, but image shape {tuple(image_shape)} "
                f"needs {image_shape[0] * image_shape[1]}; pass the right image shape"
            )
        x = x.reshape(len(x), *image_shape)
    if x.ndim != 3:
        raise DataError(
            f"{what}: expected images shaped (n, height, width), got shape {x.shape}; "
            "reshape them (flat rows need an explicit image shape)"
        )
    if x.size == 0:
        raise DataError(f"{what}: no images (shape {x.shape}); the split must not be empty")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "iu":
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{what}: integer pixels must be in [0, 255], got min {lo}, max {hi}; "
                            "rescale them to [0, 255]")
        return x.astype(np.uint8)
    if x.dtype.kind != "f":
        raise DataError(f"{what}: pixel dtype {x.dtype} is not numeric; store uint8 or float pixels")
    return _float_to_uint8(x, what=what)


def as_labels(y: np.ndarray, *, what: str, n: int) -> np.ndarray:
    """Check labels (1-D, whole numbers, one per image) and return them as int64 ``(n,)``."""
    if not isinstance(y, np.ndarray):
        raise DataError(f"{what}: expected a numpy array, got {type(y).__name__}; "
                        "convert it with numpy.asarray")
    if y.ndim != 1:
        raise DataError(f"{what}: labels must be 1-D, got shape {y.shape}; "
                        "pass one integer label per image (not one-hot)")
    if len(y) != n:
        raise DataError(f"{what}: {len(y)} labels for {n} images; they must match one to one")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{what}: labels must be whole numbers, got {int(bad.sum())} non-integer or "
                f"NaN value(s) (first at index {first}: {y[first]!r}); store integer labels"
            )
    elif y.dtype.kind not in "iu":
        raise DataError(f"{what}: labels of dtype {y.dtype} are not integers; store integer labels")
    return y.astype(np.int64)


def validate_arrays(
    *,
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: tuple[str, ...] = (),
    image_shape: tuple[int, int] | None = None,
) -> Dataset:
    """Check and convert raw arrays, then build a :class:`Dataset`.

    Parameters
    ----------
    name : str
        Dataset name, used in messages and kept in ``Dataset.name``.
    x_train, x_test : np.ndarray
        Images ``(n, H, W)`` (or ``(n, H*W)`` with ``image_shape``).
    y_train, y_test : np.ndarray
        Integer labels ``(n,)``.
    class_names : tuple of str
        Optional names, one per sorted train label.
    image_shape : (int, int), optional
        ``(H, W)`` for flat rows.

    Raises
    ------
    DataError
        One distinct message per problem, naming the array and the fix.
    """
    xt = as_uint8_images(x_train, what=f"{name} x_train", image_shape=image_shape)
    xs = as_uint8_images(x_test, what=f"{name} x_test", image_shape=image_shape)
    if xt.shape[1:] != xs.shape[1:]:
        raise DataError(f"{name}: train images are {xt.shape[1:]}, test images {xs.shape[1:]}; "
                        "both splits need the same image size")
    yt = as_labels(y_train, what=f"{name} y_train", n=len(xt))
    ys = as_labels(y_test, what=f"{name} y_test", n=len(xs))
    classes = tuple(int(c) for c in np.unique(yt))
    if len(classes) < 2:
        raise DataError(f"{name} y_train: the train split has {len(classes)} class(es) "
                        f"{list(classes)}; at least 2 needed")
    extra = sorted(set(np.unique(ys).tolist()) - set(classes))
    if extra:
        raise DataError(f"{name} y_test: test labels {extra} never occur in the train split "
                        f"(train labels {list(classes)}); drop those test rows")
    if class_names and len(class_names) != len(classes):
        raise DataError(f"{name}: {len(class_names)} class names for {len(classes)} classes")
    return Dataset(name=name, x_train=xt, y_train=yt, x_test=xs, y_test=ys, classes=classes,
                   class_names=tuple(class_names))
