"""Dataset loaders: MNIST, Fashion-MNIST (IDX), a generic .npz, a folder of
PNGs per class, and scikit-learn's bundled 8x8 digits; plus the dispatcher."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from sklearn.datasets import load_digits as _sk_digits
from sklearn.model_selection import train_test_split

from privshare.config import DataConfig
from privshare.data.dataset import DataError, Dataset, as_labels, make_dataset
from privshare.data.mnist import load_mnist

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
NAMES = ("mnist", "fashion-mnist", "digits", "npz", "png-folder")
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32}


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped) with its header checked."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{path}: not a readable gzip file ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if ndim == 0 or len(raw) < head:
        raise DataError(f"{path}: IDX header truncated")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]]).newbyteorder(">")
    need = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - head != need:
        raise DataError(
            f"{path}: header announces shape {dims} ({need} bytes) but the file holds "
            f"{len(raw) - head} bytes; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(dims).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: missing {stem}[.gz]; an IDX folder needs train/t10k images+labels")


def load_idx_folder(path: str | Path | None = None, *, name: str = "fashion-mnist") -> Dataset:
    """Fashion-MNIST (or any MNIST-format) IDX files in one folder."""
    folder = Path(path) if path else FASHION_DIR
    if not folder.is_dir():
        hint = ("install it with `apt-get install dataset-fashion-mnist`, or pass data.path"
                if not path else "pass the folder holding the IDX files as data.path")
        raise DataError(f"IDX folder {folder} does not exist; {hint}")
    parts = {
        key: read_idx(_find(folder, f"{prefix}-{kind}-idx{n}-ubyte"))
        for key, prefix, kind, n in [
            ("x_train", "train", "images", 3), ("y_train", "train", "labels", 1),
            ("x_test", "t10k", "images", 3), ("y_test", "t10k", "labels", 1),
        ]
    }
    return make_dataset(name=name, **parts)


def _split(x: np.ndarray, y: np.ndarray, *, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded stratified 5/6 train, 1/6 test split."""
    y = as_labels(y, what="labels", n=len(x))
    try:
        return tuple(train_test_split(x, y, test_size=1 / 6, random_state=seed % 2**32, stratify=y))
    except ValueError as err:
        raise DataError(f"cannot split off a test set: {err}; give every class at least 2 rows") from err


def load_npz(path: str | Path, *, seed: int = 0) -> Dataset:
    """A .npz with ``x`` (n, H, W) and ``y`` (n,), optionally ``x_test`` / ``y_test``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"npz file {path} does not exist; set data.path to your .npz")
    try:
        with np.load(path, allow_pickle=False) as d:
            arrays = {k: d[k] for k in d.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable .npz ({err})") from err
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise DataError(f"{path}: missing array(s) {sorted(missing)}; the file needs 'x' and 'y'")
    if "x_test" in arrays and "y_test" in arrays:
        x_tr, y_tr, x_te, y_te = arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"]
    else:
        x_tr, x_te, y_tr, y_te = _split(arrays["x"], arrays["y"], seed=seed)
    return make_dataset(name="npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


def _read_pngs(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    images, labels = [], []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "test"):
        for file in sorted(class_dir.glob("*.png")):
            try:
                img = np.asarray(Image.open(file).convert("L"))
            except (UnidentifiedImageError, OSError) as err:
                raise DataError(f"{file}: not a readable PNG ({err})") from err
            if images and img.shape != images[0].shape:
                raise DataError(
                    f"{file}: image is {img.shape[1]}x{img.shape[0]}, the others are "
                    f"{images[0].shape[1]}x{images[0].shape[0]}; resize all images to one size"
                )
            images.append(img)
            labels.append(class_dir.name)
    return images, labels


def load_png_folder(path: str | Path, *, seed: int = 0) -> Dataset:
    """One sub-folder of grayscale PNGs per class (optional ``test/`` with the same layout).

    Sub-folder names that are all integers are used as labels; otherwise names
    are mapped to 0..K-1 in sorted order and kept as ``class_names``.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"PNG folder {folder} does not exist; set data.path to it")
    images, names = _read_pngs(folder)
    if not images:
        raise DataError(f"{folder}: no PNG files found in class sub-folders")
    uniq = sorted(set(names))
    numeric = all(n.isdigit() for n in uniq)
    to_label = {n: int(n) if numeric else i for i, n in enumerate(uniq)}
    x, y = np.stack(images), np.array([to_label[n] for n in names], dtype=np.int64)
    class_names = () if numeric else tuple(uniq)
    if (folder / "test").is_dir():
        t_images, t_names = _read_pngs(folder / "test")
        unknown = sorted(set(t_names) - set(to_label))
        if unknown:
            raise DataError(f"{folder / 'test'}: classes {unknown} have no train folder")
        x_te, y_te = np.stack(t_images), np.array([to_label[n] for n in t_names], dtype=np.int64)
        x_tr, y_tr = x, y
    else:
        x_tr, x_te, y_tr, y_te = _split(x, y, seed=seed)
    return make_dataset(name="png-folder", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                        class_names=class_names)


def load_digits(*, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), values 0..16 scaled to 0..255."""
    d = _sk_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    x_tr, x_te, y_tr, y_te = _split(x, d.target, seed=seed)
    return make_dataset(name="digits", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


def _restrict(ds: Dataset, config: DataConfig, *, seed: int) -> Dataset:
    classes = ds.classes
    if config.classes:
        unknown = sorted(set(config.classes) - set(ds.classes))
        if unknown:
            raise DataError(f"data.classes {unknown} not in {ds.name}; available: {list(ds.classes)}")
        classes = tuple(sorted(set(config.classes)))
    keep_tr = np.isin(ds.y_train, classes)
    if config.max_train_per_class > 0:
        rng = np.random.default_rng(seed)
        keep_tr = np.zeros(len(ds.y_train), dtype=bool)
        for c in classes:
            idx = np.flatnonzero(ds.y_train == c)
            keep_tr[np.sort(rng.permutation(idx)[: config.max_train_per_class])] = True
    keep_te = np.isin(ds.y_test, classes)
    names = tuple(n for c, n in zip(ds.classes, ds.class_names) if c in classes)
    return Dataset(name=ds.name, x_train=ds.x_train[keep_tr], y_train=ds.y_train[keep_tr],
                   x_test=ds.x_test[keep_te], y_test=ds.y_test[keep_te], classes=classes,
                   class_names=names)


def load_dataset(config: DataConfig, *, seed: int = 0) -> Dataset:
    """Load ``config.name``, then keep ``config.classes`` and cap rows per class."""
    if config.name == "mnist":
        ds = load_mnist(data_dir=config.data_dir or None)
    elif config.name == "fashion-mnist":
        ds = load_idx_folder(config.path or None)
    elif config.name == "digits":
        ds = load_digits(seed=seed)
    elif config.name in ("npz", "png-folder"):
        if not config.path:
            raise DataError(f"data.name={config.name!r} needs data.path (the file or folder)")
        loader = load_npz if config.name == "npz" else load_png_folder
        ds = loader(config.path, seed=seed)
    else:
        raise DataError(f"data.name={config.name!r} is not known; choose one of {', '.join(NAMES)}")
    return _restrict(ds, config, seed=seed)
