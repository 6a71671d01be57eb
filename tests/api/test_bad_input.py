"""Each bad input is refused with the argument's name, before anything is trained or written."""

from __future__ import annotations

import numpy as np
import pytest

import privshare
from privshare.data import DataError


def _cases(owners, test_rows):
    (x0, y0), (x1, y1) = owners
    nan = x0.astype(np.float32) / 255.0
    nan[3, 2, 2] = np.nan
    no_two = y1 != 2
    return {
        "x/y lengths": ([(x0, y0[:-1]), (x1, y1)], None, r"owners\[0\] y: 89 labels for 90 images"),
        "owner lacks a class": ([(x0, y0), (x1[no_two], y1[no_two])], None,
                                r"owners\[1\] y: no rows of class\(es\) \[2\]"),
        "label sets differ": ([(x0, y0), (x1, np.where(y1 == 2, 7, y1))], None,
                              r"owners\[0\] y: no rows of class\(es\) \[7\]"),
        "NaN pixels": ([(nan, y0), (x1, y1)], None, r"owners\[0\] x: 1 NaN/Inf pixel values"),
        "sizes differ": ([(x0, y0), (np.zeros((len(y1), 16, 16), np.uint8), y1)], None,
                         r"owners\[1\] x: images are 16x16, owners\[0\]'s are 8x8"),
        "not square": ([(x0[:, :, :6], y0), (x1, y1)], None, r"owners\[0\] x: images are 8x6"),
        "one owner": ([(x0, y0)], None, "at least 2"),
        "not a pair": ([(x0, y0), x1], None, r"owners\[1\]: expected a pair"),
        "flat rows": ([(x0.reshape(90, 64), y0), (x1, y1)], None, r"owners\[0\] x: expected images"),
        "float labels": ([(x0, y0 + 0.5), (x1, y1)], None, r"owners\[0\] y: labels must be whole"),
        "test size": (owners, (np.zeros((4, 16, 16), np.uint8), np.zeros(4, np.int64)),
                      "test x: images are 16x16"),
        "test labels": (owners, (test_rows[0], test_rows[1] + 5), r"test y: labels \[5, 6, 7\]"),
    }


CASES = ["x/y lengths", "owner lacks a class", "label sets differ", "NaN pixels", "sizes differ",
         "not square", "one owner", "not a pair", "flat rows", "float labels", "test size",
         "test labels"]


@pytest.mark.parametrize("case", CASES)
def test_bad_arrays_raise_before_anything_is_written(case, owners, test_rows, tmp_path):
    bad_owners, test, message = _cases(owners, test_rows)[case]
    folder = tmp_path / "run"
    model = privshare.PrivGAN(preset="tiny", folder=folder, progress=False)
    with pytest.raises(DataError, match=message):
        model.fit(owners=bad_owners, test=test)
    assert not folder.exists()
    assert not hasattr(model, "run_")


def test_conv_networks_need_a_fitting_side(owners, tmp_path):
    folder = tmp_path / "run"
    model = privshare.PrivGAN(preset="tiny", folder=folder, model__kind="conv",
                              model__conv_channels=[8, 16, 32])
    with pytest.raises(ValueError, match="multiple of 8 and at least 16"):
        model.fit(owners=owners)
    assert not folder.exists()


def test_generate_save_and_evaluate_before_fit(tmp_path):
    model = privshare.PrivGAN(preset="tiny")
    with pytest.raises(privshare.NotFittedError, match=r"PrivGAN.generate: .* not fitted"):
        model.generate(owner=0, n=1)
    with pytest.raises(privshare.NotFittedError, match="save"):
        model.save(tmp_path / "s")
    with pytest.raises(privshare.NotFittedError, match="evaluate"):
        privshare.evaluate(model)
    assert not (tmp_path / "s").exists()
