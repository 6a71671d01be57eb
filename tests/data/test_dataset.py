"""validate_arrays: conversions that are allowed and one message per problem."""

from __future__ import annotations

import numpy as np
import pytest

from privshare.data import DataError, validate_arrays

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, (30, 6, 6), dtype=np.uint8)
Y = np.arange(30) % 3


def _make(**kw):
    args = dict(name="t", x_train=X, y_train=Y, x_test=X[:6], y_test=Y[:6])
    args.update(kw)
    return validate_arrays(**args)


def test_valid_arrays_give_uint8_images_and_int64_labels():
    ds = _make(y_train=Y.astype(np.int32))
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.classes == (0, 1, 2) and ds.image_shape == (6, 6)


def test_float_pixels_are_converted():
    assert np.array_equal(_make(x_train=X / 256.0).x_train, X)  # MNIST-pickle style
    assert np.array_equal(_make(x_train=X / 255.0).x_train, X)
    assert np.array_equal(_make(x_train=X.astype(np.float32)).x_train, X)
    assert np.array_equal(_make(x_train=X.astype(np.int64)).x_train, X)


def test_flat_rows_need_the_image_shape():
    ds = _make(x_train=X.reshape(30, 36), x_test=X[:6].reshape(6, 36), image_shape=(6, 6))
    assert np.array_equal(ds.x_train, X)
    with pytest.raises(DataError, match="rows have 36 values, but image shape"):
        _make(x_train=X.reshape(30, 36), image_shape=(5, 5))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"x_train": X.tolist()}, "t x_train: expected a numpy array, got list"),
        ({"x_train": X[:, :, 0]}, "expected images shaped (n, height, width), got shape (30, 6)"),
        ({"x_test": X[:0]}, "t x_test: no images"),
        ({"x_train": np.where(X > 250, np.nan, X / 255.0)}, "NaN/Inf pixel values (first in image"),
        ({"x_train": X.astype(np.float32) * 2}, "float pixels must be in [0, 1] or [0, 255], got min 0"),
        ({"x_train": X.astype(np.int32) - 5}, "integer pixels must be in [0, 255], got min -5"),
        ({"x_train": X.astype(str)}, "is not numeric"),
        ({"y_train": Y[:-1]}, "29 labels for 30 images"),
        ({"y_train": Y[:, None]}, "labels must be 1-D, got shape (30, 1)"),
        ({"y_train": np.zeros(30, int)}, "has 1 class(es) [0]; at least 2 needed"),
        ({"y_train": Y + 0.5}, "whole numbers, got 30 non-integer"),
        ({"y_train": Y.astype(str)}, "are not integers"),
        ({"y_test": np.full(6, 9)}, "test labels [9] never occur in the train split"),
        ({"x_test": X[:6, :5]}, "train images are (6, 6), test images (5, 6)"),
        ({"class_names": ("a",)}, "1 class names for 3 classes"),
    ],
)
def test_each_bad_input_has_its_own_message(kw, message):
    with pytest.raises(DataError) as err:
        _make(**kw)
    assert message in str(err.value)


def test_nan_message_counts_and_locates():
    x = (X / 255.0).copy()
    x[4, 0, 0] = np.nan
    x[7, 1, 1] = np.inf
    with pytest.raises(DataError, match=r"2 NaN/Inf pixel values \(first in image 4\)"):
        _make(x_train=x)
