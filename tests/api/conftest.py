"""Tiny fixtures for the Python API: the 8x8 digits 0-2 split between two owners."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

import privshare
from privshare.cli import app

runner = CliRunner()


@pytest.fixture(scope="session")
def digits():
    """uint8 images (n, 8, 8) of digits 0-2 and their labels."""
    d = load_digits()
    keep = d.target < 3
    x = np.round(d.images[keep] * (255.0 / 16.0)).astype(np.uint8)
    return x, d.target[keep].astype(np.int64)


@pytest.fixture(scope="session")
def owners(digits):
    x, y = digits
    return [(x[:90], y[:90]), (x[90:300], y[90:300])]


@pytest.fixture(scope="session")
def test_rows(digits):
    x, y = digits
    return x[300:], y[300:]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, owners, test_rows):
    """A PrivGAN fitted on the tiny preset into a known folder (also trains the local GANs)."""
    folder = tmp_path_factory.mktemp("api") / "run"
    model = privshare.PrivGAN(preset="tiny", random_state=3, folder=folder, progress=False,
                              train__methods=["privgan", "gan"])
    return model.fit(owners=owners, test=test_rows)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    res = runner.invoke(app, ["train", "--preset", "tiny", "--out-dir", str(out), "--name", "t"])
    assert res.exit_code == 0, res.output
    return out / "t"
