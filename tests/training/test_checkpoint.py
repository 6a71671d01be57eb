"""Checkpoint round trip, resume after a kill, determinism."""

from __future__ import annotations

import pytest
import torch

from privshare.training import CheckpointError, GANTrainer, PrivGANTrainer, fit
from privshare.training.checkpoint import load_checkpoint
from tests.training.helpers import tiny_config, tiny_rows

CPU = torch.device("cpu")


def _weights(t) -> list[torch.Tensor]:
    out = []
    for o in t.owners:
        out += list(o.generator.state_dict().values()) + list(o.discriminator.state_dict().values())
    if hasattr(t, "central"):
        out += list(t.central.network.state_dict().values())
    return out


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))


@pytest.mark.parametrize("kind", ["privgan", "gan"])
def test_resume_after_interruption_matches_uninterrupted(tmp_path, kind):
    cfg = tiny_config()

    def make():
        if kind == "privgan":
            return PrivGANTrainer(config=cfg, rows=tiny_rows(), device=CPU)
        return GANTrainer(config=cfg, rows=tiny_rows()[0], owner=0, device=CPU)

    straight = make()
    fit(straight, epochs=4)

    ck = tmp_path / "ck.pt"
    first = make()
    fit(first, epochs=2, checkpoint_path=ck, checkpoint_every=1)  # "killed" after epoch 2
    resumed = make()  # a fresh process: new trainer, same config
    history = fit(resumed, epochs=4, checkpoint_path=ck, checkpoint_every=1)
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    assert _same(straight, resumed)
    assert load_checkpoint(ck, kind=kind)["epoch"] == 4


def test_identical_seeds_identical_results_and_other_seeds_differ():
    a = PrivGANTrainer(config=tiny_config(), rows=tiny_rows(), device=CPU)
    b = PrivGANTrainer(config=tiny_config(), rows=tiny_rows(), device=CPU)
    c = PrivGANTrainer(config=tiny_config("seed=1"), rows=tiny_rows(), device=CPU)
    for t in (a, b, c):
        fit(t, epochs=2)
    assert _same(a, b)
    assert not _same(a, c)


def test_checkpoint_of_another_kind_or_damaged_is_refused(tmp_path):
    ck = tmp_path / "ck.pt"
    fit(GANTrainer(config=tiny_config(), rows=tiny_rows()[0], owner=0, device=CPU),
        epochs=1, checkpoint_path=ck)
    with pytest.raises(CheckpointError, match="not 'privgan'"):
        fit(PrivGANTrainer(config=tiny_config(), rows=tiny_rows(), device=CPU),
            epochs=1, checkpoint_path=ck)
    ck.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(ck, kind="gan")


def test_shared_noise_gives_all_generators_the_same_z(monkeypatch):
    t = PrivGANTrainer(config=tiny_config("train.noise='shared'"), rows=tiny_rows(), device=CPU)
    seen = []
    for o in t.owners:
        o.generator.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    t.train_step()
    assert len(seen) == 2 and torch.equal(seen[0], seen[1])
    t2 = PrivGANTrainer(config=tiny_config(), rows=tiny_rows(), device=CPU)
    seen.clear()
    for o in t2.owners:
        o.generator.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    t2.train_step()
    assert not torch.equal(seen[0], seen[1])
