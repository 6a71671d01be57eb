"""The differentially private baseline: one owner's local GAN with a DP-SGD discriminator.

Everything is the local GAN's (:class:`~privshare.training.gan.GANTrainer`):
the owner's own rows only, the same networks, epochs (``train.epochs_gan``)
and steps per epoch. Only D's step differs (:func:`dp_discriminator_step`):

- **What is private**: the owner's real rows. Each step draws them by
  Poisson sampling (every row of class m independently with probability
  q_m = min(1, batch / n_m)), as the RDP and PRV accountants assume.
- **Clipping**: the per-row loss BCE(D_m(x), smoothing) of every drawn real
  row x is differentiated over all of its class model's parameters, and that
  gradient is clipped to L2 norm C; the clipped gradients are summed,
  N(0, (sigma C)^2) is added to every entry of each class model's sum, and the
  result is divided by the expected batch q_m n_m. **The fake half of D's
  loss is not clipped**: the fakes are G's output on fresh noise, a function
  of earlier (already private) D's and of no real row, so their gradient
  goes through the normal, unclipped and noise-free path and costs no
  privacy. D's loss thus has the local GAN's form, half the mean over real
  rows plus half the mean over fakes.
- **G** never touches a real row: its loss is D's verdict on its fakes, so
  G, its moving average, the exported rows and their grids are
  post-processing of the private D's, with the same guarantee.
- **The guarantee**: per owner, (epsilon, delta)-DP with respect to adding or
  removing one of its rows. Classes are disjoint datasets trained by separate
  models, so the owner's epsilon is the max over its classes (parallel
  composition; :mod:`privshare.training.accounting`). Not covered: the
  class sizes (used for q_m and the step count, treated as public) and
  ``history.json``, which records only losses on fakes (``d_fake``, ``g``),
  never D's loss on real rows. The noise is drawn from the owner's seeded
  stream so that runs are reproducible: whoever holds the run's seed can
  recompute it, so the seed must stay as private as the rows.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from privshare.config import RunConfig
from privshare.seeding import STAGE_DPGAN
from privshare.training.accounting import sample_rates
from privshare.training.dpsgd import (
    add_private_gradient,
    batch_width,
    clipped_gradient_sum,
    expected_batch,
    poisson_batch,
)
from privshare.training.gan import GANTrainer
from privshare.training.runtime import autocast, compile_network
from privshare.training.state import OwnerState, RealRows
from privshare.training.steps import gan_generator_step


def _class_mean_bce(logits: torch.Tensor, *, target: float, mask: torch.Tensor | None
                    ) -> torch.Tensor:
    """Per-class mean BCE of logits (M, B) against ``target``, summed over the classes held."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    bce = F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target),
                                             reduction="none").mean(dim=1)
    return bce.sum() if mask is None else (bce * mask).sum()


def dp_discriminator_step(
    owner: OwnerState,
    rows: RealRows,
    *,
    batch: int,
    smoothing: float,
    rates: torch.Tensor,
    width: int,
    noise_multiplier: float,
    max_grad_norm: float,
    precision: str = "fp32",
) -> torch.Tensor:
    """One DP-SGD step of D_i on a Poisson batch of real rows and ``batch`` fresh fakes.

    ``rates`` (C,): each class's sampling rate q_m (0 for a class the owner
    lacks, whose D never moves). Returns the fake half of D's loss before the
    update (detached): the real half is a statistic of private rows and is
    not reported.
    """
    d = owner.discriminator
    z = owner.noise(batch)
    with autocast(owner.device, precision), torch.no_grad():
        fake = owner.generator(z)  # (C, B, D)
    real, drawn = poisson_batch(rows, rates=rates, width=width, rng=owner.rng)  # (C, P, D), (C, P)
    real = owner.d_view(real.to(fake.dtype))
    fake = owner.d_view(fake)
    sums, _ = clipped_gradient_sum(
        d, real, mask=drawn, max_grad_norm=max_grad_norm, precision=precision,
        loss=lambda logits: F.binary_cross_entropy_with_logits(
            logits, torch.full_like(logits, smoothing), reduction="none"),
    )
    owner.opt_d.zero_grad(set_to_none=True)
    with autocast(owner.device, precision):
        fake_loss = _class_mean_bce(d(fake), target=0.0, mask=owner.class_mask)
    (0.5 * fake_loss).backward()
    expected = expected_batch(rows, rates)
    held = rows.counts > 0
    scale = torch.where(held, 0.5 / expected.clamp_min(1e-12), torch.zeros_like(expected))
    add_private_gradient(d, sums, noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm,
                         scale=scale, rng=owner.rng)
    owner.opt_d.step()
    owner.opt_d.zero_grad(set_to_none=True)
    return fake_loss.detach()


class DPGANTrainer(GANTrainer):
    """Owner ``owner``'s local GAN whose D trains by DP-SGD with noise multiplier sigma.

    ``noise_multiplier`` comes from
    :func:`privshare.training.accounting.noise_multipliers`; :attr:`dp_steps`
    (checkpointed) counts the DP-SGD steps taken, which the accountant turns
    into the epsilon spent.
    """

    kind = "dpgan"
    stage = STAGE_DPGAN

    def __init__(
        self, *, config: RunConfig, rows: RealRows, owner: int, device: torch.device,
        noise_multiplier: float,
    ) -> None:
        super().__init__(config=config, rows=rows, owner=owner, device=device)
        rates = sample_rates([int(n) for n in rows.counts.tolist()], batch=config.train.batch_size)
        self.rates = torch.tensor(rates, dtype=torch.float32, device=device)  # (C,) q_m
        self.width = batch_width(rows, self.rates)
        self.noise_multiplier = float(noise_multiplier)
        self.dp_steps = 0

    def _compile(self) -> None:
        """Only G: D's per-row gradients need its eager forward."""
        t = self.config.train
        compile_network(self.owner.generator, batch=t.batch_size, precision=t.precision,
                        label=f"G_{self.owner.index}")

    def train_step(self) -> dict[str, torch.Tensor]:
        t, p = self.config.train, self.config.dpsgd
        d_fake = dp_discriminator_step(
            self.owner, self.rows, batch=t.batch_size, smoothing=t.smoothing_gan,
            rates=self.rates, width=self.width, noise_multiplier=self.noise_multiplier,
            max_grad_norm=p.max_grad_norm, precision=t.precision,
        )
        g_loss = gan_generator_step(self.owner, batch=t.batch_size, precision=t.precision)
        self.dp_steps += 1
        classes = int(self.rows.holds.sum())
        return {"d_fake": d_fake / classes, "g": g_loss / classes}  # means over the classes held

    def state_dict(self) -> dict:
        return {"owner": self.owner.state_dict(), "dp_steps": self.dp_steps}

    def load_state_dict(self, state: dict) -> None:
        if "dp_steps" not in state:
            raise KeyError("dpgan state lacks 'dp_steps'; the checkpoint is incomplete")
        self.owner.load_state_dict(state["owner"])
        self.dp_steps = int(state["dp_steps"])
