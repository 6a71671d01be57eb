"""IDX, npz, PNG-folder and digits loaders, and the load_dataset dispatcher."""

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
)

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, (30, 6, 6), dtype=np.uint8)
Y = (np.arange(30) % 3).astype(np.uint8)
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _write_idx(path: Path, arr: np.ndarray, *, truncate: int = 0, magic: int | None = None,
               gz: bool = True) -> None:
    magic = (0x0800 | arr.ndim) if magic is None else magic
    head = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape)
    raw = head + arr.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - truncate] if truncate else raw
    path.write_bytes(gzip.compress(raw) if gz else raw)


def _idx_folder(folder: Path, **kw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    gz = kw.pop("gz", True)
    ext = ".gz" if gz else ""
    _write_idx(folder / f"train-images-idx3-ubyte{ext}", X, gz=gz, **kw)
    _write_idx(folder / f"train-labels-idx1-ubyte{ext}", Y, gz=gz)
    _write_idx(folder / f"t10k-images-idx3-ubyte{ext}", X[:6], gz=gz)
    _write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", Y[:6], gz=gz)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path, gz):
    ds = load_idx_folder(_idx_folder(tmp_path, gz=gz))
    assert np.array_equal(ds.x_train, X) and ds.classes == (0, 1, 2)
    assert ds.y_test.dtype == np.int64 and ds.x_test.shape == (6, 6, 6)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"truncate": 7}, "header announces shape (30, 6, 6) (1080 bytes) but the file holds 1073"),
        ({"magic": 0x0801}, "bad magic number 0x00000801, expected 0x00000803"),
        ({"magic": 0x12345678}, "bad magic number 0x12345678"),
        ({"truncate": 1087}, "IDX header truncated"),
        ({"truncate": 1093}, "3 bytes, too short for an IDX header"),
    ],
)
def test_idx_corrupt_files(tmp_path, kw, message):
    with pytest.raises(DataError) as err:
        load_idx_folder(_idx_folder(tmp_path, **kw))
    assert message in str(err.value) and "train-images-idx3-ubyte.gz" in str(err.value)


def test_idx_truncated_gzip_and_missing_files(tmp_path):
    folder = _idx_folder(tmp_path / "a")
    raw = (folder / "train-labels-idx1-ubyte.gz").read_bytes()
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(raw[:-10])
    with pytest.raises(DataError, match="not a complete gzip file"):
        load_idx_folder(folder)
    with pytest.raises(DataError, match="nowhere does not exist; set data.path"):
        load_idx_folder(tmp_path / "nowhere")
    folder = _idx_folder(tmp_path / "b")
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing t10k-images-idx3-ubyte\[.gz\]"):
        load_idx_folder(folder)


def test_default_fashion_folder_missing_says_apt_get(monkeypatch, tmp_path):
    from privshare.data import loaders

    monkeypatch.setattr(loaders, "FASHION_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset(DataConfig(name="fashion-mnist"))


def test_npz_with_and_without_test_split(tmp_path):
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    ds = load_npz(tmp_path / "d.npz", seed=1)
    assert len(ds.x_train) == 25 and len(ds.x_test) == 5
    assert sorted(np.bincount(ds.y_test).tolist()) == [1, 2, 2]  # stratified
    again = load_npz(tmp_path / "d.npz", seed=1)
    assert np.array_equal(ds.y_test, again.y_test) and np.array_equal(ds.x_test, again.x_test)
    np.savez(tmp_path / "e.npz", x=X, y=Y, x_test=X[:3], y_test=Y[:3])
    assert len(load_npz(tmp_path / "e.npz").x_test) == 3


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": X}, r"missing array(s) ['y'] (found ['x'])"),
        ({"x": X, "y": Y, "x_test": X[:3]}, "has x_test but not its partner"),
        ({"x": X, "y": np.zeros(30, int)}, "at least 2 needed"),
        ({"x": X, "y": Y[:20]}, "20 labels for 30 images"),
        ({"x": X * 0.0 + np.nan, "y": Y}, "NaN/Inf pixel values"),
    ],
)
def test_npz_bad_contents(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as err:
        load_npz(tmp_path / "bad.npz")
    assert message in str(err.value)


def test_npz_missing_or_junk_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="none.npz does not exist; set data.path"):
        load_npz(tmp_path / "none.npz")


def _png_folder(root: Path, names=("forged", "genuine"), n=6) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(X[i]).save(root / name / f"{i}.png")
    return root


def test_png_folder_named_and_numeric_classes(tmp_path):
    ds = load_png_folder(_png_folder(tmp_path / "a"), seed=0)
    assert ds.class_names == ("forged", "genuine") and ds.classes == (0, 1)
    assert ds.x_train.shape == (10, 6, 6) and ds.x_test.shape == (2, 6, 6)
    ds = load_png_folder(_png_folder(tmp_path / "b", names=("3", "7")))
    assert ds.classes == (3, 7) and ds.class_names == ()
    _png_folder(tmp_path / "b" / "test", names=("3", "7"), n=2)
    assert load_png_folder(tmp_path / "b").x_test.shape == (4, 6, 6)
    (tmp_path / "b" / ".ipynb_checkpoints").mkdir()  # a hidden folder is not a class
    (tmp_path / "b" / ".git").mkdir()
    assert load_png_folder(tmp_path / "b").classes == (3, 7)


def test_png_folder_bad_inputs(tmp_path):
    root = _png_folder(tmp_path / "a")
    Image.fromarray(np.zeros((7, 6), np.uint8)).save(root / "genuine" / "odd.png")
    with pytest.raises(DataError, match="odd.png: image is 6x7, the others are 6x6"):
        load_png_folder(root)
    root = _png_folder(tmp_path / "b")
    colour = np.stack([X[0], X[1], X[2]], axis=-1)
    Image.fromarray(colour).save(root / "genuine" / "rgb.png")
    with pytest.raises(DataError, match="rgb.png: a colour image"):
        load_png_folder(root)
    root = _png_folder(tmp_path / "c")
    (root / "genuine" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png: not a readable PNG"):
        load_png_folder(root)
    (tmp_path / "d" / "empty").mkdir(parents=True)
    with pytest.raises(DataError, match="class folder holds no .png files"):
        load_png_folder(tmp_path / "d")
    with pytest.raises(DataError, match="PNG folder .* does not exist"):
        load_png_folder(tmp_path / "nowhere")


def test_digits_and_dispatch():
    ds = load_digits()
    assert ds.x_train.shape[1:] == (8, 8) and ds.x_train.max() == 255 and len(ds.classes) == 10
    assert len(ds.x_train) + len(ds.x_test) == 1797
    small = load_dataset(DataConfig(name="digits", classes=(1, 2), max_train_per_class=20), seed=5)
    assert small.classes == (1, 2) and np.bincount(small.y_train)[1:].tolist() == [20, 20]
    assert set(small.y_test.tolist()) == {1, 2}
    again = load_dataset(DataConfig(name="digits", classes=(1, 2), max_train_per_class=20), seed=5)
    assert np.array_equal(small.x_train, again.x_train)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (DataConfig(name="digits", classes=(11,)), "data.classes [11] not in digits; available labels"),
        (DataConfig(name="cifar"), "choose one of mnist, fashion-mnist, digits, npz, png-folder"),
        (DataConfig(name="npz"), "needs data.path"),
        (DataConfig(name="npz", path="/nonexistent/x.npz"), "/nonexistent/x.npz does not exist"),
        (DataConfig(name="digits", max_train_per_class=-1), "is negative"),
    ],
)
def test_dispatch_errors(config, message):
    with pytest.raises(DataError) as err:
        load_dataset(config)
    assert message in str(err.value)


@pytest.mark.skipif(not FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian():
    ds = load_dataset(DataConfig(name="fashion-mnist"))
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.classes == tuple(range(10)) and np.bincount(ds.y_train).tolist() == [6000] * 10
