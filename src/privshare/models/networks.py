"""The reference networks (privGAN, MNIST), as per-class ensembles.

- Generator G_i: z (latent) -> 512 -> 512 -> 1024 -> image, LeakyReLU(0.2),
  tanh output in [-1, 1].
- Discriminator D_i: image -> 2048 -> 512 -> 256 -> 1 logit (sigmoid = P(real)).
- Central discriminator DP: same body, N logits (softmax = P(owner k made it)).

Widths, depth and latent size come from :class:`privshare.config.ModelConfig`.
"""

from __future__ import annotations

import torch

from privshare.config import ModelConfig
from privshare.models.ensemble import EnsembleMLP


class Generator(EnsembleMLP):
    """Per-class generators: z (M, B, latent) -> images (M, B, D) in [-1, 1]."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(z))


class Discriminator(EnsembleMLP):
    """Per-class real/fake discriminators: x (M, B, D) -> logits (M, B)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(-1)


class CentralDiscriminator(EnsembleMLP):
    """Per-class owner classifiers DP: x (M, B, D) -> logits (M, B, N)."""


def _build(cls: type[EnsembleMLP], config: ModelConfig, *, models: int, sizes: tuple[int, ...],
           generator: torch.Generator | None) -> EnsembleMLP:
    return cls(
        models=models,
        sizes=sizes,
        leaky_slope=config.leaky_slope,
        first_layer_std=config.first_layer_std,
        generator=generator,
    )


def build_generator(
    config: ModelConfig, *, models: int, data_dim: int, generator: torch.Generator | None = None
) -> Generator:
    """G for ``models`` classes producing flattened images of ``data_dim`` pixels."""
    sizes = (config.latent_dim, *config.generator_widths, data_dim)
    return _build(Generator, config, models=models, sizes=sizes, generator=generator)


def build_discriminator(
    config: ModelConfig, *, models: int, data_dim: int, generator: torch.Generator | None = None
) -> Discriminator:
    """D for ``models`` classes scoring flattened images of ``data_dim`` pixels."""
    sizes = (data_dim, *config.discriminator_widths, 1)
    return _build(Discriminator, config, models=models, sizes=sizes, generator=generator)


def build_central_discriminator(
    config: ModelConfig,
    *,
    models: int,
    data_dim: int,
    owners: int,
    generator: torch.Generator | None = None,
) -> CentralDiscriminator:
    """DP for ``models`` classes telling which of ``owners`` generators made a fake."""
    sizes = (data_dim, *config.discriminator_widths, owners)
    return _build(CentralDiscriminator, config, models=models, sizes=sizes, generator=generator)
