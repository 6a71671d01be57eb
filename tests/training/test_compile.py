"""``train.compile``: compiled networks train like eager ones; a compiler failure falls back."""

from __future__ import annotations

import logging

import torch

from privshare.training import GANTrainer, PrivGANTrainer
from tests.training.helpers import tiny_config, tiny_rows
from tests.training.test_checkpoint import _weights

CPU = torch.device("cpu")


def _trained(*overrides: str, steps: int = 3) -> PrivGANTrainer:
    t = PrivGANTrainer(config=tiny_config(*overrides), rows=tiny_rows(), device=CPU)
    for _ in range(steps):
        t.train_step()
    return t


def _compiled(module) -> bool:
    return "forward" in vars(module)  # the compiled forward sits on the instance


def test_compiled_training_matches_eager():
    eager, compiled = _trained(), _trained("train.compile=true")
    nets = [compiled.central.network] + [
        m for o in compiled.owners for m in (o.generator, o.discriminator)
    ]
    assert all(_compiled(n) for n in nets)
    for a, b in zip(_weights(eager), _weights(compiled)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # state_dict keys are those of the eager networks, so checkpoints do not change
    assert set(compiled.owners[0].generator.state_dict()) == set(
        eager.owners[0].generator.state_dict()
    )


def test_compiler_failure_falls_back_to_eager(monkeypatch, caplog):
    def broken(fn, *args, **kwargs):
        def call(*a, **k):
            raise RuntimeError("no C++ compiler found")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    with caplog.at_level(logging.WARNING, logger="privshare.training.runtime"):
        fallback = _trained("train.compile=true")
        gan = GANTrainer(config=tiny_config("train.compile=true"), rows=tiny_rows()[0],
                         owner=0, device=CPU)
    assert "no C++ compiler found" in caplog.text and "trains eagerly" in caplog.text
    assert not any(_compiled(m) for m in (gan.owner.generator, gan.owner.discriminator))
    assert not _compiled(fallback.central.network)
    gan.train_step()
    # the probe left no trace: the same weights as a run that never tried to compile
    for a, b in zip(_weights(_trained()), _weights(fallback)):
        assert torch.equal(a, b)
