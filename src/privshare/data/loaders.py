"""Dataset loaders: Fashion-MNIST (IDX), a generic .npz, a folder of PNGs per
class, scikit-learn's bundled 8x8 digits; and :func:`load_dataset`, which
dispatches on ``DataConfig.name`` and applies ``classes`` / ``max_train_per_class``."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from sklearn.datasets import load_digits as _sk_digits
from sklearn.model_selection import train_test_split

from privshare.atomic import atomic_path
from privshare.config import DataConfig
from privshare.data.dataset import DataError, Dataset, as_labels, validate_arrays
from privshare.data.idx import read_idx
from privshare.data.mnist import load_mnist

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
NAMES = ("mnist", "fashion-mnist", "digits", "npz", "png-folder")
TEST_SIZE = 1 / 6  # share split off as test data when a source has no test split
_GRAY_MODES = {"L", "1", "P", "LA", "RGB", "RGBA"}  # colour modes are accepted only if gray


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: missing {stem}[.gz]; an IDX folder needs train-images-idx3-ubyte, "
                    "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte")


def load_idx_folder(path: str | Path | None = None, *, name: str = "fashion-mnist") -> Dataset:
    """MNIST-format IDX files (optionally gzipped) in one folder; default Fashion-MNIST.

    Parameters
    ----------
    path : str or Path, optional
        Folder with ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``;
        default ``/usr/share/datasets/fashion-mnist`` (Debian dataset-fashion-mnist).
    name : str
        ``Dataset.name`` of the result.
    """
    folder = Path(path) if path else FASHION_DIR
    if not folder.is_dir():
        hint = ("install it with `apt-get install dataset-fashion-mnist`, or set data.path to a "
                "folder holding the IDX files" if not path
                else "set data.path to the folder holding the IDX files")
        raise DataError(f"IDX folder {folder} does not exist; {hint}")
    parts = {
        key: read_idx(_find(folder, f"{prefix}-{kind}-idx{ndim}-ubyte"), ndim=ndim)
        for key, prefix, kind, ndim in [
            ("x_train", "train", "images", 3), ("y_train", "train", "labels", 1),
            ("x_test", "t10k", "images", 3), ("y_test", "t10k", "labels", 1),
        ]
    }
    return validate_arrays(name=name, **parts)


def split_test(x: np.ndarray, y: np.ndarray, *, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded stratified split: returns ``x_train, x_test, y_train, y_test`` (1/6 test)."""
    y = as_labels(y, what="labels", n=len(x))
    try:
        return tuple(train_test_split(x, y, test_size=TEST_SIZE, random_state=seed % 2**32,
                                      stratify=y))
    except ValueError as err:
        counts = dict(zip(*(a.tolist() for a in np.unique(y, return_counts=True))))
        raise DataError(f"cannot split off a stratified test set ({err}); rows per class: "
                        f"{counts}; give every class at least 2 rows or supply x_test/y_test"
                        ) from err


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a .npz file; an empty, truncated, damaged or non-.npz file raises
    :class:`DataError` naming the file."""
    path = Path(path)
    fix = "write it again with numpy.savez(path, x=..., y=...)"
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes), not an .npz; {fix}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as d:
                return {k: d[k] for k in d.files}
    except (EOFError, zipfile.BadZipFile, zlib.error, KeyError, ValueError) as err:
        raise DataError(f"{path}: not a readable .npz (truncated, damaged or holding pickled "
                        f"objects: {type(err).__name__}: {err}); {fix}") from err
    raise DataError(f"{path}: holds one bare array (a .npy file), not an .npz of named arrays "
                    f"x and y; {fix}")


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """``arrays`` as a compressed .npz at ``path``, whole or not at all: a temporary file
    beside it, renamed over it on success and removed whatever fails."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_npz(path: str | Path, *, seed: int = 0) -> Dataset:
    """A .npz with ``x`` (n, H, W) and ``y`` (n,), optionally ``x_test`` / ``y_test``.

    Without a test split, a seeded stratified 1/6 of the rows becomes the test set.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"npz file {path} does not exist; set data.path to your .npz file")
    arrays = read_npz(path)
    missing = {"x", "y"} - set(arrays)
    if missing:
        raise DataError(f"{path}: missing array(s) {sorted(missing)} (found {sorted(arrays)}); "
                        "the file needs 'x' (images) and 'y' (labels)")
    has_test = {"x_test", "y_test"} & set(arrays)
    if len(has_test) == 1:
        raise DataError(f"{path}: has {has_test.pop()} but not its partner; store both x_test "
                        "and y_test, or neither (a test split is then drawn)")
    if has_test:
        x_tr, y_tr, x_te, y_te = arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"]
    else:
        x_tr, x_te, y_tr, y_te = split_test(arrays["x"], arrays["y"], seed=seed)
    return validate_arrays(name="npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


def _read_png(file: Path) -> np.ndarray:
    try:
        with Image.open(file) as img:
            mode = img.mode
            arr = np.asarray(img.convert("RGB" if mode in ("RGB", "RGBA", "P") else "L"))
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{file}: not a readable PNG ({err})") from err
    if mode not in _GRAY_MODES:
        raise DataError(f"{file}: image mode {mode} is not supported; save 8-bit grayscale PNGs")
    if arr.ndim == 3:
        if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])):
            raise DataError(f"{file}: a colour image (mode {mode}); save grayscale PNGs")
        arr = arr[..., 0]
    return arr


def _read_pngs(folder: Path) -> tuple[list[np.ndarray], list[str]]:
    images, labels = [], []
    for class_dir in sorted(p for p in folder.iterdir()  # hidden folders (.git, .ipynb_checkpoints) are not classes
                            if p.is_dir() and p.name != "test" and not p.name.startswith(".")):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise DataError(f"{class_dir}: class folder holds no .png files; add images or remove it")
        for file in files:
            img = _read_png(file)
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
    are mapped to 0..K-1 in sorted order and kept as ``Dataset.class_names``.
    Without ``test/``, a seeded stratified 1/6 of the rows becomes the test set.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"PNG folder {folder} does not exist; set data.path to it")
    images, names = _read_pngs(folder)
    if not images:
        raise DataError(f"{folder}: no class sub-folders with PNG files; "
                        "expected <folder>/<class>/<image>.png")
    uniq = sorted(set(names))
    numeric = all(n.isdigit() for n in uniq)
    to_label = {n: int(n) if numeric else i for i, n in enumerate(uniq)}
    x, y = np.stack(images), np.array([to_label[n] for n in names], dtype=np.int64)
    if (folder / "test").is_dir():
        t_images, t_names = _read_pngs(folder / "test")
        unknown = sorted(set(t_names) - set(to_label))
        if unknown:
            raise DataError(f"{folder / 'test'}: classes {unknown} have no train folder")
        if not t_images:
            raise DataError(f"{folder / 'test'}: no PNG files; fill it or remove it")
        x_te, y_te = np.stack(t_images), np.array([to_label[n] for n in t_names], dtype=np.int64)
        x_tr, y_tr = x, y
    else:
        x_tr, x_te, y_tr, y_te = split_test(x, y, seed=seed)
    if x_te.shape[1:] != x_tr.shape[1:]:
        raise DataError(f"{folder / 'test'}: images are {x_te.shape[2]}x{x_te.shape[1]}, train "
                        f"images {x_tr.shape[2]}x{x_tr.shape[1]}; resize all images to one size")
    return validate_arrays(name="png-folder", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                           class_names=() if numeric else tuple(uniq))


def load_digits(*, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), values 0..16 scaled to 0..255."""
    d = _sk_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8)
    x_tr, x_te, y_tr, y_te = split_test(x, d.target, seed=seed)
    return validate_arrays(name="digits", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


def restrict(ds: Dataset, *, classes: tuple[int, ...] = (), max_train_per_class: int = 0,
             seed: int = 0) -> Dataset:
    """Keep ``classes`` (``()`` = all) and at most ``max_train_per_class`` train rows each.

    The capped rows are drawn per class from ``SeedSequence(seed)`` children
    indexed by the class's position in ``ds.classes``, so a class's rows do not
    depend on which other classes are kept.
    """
    if max_train_per_class < 0:
        raise DataError(f"data.max_train_per_class={max_train_per_class} is negative; "
                        "use 0 (no cap) or a positive row count")
    keep = ds.classes
    if classes:
        unknown = sorted(set(classes) - set(ds.classes))
        if unknown:
            raise DataError(f"data.classes {unknown} not in {ds.name}; "
                            f"available labels: {list(ds.classes)}")
        keep = tuple(sorted(set(classes)))
    keep_tr = np.isin(ds.y_train, keep)
    if max_train_per_class > 0:
        streams = np.random.SeedSequence(seed).spawn(len(ds.classes))
        keep_tr = np.zeros(len(ds.y_train), dtype=bool)
        for c in keep:
            rng = np.random.default_rng(streams[ds.classes.index(c)])
            idx = np.flatnonzero(ds.y_train == c)
            keep_tr[rng.permutation(idx)[:max_train_per_class]] = True
    keep_te = np.isin(ds.y_test, keep)
    names = tuple(n for c, n in zip(ds.classes, ds.class_names) if c in keep)
    return Dataset(name=ds.name, x_train=ds.x_train[keep_tr], y_train=ds.y_train[keep_tr],
                   x_test=ds.x_test[keep_te], y_test=ds.y_test[keep_te], classes=keep,
                   class_names=names)


def load_dataset(config: DataConfig, *, seed: int = 0) -> Dataset:
    """Load ``config.name``, then keep ``config.classes`` and cap train rows per class.

    ``seed`` drives the test split of sources without one and the per-class cap.
    """
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
    return restrict(ds, classes=tuple(config.classes),
                    max_train_per_class=config.max_train_per_class, seed=seed)
