"""The networks of a run, as per-class ensembles: the reference MLPs or DCGAN-style convs.

- Generator G_i: z (latent) -> 512 -> 512 -> 1024 -> image, LeakyReLU(0.2),
  tanh output in [-1, 1].
- Discriminator D_i: image -> 2048 -> 512 -> 256 -> 1 logit (sigmoid = P(real)).
- Central discriminator D_central: same body, N logits (softmax = P(owner k made it)).

Widths, depth and latent size come from :class:`privshare.config.ModelConfig`;
``model.kind = "conv"`` builds the same three roles from
:mod:`privshare.models.conv` instead (same shapes in and out).
"""

from __future__ import annotations

import torch

from privshare.config import ModelConfig
from privshare.models.conv import EnsembleConvDiscriminator, EnsembleConvGenerator, square_side
from privshare.models.ensemble import EnsembleMLP


class Generator(EnsembleMLP):
    """Per-class generators: z (M, B, latent) -> images (M, B, D) in [-1, 1]."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(z))


class Discriminator(EnsembleMLP):
    """Per-class real/fake discriminators: x (M, B, D) -> logits (M, B).

    With ``minibatch_std = g > 0`` (training mode only) each logit also gets
    ``w_m * s``, where s is the standard deviation of the last hidden layer's
    activations over the row's group of g consecutive rows, averaged over the
    features (Karras et al. 2018's minibatch standard deviation, entering
    additively): D can tell a batch of near-identical fakes from a varied
    real batch, and G_i is pushed towards variety. Groups never straddle the
    real and fake halves of D_i's batch as long as g divides the batch. The
    term enters the logit additively, so in eval mode (scoring single rows,
    as the white-box attacks do) it is left out, which shifts every row's
    logit by the same amount and leaves any ranking of rows unchanged.
    """

    def __init__(self, *, minibatch_std: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.group = minibatch_std
        if minibatch_std:
            self.std_weight = torch.nn.Parameter(torch.zeros(self.models))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.group and self.training):
            return super().forward(x).squeeze(-1)
        h = self.hidden(x)
        out = self.layers[-1](h).squeeze(-1)  # (M, N)
        m, n, f = h.shape
        groups = h.reshape(m, n // self.group, self.group, f)
        spread = groups.float().std(dim=2, unbiased=False).mean(dim=-1)  # (M, N / g)
        spread = spread.repeat_interleave(self.group, dim=1).to(out.dtype)
        return out + self.std_weight[:, None].to(out.dtype) * spread


class CentralDiscriminator(EnsembleMLP):
    """Per-class owner classifiers D_central: x (M, B, D) -> logits (M, B, N)."""


class ConvGenerator(EnsembleConvGenerator):
    """Convolutional per-class generators: z (M, B, latent) -> images (M, B, D) in [-1, 1]."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(z))


class ConvDiscriminator(EnsembleConvDiscriminator):
    """Convolutional per-class real/fake discriminators: x (M, B, D) -> logits (M, B)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(-1)


class ConvCentralDiscriminator(EnsembleConvDiscriminator):
    """Convolutional per-class owner classifiers D_central: x (M, B, D) -> logits (M, B, N)."""


def _conv(cls, config: ModelConfig, *, models: int, data_dim: int, generator, **shape):
    return cls(models=models, side=square_side(data_dim), channels=tuple(config.conv_channels),
               leaky_slope=config.leaky_slope, std=config.first_layer_std, generator=generator,
               **shape)


def _build(cls: type[EnsembleMLP], config: ModelConfig, *, models: int, sizes: tuple[int, ...],
           generator: torch.Generator | None, **extra) -> EnsembleMLP:
    return cls(
        models=models,
        sizes=sizes,
        leaky_slope=config.leaky_slope,
        first_layer_std=config.first_layer_std,
        generator=generator,
        **extra,
    )


def build_generator(
    config: ModelConfig, *, models: int, data_dim: int, generator: torch.Generator | None = None
) -> Generator | ConvGenerator:
    """G for ``models`` classes producing flattened images of ``data_dim`` pixels."""
    if config.kind == "conv":
        return _conv(ConvGenerator, config, models=models, data_dim=data_dim, generator=generator,
                     latent=config.latent_dim, batch_norm=config.generator_norm == "batch")
    sizes = (config.latent_dim, *config.generator_widths, data_dim)
    return _build(Generator, config, models=models, sizes=sizes, generator=generator)


def build_discriminator(
    config: ModelConfig, *, models: int, data_dim: int, generator: torch.Generator | None = None
) -> Discriminator | ConvDiscriminator:
    """D for ``models`` classes scoring flattened images of ``data_dim`` pixels."""
    if config.kind == "conv":
        return _conv(ConvDiscriminator, config, models=models, data_dim=data_dim,
                     generator=generator, outputs=1)
    sizes = (data_dim, *config.discriminator_widths, 1)
    return _build(Discriminator, config, models=models, sizes=sizes, generator=generator,
                  spectral_norm=config.spectral_norm, minibatch_std=config.minibatch_std,
                  dropout=config.d_dropout)


def build_central_discriminator(
    config: ModelConfig,
    *,
    models: int,
    data_dim: int,
    owners: int,
    generator: torch.Generator | None = None,
) -> CentralDiscriminator | ConvCentralDiscriminator:
    """D_central for ``models`` classes telling which of ``owners`` generators made a fake."""
    if config.kind == "conv":
        return _conv(ConvCentralDiscriminator, config, models=models, data_dim=data_dim,
                     generator=generator, outputs=owners)
    sizes = (data_dim, *config.discriminator_widths, owners)
    return _build(CentralDiscriminator, config, models=models, sizes=sizes, generator=generator)
