"""bf16 autocast: each step sees the weights as updated, and Adam keeps its fused kernel."""

from __future__ import annotations

import copy

import pytest
import torch

from privshare.training import PrivGANTrainer, autocast
from privshare.training.losses import (
    generator_adversarial_loss,
    owner_cross_entropy,
    random_other_owner,
)
from privshare.training.steps import discriminator_step, privgan_generator_step
from tests.training.helpers import tiny_config, tiny_rows

CPU = torch.device("cpu")


def test_bf16_generator_step_uses_the_updated_discriminator():
    # a large learning rate so that D_i's update shows at bf16 resolution
    cfg = tiny_config('train.precision="bf16"', "optim.lr=0.05")
    t = PrivGANTrainer(config=cfg, rows=tiny_rows(), device=CPU)
    owner, central = t.owners[0], t.central.network
    d_before = copy.deepcopy(owner.discriminator)
    fake, _ = discriminator_step(owner, t.rows[0], batch=16, smoothing=0.95, precision="bf16")
    state = owner.rng.get_state()

    def loss_with(discriminator) -> float:
        owner.rng.set_state(state)  # the same y' the step will draw
        targets = random_other_owner(
            owner=0, owners=2, shape=tuple(fake.shape[:2]), rng=owner.rng, device=CPU
        )
        with torch.no_grad(), autocast(CPU, "bf16"):
            adv = generator_adversarial_loss(discriminator(fake))
            return float(adv + owner_cross_entropy(central(fake), targets))

    fresh, stale = loss_with(owner.discriminator), loss_with(d_before)
    owner.rng.set_state(state)
    loss = privgan_generator_step(
        owner, fake, network=central, owners=2, privacy_weight=1.0, precision="bf16"
    )
    assert abs(fresh - stale) > 0.01, "the test needs an update visible in bf16"
    assert float(loss) == pytest.approx(fresh, abs=1e-3)


def test_bf16_step_updates_fp32_master_weights():
    t = PrivGANTrainer(config=tiny_config('train.precision="bf16"'), rows=tiny_rows(), device=CPU)
    t.train_step()
    nets = [t.central.network] + [m for o in t.owners for m in (o.generator, o.discriminator)]
    assert all(p.dtype == torch.float32 for n in nets for p in n.parameters())


def test_adam_is_fused_on_cpu_and_stays_fused_after_loading_an_unfused_state():
    t = PrivGANTrainer(config=tiny_config(), rows=tiny_rows(), device=CPU)
    t.train_step()
    opt = t.owners[0].opt_g
    assert all(g["fused"] for g in opt.param_groups)
    saved = copy.deepcopy(opt.state_dict())
    for group in saved["param_groups"]:
        group["fused"] = None  # as written before the fused kernel was used
    opt.load_state_dict(saved)  # torch alone would take the saved flag
    assert not opt.param_groups[0]["fused"]
    t2 = PrivGANTrainer(config=tiny_config(), rows=tiny_rows(), device=CPU)
    t2.owners[0].load_state_dict({**t.owners[0].state_dict(), "opt_g": saved})
    assert all(g["fused"] for g in t2.owners[0].opt_g.param_groups)
    t2.train_step()  # and the fused kernel accepts the loaded state


def test_auto_precision_is_bf16_only_where_the_cpu_has_it_in_hardware(monkeypatch):
    from privshare import hardware
    from privshare.training import runtime

    cpu = torch.device("cpu")
    monkeypatch.setattr(hardware, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert runtime.resolve_precision(cpu, "auto") == "fp32"
    assert not isinstance(runtime.autocast(cpu, "auto"), torch.autocast)
    monkeypatch.setattr(hardware, "_cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert runtime.resolve_precision(cpu, "auto") == "bf16"
    assert isinstance(runtime.autocast(cpu, "auto"), torch.autocast)
    assert runtime.resolve_precision(cpu, "fp32") == "fp32"  # explicit choices are kept
    assert runtime.master_dtype("auto") == torch.float32
