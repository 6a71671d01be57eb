"""Small-data levers: D_i's augmentation, dropout and R1 penalty, G_i's moving average, and the
divergence guard."""

from __future__ import annotations

import math
import re

import pytest
import torch

from privshare.config import ConfigError
from privshare.training import GANTrainer, PrivGANTrainer, TrainingDiverged, fit
from privshare.training.augment import BACKGROUND, augment
from privshare.training.checkpoint import load_checkpoint
from tests.training.helpers import tiny_config, tiny_rows

CPU = torch.device("cpu")
ALL = ("translation", "cutout", "color")


def _rng(seed=0):
    return torch.Generator().manual_seed(seed)


def test_no_augmentation_is_the_input_itself_and_draws_nothing():
    x = torch.rand(2, 3, 64)
    rng = _rng()
    state = rng.get_state()
    assert augment(x, (), rng=rng) is x
    assert torch.equal(rng.get_state(), state)


def test_translation_moves_a_pixel_by_at_most_an_eighth_of_the_side_and_keeps_it():
    side = 16
    x = torch.full((1, 200, side * side), BACKGROUND)
    x[..., 8 * side + 8] = 1.0  # one bright pixel in the middle of every image
    out = augment(x, ("translation",), rng=_rng()).reshape(200, side, side)
    assert torch.all((out == 1.0).sum(dim=(1, 2)) == 1)  # the pixel survives, once
    where = (out == 1.0).nonzero()[:, 1:] - 8
    r = round(side / 8)
    assert where.abs().max() <= r
    assert len({tuple(w) for w in where.tolist()}) > 5  # shifts vary between rows
    assert torch.all((out == 1.0) | (out == BACKGROUND))


def test_cutout_blanks_one_square_and_leaves_the_rest():
    side = 8
    x = torch.linspace(0.1, 0.9, side * side).repeat(1, 50, 1)
    out = augment(x, ("cutout",), rng=_rng(1))
    blank = out == BACKGROUND
    assert torch.all(blank.sum(-1) >= 1)
    assert torch.equal(out[~blank], x[~blank])
    for row in blank.reshape(50, side, side):  # the blanked pixels form one rectangle
        rows, cols = row.any(1).nonzero().flatten(), row.any(0).nonzero().flatten()
        assert row[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        assert rows.max() - rows.min() < side / 2 and cols.max() - cols.min() < side / 2


def test_every_augmentation_is_differentiable_and_seeded():
    x = torch.rand(2, 4, 64, requires_grad=True)
    out = augment(x, ALL, rng=_rng(3))
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    again = augment(x.detach(), ALL, rng=_rng(3))
    assert torch.equal(out.detach(), again)
    assert not torch.equal(again, augment(x.detach(), ALL, rng=_rng(4)))


def test_central_sees_plain_fakes_and_d_sees_augmented_ones():
    """The central discriminator never sees an augmented view; D_i sees only augmented ones."""
    t = PrivGANTrainer(config=tiny_config('train.augment=["translation", "cutout"]'),
                       rows=tiny_rows(), device=CPU)
    made, seen_central, seen_d = [], [], []
    for o in t.owners:
        o.generator.register_forward_hook(lambda m, i, out: made.append(out.detach().clone()))
        o.discriminator.register_forward_pre_hook(lambda m, i: seen_d.append(i[0].detach().clone()))
    t.central.network.register_forward_pre_hook(lambda m, i: seen_central.append(i[0].detach().clone()))
    t.train_step()
    assert seen_central and all(any(torch.equal(s, f) for f in made) for s in seen_central)
    b = t.config.train.batch_size
    for s in seen_d:  # D step: [real, fake] (2B rows); G step: fake (B rows)
        fakes = s[:, b:] if s.shape[1] == 2 * b else s
        assert not any(torch.equal(fakes, f) for f in made)


def test_moving_average_follows_its_recursion_and_is_what_is_sampled():
    decay = 0.9
    t = GANTrainer(config=tiny_config(f"train.ema_decay={decay}"), rows=tiny_rows()[0], owner=0,
                   device=CPU)
    o = t.owner
    expected = None
    for _ in range(4):
        t.train_step()
        now = [p.detach().clone() for p in o.generator.parameters()]
        expected = now if expected is None else [decay * e + (1 - decay) * p
                                                 for e, p in zip(expected, now)]
    assert o.sampler is not o.generator
    for e, p in zip(expected, o.sampler.parameters()):
        torch.testing.assert_close(p, e)
    assert not all(torch.equal(a, b) for a, b in zip(o.sampler.parameters(), o.generator.parameters()))


def test_without_levers_the_sampler_is_the_generator():
    t = GANTrainer(config=tiny_config(), rows=tiny_rows()[0], owner=0, device=CPU)
    assert t.owner.sampler is t.owner.generator and t.owner.ema is None


def _straight_and_resumed(cfg, ck):
    """privGAN of ``cfg`` trained 3 epochs in one go, and 1 epoch, "killed", then resumed from
    checkpoint ``ck`` in a fresh trainer to 3 epochs."""
    def make():
        return PrivGANTrainer(config=cfg, rows=tiny_rows(), device=CPU)

    straight = make()
    fit(straight, epochs=3)
    fit(make(), epochs=1, checkpoint_path=ck, checkpoint_every=1)
    resumed = make()
    fit(resumed, epochs=3, checkpoint_path=ck, checkpoint_every=1)
    return straight, resumed


def test_resume_with_levers_matches_uninterrupted(tmp_path):
    cfg = tiny_config('train.augment=["translation", "cutout", "color"]', "train.ema_decay=0.8",
                      "model.spectral_norm=true", "model.d_dropout=0.3", "train.r1_gamma=0.5",
                      "train.r1_every=2")
    ck = tmp_path / "ck.pt"
    straight, resumed = _straight_and_resumed(cfg, ck)
    for a, b in zip(straight.owners, resumed.owners):
        for x, y in zip(a.sampler.state_dict().values(), b.sampler.state_dict().values()):
            assert torch.equal(x, y)
        for x, y in zip(a.discriminator.state_dict().values(), b.discriminator.state_dict().values()):
            assert torch.equal(x, y)  # weights and the power-iteration vectors
    assert "ema" in load_checkpoint(ck, kind="privgan")["state"]["owners"][0]


def test_spectral_norm_divides_each_model_by_its_own_largest_singular_value():
    from privshare.models.ensemble import SpectralEnsembleLinear

    torch.manual_seed(0)  # power iteration converges at a rate set by the matrix drawn: pin it
    layer = SpectralEnsembleLinear(3, 20, 7).double()
    with torch.no_grad():
        layer.weight[1] *= 10.0  # one model's scale must not leak into the others
    x = torch.randn(3, 5, 20, dtype=torch.float64)
    for _ in range(1000):
        layer(x)
    torch.testing.assert_close(layer.sigma().detach(), torch.linalg.matrix_norm(layer.weight.detach(), ord=2))
    layer.eval()
    u = layer.u.clone()
    out = layer(x)
    assert torch.equal(layer.u, u)  # scoring does not move the estimate
    w = (layer.weight / layer.sigma()[:, None, None]).detach()
    torch.testing.assert_close(out, torch.baddbmm(layer.bias, x, w))
    torch.testing.assert_close(torch.linalg.matrix_norm(w, ord=2), torch.ones(3, dtype=torch.float64))


def test_spectral_norm_is_on_local_discriminators_only():
    from privshare.models.ensemble import SpectralEnsembleLinear

    t = PrivGANTrainer(config=tiny_config("model.spectral_norm=true"), rows=tiny_rows(), device=CPU)
    assert all(isinstance(layer, SpectralEnsembleLinear) for o in t.owners
               for layer in o.discriminator.layers)
    assert not any(isinstance(layer, SpectralEnsembleLinear) for layer in t.central.network.layers)
    assert not any(isinstance(layer, SpectralEnsembleLinear) for layer in t.owners[0].generator.layers)


def _mbstd_discriminator():
    from privshare.models import build_discriminator

    model = tiny_config("model.minibatch_std=2", "train.batch_size=6").model
    d = build_discriminator(model, models=2, data_dim=64).double()
    with torch.no_grad():
        d.std_weight.fill_(1.5)
    return d


def test_minibatch_std_sees_variety_in_training_and_is_left_out_when_scoring():
    d = _mbstd_discriminator()
    x = torch.randn(2, 4, 64, dtype=torch.float64)
    same = x[:, :1].repeat(1, 4, 1)  # a collapsed batch: every row alike
    d.eval()
    plain, plain_same = d(x), d(same)
    d.train()
    torch.testing.assert_close(d(same), plain_same)  # zero spread: nothing added
    assert torch.all(d(x) > plain)  # varied rows: w * spread > 0 added
    d.eval()
    assert torch.equal(d(x), plain)  # scoring ignores the batch


def test_minibatch_std_groups_never_mix_the_real_and_fake_halves():
    d = _mbstd_discriminator().train()
    real, fake = torch.randn(2, 4, 64, dtype=torch.float64), torch.randn(2, 4, 64, dtype=torch.float64)
    before = d(torch.cat([real, fake], dim=1))[:, 4:]
    after = d(torch.cat([real * 3.0, fake], dim=1))[:, 4:]
    assert torch.equal(before, after)


def test_r1_penalty_is_half_gamma_times_the_squared_input_gradient_of_real_logits():
    from privshare.training.losses import r1_penalty

    w = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)  # a linear D per class
    x = torch.randn(2, 7, 5, dtype=torch.float64, requires_grad=True)  # 3 real rows, 4 fake
    logits = torch.einsum("mbd,md->mb", x ** 2, w)  # d logit / dx = 2 x w, row by row
    pen = r1_penalty(logits[:, :3], x, gamma=4.0)
    expected = 0.5 * 4.0 * ((2 * x[:, :3] * w[:, None]) ** 2).sum(-1).mean(1).sum()
    torch.testing.assert_close(pen, expected.float())  # losses are taken in fp32, as the BCEs are
    pen.backward()  # the penalty trains D: it has a gradient in D's weights
    assert w.grad is not None and torch.all(w.grad != 0)


def test_r1_changes_only_the_discriminator_step_and_keeps_it_finite():
    from privshare.training.steps import discriminator_step

    def one_step(gamma):
        t = GANTrainer(config=tiny_config(f"train.r1_gamma={gamma}"), rows=tiny_rows()[0],
                       owner=0, device=CPU)
        before = t.owner.rng.get_state()
        _, loss = discriminator_step(t.owner, t.rows, batch=4, smoothing=0.9)
        drawn = t.owner.rng.get_state()
        return loss, [p.detach().clone() for p in t.owner.discriminator.parameters()], before, drawn

    loss0, d0, start0, after0 = one_step(0.0)
    loss1, d1, start1, after1 = one_step(2.0)
    assert torch.equal(start0, start1) and torch.equal(after0, after1)  # same draws either way
    assert torch.isfinite(loss1) and torch.equal(loss0, loss1)  # the BCE part is reported
    assert not all(torch.equal(a, b) for a, b in zip(d0, d1))  # ... and the penalty moved D_i


def test_lazy_r1_penalises_every_kth_step_only_with_k_times_the_weight():
    from privshare.training.steps import discriminator_step

    def trajectory(*overrides):
        t = GANTrainer(config=tiny_config(*overrides), rows=tiny_rows()[0], owner=0, device=CPU)
        out = []
        for _ in range(3):
            discriminator_step(t.owner, t.rows, batch=4, smoothing=0.9)
            out.append([p.detach().clone() for p in t.owner.discriminator.parameters()])
        return out, t.owner

    plain, _ = trajectory()
    lazy, owner = trajectory("train.r1_gamma=2.0", "train.r1_every=3")
    assert owner.d_steps == 3 and owner.state_dict()["d_steps"] == 3  # checkpointed
    for step in (0, 1):  # steps 1 and 2: no penalty, D_i moves exactly as without R1
        assert all(torch.equal(a, b) for a, b in zip(plain[step], lazy[step]))
    assert not all(torch.equal(a, b) for a, b in zip(plain[2], lazy[2]))  # step 3 carries it


def test_dropout_is_in_training_mode_only_and_drawn_from_the_owners_stream():
    def owner(seed):
        cfg = tiny_config(f"seed={seed}", "model.d_dropout=0.5")
        return GANTrainer(config=cfg, rows=tiny_rows()[0], owner=0, device=CPU).owner

    a, b = owner(3), owner(3)
    d = a.discriminator
    assert d.dropout_rng is a.rng  # resumable: the masks come from the checkpointed stream
    x = torch.randn(3, 16, 64)
    d.train()
    out, again = d(x), d(x)
    assert not torch.equal(out, again)  # a fresh mask each pass
    torch.testing.assert_close(b.discriminator.train()(x), out)  # same seed, same masks
    d.eval()
    assert torch.equal(d(x), d(x))  # scoring (the white-box attacks) is deterministic
    hidden = d.train().hidden(torch.randn(3, 400, 64))
    dropped = (hidden == 0).float().mean()
    assert 0.4 < dropped < 0.6


def test_dropout_is_on_local_discriminators_only():
    t = PrivGANTrainer(config=tiny_config("model.d_dropout=0.4"), rows=tiny_rows(), device=CPU)
    assert all(o.discriminator.dropout == 0.4 for o in t.owners)
    assert t.central.network.dropout == 0.0 and t.owners[0].generator.dropout == 0.0


@pytest.mark.parametrize("override, message", [
    ("model.minibatch_std=5", "model.minibatch_std=5: 0 (off) or a group size >= 2 that divides"),
    ("seed=-1", "seed=-1 must be in [0, 2**63)"),
    ("seed=99999999999999999999", "seed=99999999999999999999 must be in [0, 2**63)"),
    ('train.device="tpu"', "train.device='tpu': auto, cpu, cuda or cuda:N"),
    ("model.spectral_norm=true", "model.kind='mlp' only"),
    ('train.augment=["flip"]', "train.augment=['flip']"),
    ('train.augment=["cutout", "cutout"]', "names ['cutout'] more than once"),
    ("train.ema_decay=1.0", "train.ema_decay=1.0 must be in [0, 1)"),
    ("train.ema_decay=-0.1", "train.ema_decay=-0.1"),
    ("optim.beta1=1.5", "optim.beta1=1.5 must be in [0, 1)"),
    ("optim.eps=-1", "optim.eps=-1.0"),
    ("model.leaky_slope=nan", "model.leaky_slope=nan"),
    ("model.first_layer_std=-1", "model.first_layer_std=-1.0"),
    ("model.d_dropout=1.0", "model.d_dropout=1.0 must be in [0, 1)"),
    ("model.d_dropout=-0.2", "model.d_dropout=-0.2"),
    ("model.d_dropout=0.3", "model.d_dropout=0.3 needs model.kind='mlp'"),
    ("train.r1_gamma=-1", "train.r1_gamma=-1.0 must be >= 0"),
    ("train.r1_every=0", "train.r1_every=0 must be >= 1"),
    ("train.r1_gamma=1.0", "train.compile=true with train.r1_gamma=1.0"),
])
def test_bad_lever_settings_name_the_key(override, message):
    conv = override.startswith("model.spectral") or override == "model.d_dropout=0.3"
    extra = ("model.kind='conv'",) if conv else ()
    extra += ("train.batch_size=8",) if override.startswith("model.minibatch") else ()
    extra += ("train.compile=true",) if override == "train.r1_gamma=1.0" else ()
    with pytest.raises(ConfigError, match=re.escape(message)):
        tiny_config(override, *extra)


def test_non_finite_losses_stop_the_training_with_an_error():
    t = GANTrainer(config=tiny_config(), rows=tiny_rows()[0], owner=0, device=CPU)
    with torch.no_grad():
        for p in t.owner.discriminator.parameters():
            p.fill_(math.nan)
    with pytest.raises(TrainingDiverged, match=r"loss d=nan, g=nan at epoch 1"):
        fit(t, epochs=2)
    assert len(t.history) == 0


def test_a_resting_discriminator_steps_every_kth_call_and_its_generator_every_call():
    t = PrivGANTrainer(config=tiny_config("train.owner_d_every=[3, 1]"), rows=tiny_rows(),
                       device=CPU)
    d0, d1, g0 = t.owners[0].discriminator, t.owners[1].discriminator, t.owners[0].generator
    moved = []
    for _ in range(4):
        before = [[p.detach().clone() for p in m.parameters()] for m in (d0, d1, g0)]
        losses = t.train_step()
        moved.append([not all(torch.equal(a, b) for a, b in zip(old, m.parameters()))
                      for old, m in zip(before, (d0, d1, g0))])
        assert all(torch.isfinite(v) for v in losses.values())
    # D_0 steps on calls 1 and 4 only; D_1 and G_0 on every call
    assert [m[0] for m in moved] == [True, False, False, True]
    assert all(m[1] and m[2] for m in moved)
    assert (t.owners[0].d_steps, t.owners[0].d_calls, t.owners[1].d_steps) == (2, 4, 4)
    assert t.config.train.d_every_of(0) == 3 and tiny_config().train.d_every_of(0) == 1


def test_resume_with_a_resting_discriminator_matches_uninterrupted(tmp_path):
    # one step an epoch (tiny rows, batch 16) against D_0's every 2nd: the resumed run's first
    # call is one D_0 rests on, which it only knows from the checkpointed call count
    cfg = tiny_config("train.owner_d_every=[2, 1]", "train.r1_gamma=0.5", "train.r1_every=2")
    straight, resumed = _straight_and_resumed(cfg, tmp_path / "ck.pt")
    for a, b in zip(straight.owners, resumed.owners):
        for x, y in zip(a.discriminator.state_dict().values(), b.discriminator.state_dict().values()):
            assert torch.equal(x, y)
        for x, y in zip(a.generator.state_dict().values(), b.generator.state_dict().values()):
            assert torch.equal(x, y)
        assert (a.d_calls, a.d_steps) == (b.d_calls, b.d_steps)
    assert (straight.owners[0].d_calls, straight.owners[0].d_steps) == (3, 2)  # calls 1 and 3
