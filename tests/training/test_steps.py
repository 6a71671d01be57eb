"""Each step changes the weights it should and no others."""

from __future__ import annotations

import pytest
import torch

from privshare.training import GANTrainer, PrivGANTrainer
from privshare.training.steps import (
    central_gradient_share,
    discriminator_step,
    privgan_generator_step,
)
from tests.training.helpers import changed, snapshot, tiny_config, tiny_rows, unchanged

CPU = torch.device("cpu")


def _all_snapshots(trainer):
    snaps = {}
    for o in trainer.owners:
        snaps[f"g{o.index}"] = (o.generator, snapshot(o.generator))
        snaps[f"d{o.index}"] = (o.discriminator, snapshot(o.discriminator))
    if hasattr(trainer, "central"):
        snaps["central"] = (trainer.central.network, snapshot(trainer.central.network))
    return snaps


@pytest.mark.parametrize("owners", [2, 3])
def test_privgan_step_updates_every_network(owners):
    fr = ",".join(["0.2"] * owners)
    t = PrivGANTrainer(
        config=tiny_config(f"data.fractions=[{fr}]"), rows=tiny_rows(owners=owners), device=CPU
    )
    snaps = _all_snapshots(t)
    losses = t.train_step()
    assert set(losses) == {f"d_{j}" for j in range(owners)} | {f"g_{j}" for j in range(owners)} | {"central"}
    assert all(torch.isfinite(v) for v in losses.values())
    for name, (module, before) in snaps.items():
        assert changed(module, before), f"{name} did not change"


@pytest.mark.parametrize("owners", [2, 3])
def test_substeps_touch_only_their_network(owners):
    fr = ",".join(["0.2"] * owners)
    t = PrivGANTrainer(
        config=tiny_config(f"data.fractions=[{fr}]"), rows=tiny_rows(owners=owners), device=CPU
    )
    owner, rows = t.owners[1], t.rows[1]
    snaps = _all_snapshots(t)
    fake, _ = discriminator_step(owner, rows, batch=8, smoothing=0.95)
    for name, (module, before) in snaps.items():
        assert (changed if name == "d1" else unchanged)(module, before), name

    snaps = _all_snapshots(t)
    t.central.optimizer.zero_grad()
    central_gradient_share(t.central.network, fake, owner=1, owners=owners)
    t.central.optimizer.step()
    for name, (module, before) in snaps.items():
        assert (changed if name == "central" else unchanged)(module, before), name

    snaps = _all_snapshots(t)
    privgan_generator_step(owner, fake, network=t.central.network, owners=owners, privacy_weight=1.0)
    for name, (module, before) in snaps.items():
        assert (changed if name == "g1" else unchanged)(module, before), name
    # the generator step computed no gradient for the frozen discriminators
    t.central.optimizer.zero_grad(set_to_none=True)
    fake2, _ = discriminator_step(owner, rows, batch=8, smoothing=0.95)
    owner.opt_d.zero_grad(set_to_none=True)
    privgan_generator_step(owner, fake2, network=t.central.network, owners=owners, privacy_weight=1.0)
    assert all(p.grad is None for p in t.central.network.parameters())
    assert all(p.grad is None for p in owner.discriminator.parameters())


def test_central_delay_freezes_the_central_discriminator():
    t = PrivGANTrainer(config=tiny_config("train.central_delay=1"), rows=tiny_rows(), device=CPU)
    before = snapshot(t.central.network)
    losses = t.train_step()
    assert "central" not in losses and unchanged(t.central.network, before)
    t.epoch = 1
    t.train_step()
    assert changed(t.central.network, before)


def test_gan_step_updates_only_its_owner():
    rows = tiny_rows()
    t = GANTrainer(config=tiny_config(), rows=rows[0], owner=0, device=CPU)
    snaps = _all_snapshots(t)
    t.train_step()
    for name, (module, before) in snaps.items():
        assert changed(module, before), name


def test_subset_smaller_than_batch_still_trains():
    cfg = tiny_config("train.batch_size=256")
    rows = tiny_rows(sizes=(3, 4))
    t = PrivGANTrainer(config=cfg, rows=rows, device=CPU)
    assert t.steps_per_epoch() == 1
    before = snapshot(t.owners[0].generator)
    t.train_step()
    assert changed(t.owners[0].generator, before)


def test_each_owner_weighs_d_central_by_its_own_lambda():
    # one step of owners weighing D_central by 2 and 0 gives G_0 the weights of a run where
    # every owner weighs it by 2, and G_1 those of a run where every owner weighs it by 0
    def trained(*overrides):
        t = PrivGANTrainer(config=tiny_config("train.precision='fp64'", *overrides),
                           rows=tiny_rows(dtype=torch.float64), device=CPU)
        t.train_step()
        return [snapshot(o.generator) for o in t.owners]

    mixed = trained("train.owner_privacy_weights=[2.0, 0.0]", "train.privacy_weight=2.0")
    two, zero = trained("train.privacy_weight=2.0"), trained("train.privacy_weight=0.0")
    assert all(torch.equal(mixed[0][k], two[0][k]) for k in two[0])
    assert all(torch.equal(mixed[1][k], zero[1][k]) for k in zero[1])
    assert not all(torch.equal(two[0][k], zero[0][k]) for k in two[0])  # lambda matters at all
    assert tiny_config("train.owner_privacy_weights=[2.0, 0.0]",
                       "train.privacy_weight=2.0").train.privacy_weight_of(1) == 0.0
    assert tiny_config("train.privacy_weight=3.0").train.privacy_weight_of(1) == 3.0
