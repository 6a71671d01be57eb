"""DP-SGD of the batched discriminators: per-row gradients, clipping, sampling, the step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from privshare.models import build_discriminator
from privshare.training import DPGANTrainer, TrainingDiverged, fit
from privshare.training.dpgan import dp_discriminator_step
from privshare.training.dpsgd import (
    clip_factors,
    clipped_gradient_sum,
    per_sample_gradients,
    poisson_batch,
)
from privshare.training.losses import discriminator_loss
from privshare.training.state import OwnerState, RealRows
from tests.training.helpers import tiny_config, tiny_rows

CPU = torch.device("cpu")
SMOOTHING = 0.9
M, P, DIM = 3, 5, 64  # classes, rows, 8x8 pixels


def row_loss(logits: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, SMOOTHING),
                                              reduction="none")


def _discriminator(dtype=torch.float64):
    model = tiny_config().model
    gen = torch.Generator().manual_seed(0)
    return build_discriminator(model, models=M, data_dim=DIM, generator=gen).to(dtype), model


def _rows(dtype=torch.float64) -> torch.Tensor:
    return torch.randn((M, P, DIM), generator=torch.Generator().manual_seed(1), dtype=dtype)


def test_per_sample_gradients_equal_a_float64_loop_over_rows_and_class_models():
    net, model = _discriminator()
    x = _rows()
    grads = per_sample_gradients(net, x, loss=row_loss)  # name -> (P, M, ...)
    params = dict(net.named_parameters())
    for m in range(M):
        single = build_discriminator(model, models=1, data_dim=DIM).to(torch.float64)
        single.load_state_dict({k: v[m:m + 1] for k, v in net.state_dict().items()})
        for p in range(P):
            single.zero_grad()
            row_loss(single(x[m:m + 1, p:p + 1])).sum().backward()
            for name, param in single.named_parameters():
                assert grads[name].shape == (P, *params[name].shape)
                torch.testing.assert_close(grads[name][p, m], param.grad[0], rtol=1e-10,
                                           atol=1e-12)


def test_each_clipped_gradient_has_norm_at_most_c_and_the_linear_path_sums_the_same():
    net, _ = _discriminator()
    x = _rows()
    mask = torch.tensor([[1, 1, 0, 1, 1], [0, 1, 1, 1, 0], [1, 0, 0, 0, 1]], dtype=torch.bool)
    grads = per_sample_gradients(net, x, loss=row_loss)
    norms = torch.sqrt(sum(g.flatten(2).pow(2).sum(-1) for g in grads.values()))  # (P, M)
    c = float(norms.median())  # about half the rows are clipped
    factors = clip_factors(norms, max_grad_norm=c)
    assert (factors < 1).any() and (factors == 1).any()
    clipped = {k: g * factors.reshape(P, M, *[1] * (g.dim() - 2)) for k, g in grads.items()}
    clipped_norms = torch.sqrt(sum(g.flatten(2).pow(2).sum(-1) for g in clipped.values()))
    assert (clipped_norms <= c * (1 + 1e-9)).all()
    expected = {k: torch.einsum("pm,pm...->m...", mask.T.to(g.dtype), g)
                for k, g in clipped.items()}
    for method in ("vmap", "linear"):
        sums, got_norms = clipped_gradient_sum(net, x, mask=mask, loss=row_loss,
                                               max_grad_norm=c, method=method)
        torch.testing.assert_close(got_norms, norms.T, rtol=1e-10, atol=1e-12)
        for k in expected:
            torch.testing.assert_close(sums[k], expected[k], rtol=1e-9, atol=1e-12)


def test_poisson_batches_draw_each_row_with_its_class_rate_and_mask_the_padding():
    counts = [40, 10, 25]
    x = np.zeros((3, 40, 4), np.float32)
    for c, n in enumerate(counts):
        x[c, :n, 0] = np.arange(1, n + 1)  # row i of a class holds i + 1; padding holds 0
    rows = RealRows(x=torch.from_numpy(x), counts=torch.tensor(counts))
    rates = torch.tensor([0.25, 1.0, 0.5])
    rng = torch.Generator().manual_seed(0)
    seen = torch.zeros(3, 41)
    for _ in range(400):
        batch, mask = poisson_batch(rows, rates=rates, width=12, rng=rng)
        assert batch.shape[1] >= 12 and mask.shape == batch.shape[:2]
        ids = batch[..., 0].long()
        assert ((ids > 0) | ~mask).all()  # a drawn slot holds a real row, never padding
        for c in range(3):
            drawn = ids[c][mask[c]]
            assert len(set(drawn.tolist())) == len(drawn)  # without replacement within a step
            seen[c].index_add_(0, drawn, torch.ones(len(drawn)))
    for c, n in enumerate(counts):
        freq = seen[c, 1:n + 1] / 400
        assert abs(float(freq.mean()) - float(rates[c])) < 0.03  # every row at rate q_c
    assert (seen[1, 1:11] == 400).all()  # q = 1: every row, every step


def _owner(dtype=torch.float64) -> OwnerState:
    config = tiny_config()
    owner = OwnerState(index=0, model=config.model, optim=config.optim, classes=M, data_dim=DIM,
                       init_seed=3, stream_seed=4, device=CPU, dtype=dtype)
    owner.opt_d = torch.optim.SGD(owner.discriminator.parameters(), lr=1.0)  # update = -gradient
    return owner


def test_without_noise_or_clipping_the_dp_step_is_the_plain_gradient_of_the_same_rows():
    batch = 6
    real = torch.randn((M, batch, DIM), generator=torch.Generator().manual_seed(5),
                       dtype=torch.float64).clamp(-1, 1)
    rows = RealRows(x=real, counts=torch.full((M,), batch))  # q = 1: each step takes every row
    private, plain = _owner(), _owner()
    dp_discriminator_step(private, rows, batch=batch, smoothing=SMOOTHING,
                          rates=torch.ones(M, dtype=torch.float64), width=batch,
                          noise_multiplier=0.0, max_grad_norm=1e12)
    with torch.no_grad():
        fake = plain.generator(plain.noise(batch))  # the same z: the same stream, drawn first
    logits = plain.discriminator(torch.cat([real, fake], dim=1))  # (M, 2B)
    targets = torch.cat([torch.full_like(real[..., 0], SMOOTHING),
                         torch.zeros_like(fake[..., 0])], dim=1)
    plain.opt_d.zero_grad()  # the local GAN's D loss (discriminator_loss), in float64
    F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(1).sum().backward()
    plain.opt_d.step()
    for (name, a), b in zip(private.discriminator.named_parameters(),
                            plain.discriminator.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)
    logits = logits.detach()  # the float64 loss above is discriminator_loss (fp32 inside) exactly
    ours = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(1).sum()
    theirs = discriminator_loss(logits[:, :batch], logits[:, batch:], smoothing=SMOOTHING)
    assert float(theirs) == pytest.approx(float(ours), rel=1e-6)


def test_a_non_finite_discriminator_stops_dp_training_with_an_error():
    config = tiny_config('train.methods=["dpgan"]')
    trainer = DPGANTrainer(config=config, rows=tiny_rows()[0], owner=0, device=CPU,
                           noise_multiplier=1.0)
    with torch.no_grad():
        trainer.owner.discriminator.layers[0].weight[1, 0, 0] = float("inf")
    with pytest.raises(TrainingDiverged, match="DP-GAN owner 0"):
        fit(trainer, epochs=1, label="DP-GAN owner 0")


def test_a_resumed_dp_training_ends_where_an_uninterrupted_one_does(tmp_path):
    config = tiny_config('train.methods=["dpgan"]')
    rows = tiny_rows(sizes=(20, 9))[0]

    def trainer():
        return DPGANTrainer(config=config, rows=rows, owner=0, device=CPU, noise_multiplier=0.8)

    straight = trainer()
    fit(straight, epochs=3)
    fit(trainer(), epochs=1, checkpoint_path=tmp_path / "ck.pt")
    resumed = trainer()
    fit(resumed, epochs=3, checkpoint_path=tmp_path / "ck.pt")
    assert resumed.dp_steps == straight.dp_steps == 3 * straight.steps_per_epoch()
    for net in ("generator", "discriminator"):
        a, b = getattr(straight.owner, net).state_dict(), getattr(resumed.owner, net).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), net
