"""The plain-GAN baseline: one owner's local GAN, all classes batched.

Per step (reference ``SimpGAN``): one D step on [real, G(z)] with the real
target smoothed to 0.9, then one G step on FRESH noise with target 1.
An owner with no row of a class has no model of it: that class's G and D
are masked out of every loss and never move.
"""

from __future__ import annotations

import torch

from privshare.config import RunConfig
from privshare.seeding import INIT, STAGE_GAN, STREAM, derive_seed
from privshare.training.runtime import master_dtype, steps_per_epoch
from privshare.training.state import OwnerState, RealRows
from privshare.training.steps import discriminator_step, gan_generator_step


class GANTrainer:
    """Local GAN of owner ``owner`` on its own rows only."""

    kind = "gan"
    stage = STAGE_GAN  # seeding stage of its initialisation and stream

    def __init__(
        self, *, config: RunConfig, rows: RealRows, owner: int, device: torch.device
    ) -> None:
        self.config = config
        self.rows = rows
        self.device = device
        classes, _, data_dim = rows.x.shape
        self.owner = OwnerState(
            index=owner,
            model=config.model,
            optim=config.optim,
            classes=classes,
            data_dim=data_dim,
            init_seed=derive_seed(config.seed, self.stage, owner, INIT),
            stream_seed=derive_seed(config.seed, self.stage, owner, STREAM),
            device=device,
            dtype=master_dtype(config.train.precision),
            augment=config.train.augment,
            ema_decay=config.train.ema_decay,
            r1_gamma=config.train.r1_gamma,
            r1_every=config.train.r1_every,
            holds=rows.holds,
        )
        if config.train.compile:
            self._compile()
        self.owners = [self.owner]
        self.epoch = 0
        self.history: list[dict[str, float]] = []

    def _compile(self) -> None:
        self.owner.compile(batch=self.config.train.batch_size, precision=self.config.train.precision)

    def steps_per_epoch(self) -> int:
        t = self.config.train
        counts = [int(n) for n in self.rows.counts.tolist() if n > 0]  # absent classes ignored
        return steps_per_epoch(t.steps_per_epoch, counts=counts, batch=t.batch_size)

    def prepare(self) -> None:
        """Nothing to prepare for a plain GAN."""

    def train_step(self) -> dict[str, torch.Tensor]:
        t = self.config.train
        _, d_loss = discriminator_step(
            self.owner, self.rows, batch=t.batch_size, smoothing=t.smoothing_gan,
            keep_graph=False, precision=t.precision,
        )
        g_loss = gan_generator_step(self.owner, batch=t.batch_size, precision=t.precision)
        classes = int(self.rows.holds.sum())
        return {"d": d_loss / classes, "g": g_loss / classes}  # means over the classes held

    def state_dict(self) -> dict:
        return {"owner": self.owner.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.owner.load_state_dict(state["owner"])
