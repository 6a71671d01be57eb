"""PrivGAN / LocalGAN on arrays: fit, attributes, generate, determinism, save and load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import privshare
from privshare.artifacts import ArtifactError, load_run
from privshare.config import ConfigError


def test_constructor_only_stores_settings(tmp_path):
    model = privshare.PrivGAN(preset="tiny", random_state=1, folder=tmp_path / "r",
                              train__epochs_privgan=1)
    assert model.get_params() == {"preset": "tiny", "random_state": 1, "folder": tmp_path / "r",
                                  "progress": True, "train__epochs_privgan": 1}
    assert not hasattr(model, "run_") and not (tmp_path / "r").exists()
    assert "train__epochs_privgan=1" in repr(model)


def test_fit_returns_self_with_learned_attributes(fitted, owners):
    assert isinstance(fitted, privshare.PrivGAN)
    assert fitted.n_owners_ == 2 and fitted.image_shape_ == (8, 8) and fitted.seed_ == 3
    assert fitted.classes_.tolist() == [0, 1, 2]
    assert fitted.config_.train.epochs_privgan == 2  # the tiny preset
    manifest = json.loads((fitted.folder_ / "run.json").read_text())
    assert manifest["status"] == "done"
    assert manifest["rows_per_class"]["owner_0"] == np.bincount(owners[0][1]).tolist()
    assert manifest["rows_per_class"]["owner_1"] == np.bincount(owners[1][1]).tolist()
    part = load_run(fitted.folder_).partition()  # owner j holds exactly its own rows
    assert part.owner_indices[0].tolist() == list(range(90))
    assert part.owner_indices[1].tolist() == list(range(90, 300))
    assert len(part.nonmember_indices) == 0


def test_generate_shapes_labels_and_seed(fitted):
    x, y = fitted.generate(owner=1, n=7)
    assert x.dtype == np.uint8 and x.shape == (21, 8, 8)
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [7, 7, 7]
    again, _ = fitted.generate(owner=1, n=7)
    other, _ = fitted.generate(owner=1, n=7, random_state=1)
    assert np.array_equal(x, again) and not np.array_equal(x, other)
    with pytest.raises(ValueError, match=r"owner=2: this model has owners 0\.\.1"):
        fitted.generate(owner=2, n=1)
    with pytest.raises(ValueError, match="n=0: ask for at least one row"):
        fitted.generate(owner=0, n=0)


def test_same_random_state_same_model(fitted, owners, test_rows):
    twin = privshare.PrivGAN(preset="tiny", random_state=3, progress=False,
                             train__methods=["privgan", "gan"]).fit(owners=owners, test=test_rows)
    assert np.array_equal(twin.generate(owner=0, n=5)[0], fitted.generate(owner=0, n=5)[0])
    assert twin.folder_ != fitted.folder_


def test_float_images_and_local_gan(owners):
    floats = [(x / 255.0, y) for x, y in owners]  # floats in [0, 1]
    model = privshare.LocalGAN(preset="tiny", progress=False).fit(owners=floats)
    assert load_run(model.folder_).methods == ("gan",)
    x, y = model.generate(owner=0, n=4)
    assert x.shape == (12, 8, 8) and np.bincount(y).tolist() == [4, 4, 4]
    with pytest.raises(ArtifactError, match="holds no privgan models"):
        privshare.PrivGAN.load(model.folder_)


def test_save_and_load_round_trip(fitted, tmp_path):
    target = fitted.save(tmp_path / "copy")
    loaded = privshare.PrivGAN.load(target)
    assert loaded.classes_.tolist() == [0, 1, 2] and loaded.seed_ == 3
    assert np.array_equal(loaded.generate(owner=1, n=6)[0], fitted.generate(owner=1, n=6)[0])
    assert load_run(target).config.data.path == str((target / "data.npz").resolve())
    local = privshare.LocalGAN.load(target)
    assert np.array_equal(local.generate(owner=0, n=3)[0],
                          load_run(fitted.folder_).generate("gan", 0, n_per_class=3, seed=0)[0])
    with pytest.raises(ValueError, match="exists"):
        fitted.save(target)


def test_export_writes_the_cli_npz(fitted, tmp_path):
    path = fitted.export(tmp_path / "rows.npz", owner=0, n=2, random_state=5)
    data = np.load(path)
    assert np.array_equal(data["x"], fitted.generate(owner=0, n=2, random_state=5)[0])


def test_unknown_or_owned_settings_are_refused(owners, tmp_path):
    cases = [({"train__bogus": 1}, "bogus"), ({"data__classes": [0, 1]}, "data__classes"),
             ({"seed": 2}, "random_state"), ({"epochs": 2}, "section__key"),
             ({"train__methods": ["gan"]}, "leaves out 'privgan'")]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match=message):
            privshare.PrivGAN(preset="tiny", folder=tmp_path / "r", **overrides).fit(owners=owners)
    with pytest.raises(ConfigError, match="random_state"):
        privshare.PrivGAN(preset="tiny", random_state=-1, folder=tmp_path / "r").fit(owners=owners)
    with pytest.raises(ConfigError, match="unknown preset"):
        privshare.PrivGAN(preset="huge", folder=tmp_path / "r").fit(owners=owners)
    assert not (tmp_path / "r").exists()


def test_fit_refuses_a_folder_that_holds_files(owners, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        privshare.PrivGAN(preset="tiny", folder=tmp_path / "r").fit(owners=owners)
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["notes.txt"]


def test_progress_bar_draws_and_silence_is_silent(owners, capsys):
    from privshare.api.progress import progress_bar

    with progress_bar(False) as bar:
        assert bar is None
    with progress_bar(True) as bar:
        bar("privGAN", 1, 2, None)
        bar("privGAN", 2, 2, {"epoch": 0.0, "d": 0.5})
    err = capsys.readouterr().err
    assert "privGAN" in err and "2/2 steps" in err and "d=0.500" in err
    privshare.LocalGAN(preset="tiny", progress=False, train__epochs_gan=1).fit(owners=owners)
    assert capsys.readouterr() == ("", "")  # library code prints nothing
