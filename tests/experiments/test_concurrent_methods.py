"""train.concurrent_methods: privGAN beside the local GANs, one thread each, same models as in turn."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from privshare.config import load_config
from privshare.experiments import run_experiment
from privshare.experiments.run import _lanes
from privshare.training import TrainingDiverged


def _config(tmp_path, name, *extra):
    return load_config(preset="tiny", overrides=[
        f'out_dir="{tmp_path}"', f'name="{name}"', "train.epochs_privgan=2", "train.epochs_gan=2",
        'train.methods=["privgan", "gan", "dpgan"]', "dpsgd.noise_multiplier=1.0", *extra])


def test_lanes_put_privgan_beside_the_other_methods():
    assert _lanes(["privgan", "gan", "dpgan"], concurrent=True) == [["privgan"], ["gan", "dpgan"]]
    assert _lanes(["privgan", "gan"], concurrent=False) == [["privgan", "gan"]]
    assert _lanes(["gan", "dpgan"], concurrent=True) == [["gan", "dpgan"]]  # nothing to pair
    assert _lanes(["privgan"], concurrent=True) == [["privgan"]]


def test_concurrent_methods_train_the_models_of_the_sequential_run(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the lanes' thread count, so both runs sum in the same order
    try:
        one = run_experiment(_config(tmp_path, "turn"))
        two = run_experiment(_config(tmp_path, "lanes", "train.concurrent_methods=true"))
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    for method in ("privgan", "gan", "dpgan"):
        for j in range(2):
            a = np.load(one.layout.synthetic(method, j))
            b = np.load(two.layout.synthetic(method, j))
            np.testing.assert_array_equal(a["x"], b["x"])
    first, second = (json.loads(r.layout.manifest.read_text()) for r in (one, two))
    assert sorted(second["methods_done"]) == ["dpgan", "gan", "privgan"]
    assert second["steps_per_epoch"] == first["steps_per_epoch"]
    assert second["dpsgd"] == first["dpsgd"]
    assert json.loads(two.layout.history.read_text()) == json.loads(one.layout.history.read_text())


def test_a_diverged_lane_stops_the_other_and_records_the_divergence(tmp_path, monkeypatch):
    from privshare.training import gan

    def diverge(self):
        return {"d": torch.tensor(float("nan"))}

    monkeypatch.setattr(gan.GANTrainer, "train_step", diverge)
    config = _config(tmp_path, "bad", "train.concurrent_methods=true", "train.epochs_privgan=50")
    threads = torch.get_num_threads()
    with pytest.raises(TrainingDiverged, match="GAN owner 0"):
        run_experiment(config)
    manifest = json.loads((tmp_path / "bad" / "run.json").read_text())
    assert manifest["status"] == "diverged" and "privgan" not in manifest["methods_done"]
    assert torch.get_num_threads() == threads  # the lanes' single thread is undone
