"""K = 1 federated training is the one-process privGAN step, weight for weight."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from privshare.artifacts import load_run
from privshare.experiments import run_experiment
from privshare.federated import FederatedSettings, write_owner_files
from privshare.federated.data import load_owner_rows
from privshare.experiments.run import owner_rows, prepare_data
from privshare.training import PrivGANTrainer

from tests.federated.conftest import CPU, federated, one_process, tiny


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], what: str) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7, msg=f"{what} {k}")


@pytest.mark.parametrize(("precision", "extra"), [
    ("fp32", ()), ("bf16", ()),
    ("fp32", ("train.owner_privacy_weights=[3.0, 0.5]", "train.privacy_weight=3.0")),  # each node weighs D_central its own way
    ("fp32", ("train.owner_d_every=[3, 1]",)),  # owner 0's D_0 rests two steps in three
])
def test_k1_equals_one_process_after_several_rounds(tmp_path, precision, extra):
    # bf16 too: both paths must open autocast per forward phase, or their weights part
    config = tiny(tmp_path, "train.epochs_privgan=2", f'train.precision="{precision}"',
                  *extra)  # 8 rounds
    reference = one_process(config)
    result = federated(config, tmp_path / "fed")
    assert (result.rounds, result.steps, result.local_steps) == (reference.steps, reference.steps, 1)
    run = load_run(tmp_path / "fed")
    for j, owner in enumerate(reference.trainer.owners):
        _assert_same(run.generator("privgan", j).state_dict(), owner.generator.state_dict(), f"G_{j}")
        _assert_same(run.discriminator("privgan", j).state_dict(),
                     owner.discriminator.state_dict(), f"D_{j}")
    _assert_same(run.central_discriminator().state_dict(),
                 reference.trainer.central.network.state_dict(), "D_central")
    # the networks moved: the comparison is not between two untouched initialisations
    untrained = PrivGANTrainer(config=config, rows=reference.trainer.rows, device=CPU)
    for name, w in untrained.central.network.state_dict().items():
        assert not torch.equal(w, reference.trainer.central.network.state_dict()[name]), name


def test_run_folder_matches_a_one_process_run(tmp_path):
    """Same layout and same synthetic rows as `privshare train` with only privGAN."""
    config = tiny(tmp_path, "train.epochs_privgan=1", 'train.methods=["privgan"]')
    single = run_experiment(config)
    federated(config, tmp_path / "fed")
    fed = load_run(tmp_path / "fed")
    assert fed.methods == single.methods == ("privgan",)
    assert (fed.classes, fed.image_shape, fed.owners) == (single.classes, single.image_shape, 2)
    for j in range(2):
        a = np.load(fed.layout.synthetic("privgan", j))
        b = np.load(single.layout.synthetic("privgan", j))
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])
        assert fed.layout.grid("privgan", j).is_file()
    assert fed.manifest["federated"]["rounds"] == single.manifest["steps_per_epoch"]["privgan"]
    assert fed.partition().owners == 2
    history = json.loads(fed.layout.history.read_text())["privgan"]
    reference = json.loads(single.layout.history.read_text())["privgan"]
    assert [set(e) for e in history] == [set(e) for e in reference]  # d_j, g_j, central, epoch
    for got, want in zip(history, reference):
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5), key


def test_owner_files_hold_exactly_the_one_process_rows(tmp_path):
    config = tiny(tmp_path)
    files = write_owner_files(config, folder=tmp_path)
    dataset, partition = prepare_data(config)
    for j, path in enumerate(files):
        expected = owner_rows(dataset, partition, owner=j, device=CPU, dtype=torch.float32)
        got = load_owner_rows(path, classes=config.data.classes, device=CPU, dtype=torch.float32)
        torch.testing.assert_close(got.rows.x, expected.x, rtol=0, atol=0)
        assert got.rows.counts.tolist() == expected.counts.tolist()
        assert got.classes == tuple(partition.classes)


def test_k2_halves_the_rounds_and_still_trains(tmp_path, short_config):
    k1 = one_process(short_config)
    result = federated(short_config, tmp_path / "fed", settings=FederatedSettings(local_steps=2))
    assert (result.rounds, result.steps, result.local_steps) == (k1.steps // 2, k1.steps, 2)
    central = load_run(tmp_path / "fed").central_discriminator().state_dict()
    assert all(torch.isfinite(v).all() for v in central.values())
    ref = k1.trainer.central.network.state_dict()
    assert not all(torch.allclose(central[k], ref[k]) for k in central)  # K > 1 is a different algorithm


@pytest.mark.parametrize("override,word", [('train.noise="shared"', "per_owner"),
                                           ("train.central_pretrain_epochs=1", "real rows")])
def test_settings_that_would_leak_are_refused(tmp_path, override, word):
    from privshare.config import ConfigError
    from privshare.federated import run_config

    with pytest.raises(ConfigError, match=word):
        run_config(tiny(tmp_path, override), FederatedSettings())
