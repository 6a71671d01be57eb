from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from privshare.config import DataConfig
from privshare.data import (
    DataError,
    load_dataset,
    load_digits,
    load_idx_folder,
    load_npz,
    load_png_folder,
    make_dataset,
)

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, (30, 6, 6), dtype=np.uint8)
Y = np.arange(30) % 3


def _make(**kw):
    args = dict(name="t", x_train=X, y_train=Y, x_test=X[:6], y_test=Y[:6])
    args.update(kw)
    return make_dataset(**args)


def test_float_pixels_are_converted():
    assert np.array_equal(_make(x_train=X / 256.0).x_train, X)  # MNIST-pickle style
    assert np.array_equal(_make(x_train=X.astype(np.float32)).x_train, X)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"x_train": X[:, :, 0]}, "expected images shaped (n, height, width)"),
        ({"x_train": np.where(X > 250, np.nan, X / 255.0)}, "NaN/Inf pixel values"),
        ({"x_train": X.astype(np.float32) * 2}, "float pixels must be in [0, 1] or [0, 255]"),
        ({"x_train": X.astype(np.int32) - 5}, "integer pixels must be in [0, 255]"),
        ({"y_train": Y[:-1]}, "29 labels for 30 images"),
        ({"y_train": np.zeros(30, int)}, "at least 2 needed"),
        ({"y_train": Y + 0.5}, "whole numbers"),
        ({"y_test": np.full(6, 9)}, "test labels [9] never occur"),
        ({"x_test": X[:6, :5]}, "train images are (6, 6), test images (5, 6)"),
    ],
)
def test_each_bad_input_has_its_own_message(kw, message):
    with pytest.raises(DataError) as err:
        _make(**kw)
    assert message in str(err.value)


def _write_idx(path: Path, arr: np.ndarray, *, truncate: int = 0, magic: int = 0x08) -> None:
    head = bytes([0, 0, magic, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    raw = head + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw[: len(raw) - truncate] if truncate else raw))


def _idx_folder(tmp_path: Path, **kw) -> Path:
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", X, **kw)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", Y)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", X[:6])
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", Y[:6])
    return tmp_path


def test_idx_folder(tmp_path):
    ds = load_idx_folder(_idx_folder(tmp_path))
    assert np.array_equal(ds.x_train, X) and ds.classes == (0, 1, 2)


def test_idx_truncated_and_bad_magic(tmp_path):
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_idx_folder(_idx_folder(tmp_path / "a", truncate=7) if (tmp_path / "a").mkdir() is None else None)
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match="bad magic number"):
        load_idx_folder(_idx_folder(tmp_path / "b", magic=0x42))
    with pytest.raises(DataError, match="does not exist"):
        load_idx_folder(tmp_path / "nowhere")
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="missing t10k-images"):
        _write_idx(tmp_path / "c" / "train-images-idx3-ubyte.gz", X)
        _write_idx(tmp_path / "c" / "train-labels-idx1-ubyte.gz", Y)
        load_idx_folder(tmp_path / "c")


def test_npz(tmp_path):
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    ds = load_npz(tmp_path / "d.npz")
    assert len(ds.x_train) == 25 and len(ds.x_test) == 5
    np.savez(tmp_path / "bad.npz", x=X)
    with pytest.raises(DataError, match=r"missing array\(s\) \['y'\]"):
        load_npz(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz")


def test_png_folder(tmp_path):
    for name in ("forged", "genuine"):
        (tmp_path / name).mkdir()
        for i in range(6):
            Image.fromarray(X[i]).save(tmp_path / name / f"{i}.png")
    ds = load_png_folder(tmp_path)
    assert ds.class_names == ("forged", "genuine") and ds.classes == (0, 1)
    assert ds.x_train.shape[1:] == (6, 6)
    Image.fromarray(np.zeros((7, 6), np.uint8)).save(tmp_path / "genuine" / "odd.png")
    with pytest.raises(DataError, match="odd.png: image is 6x7"):
        load_png_folder(tmp_path)


def test_digits_and_dispatch():
    ds = load_digits()
    assert ds.x_train.shape[1:] == (8, 8) and ds.x_train.max() == 255 and len(ds.classes) == 10
    small = load_dataset(DataConfig(name="digits", classes=(1, 2), max_train_per_class=20))
    assert small.classes == (1, 2) and np.bincount(small.y_train)[1:].tolist() == [20, 20]
    with pytest.raises(DataError, match="not in digits"):
        load_dataset(DataConfig(name="digits", classes=(11,)))
    with pytest.raises(DataError, match="choose one of"):
        load_dataset(DataConfig(name="cifar"))
    with pytest.raises(DataError, match="needs data.path"):
        load_dataset(DataConfig(name="npz"))


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian():
    ds = load_dataset(DataConfig(name="fashion-mnist"))
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.classes == tuple(range(10))
