"""Batched ("ensemble") DCGAN-style convolutional networks, one per class.

Same interface as :mod:`privshare.models.ensemble`: M independent networks
with every weight stacked along a leading model dimension, taking and giving
flattened square images ``(M, B, side * side)``. The M networks run as one
grouped convolution per layer (``groups = M``): the batch is laid out as
``(B, M * channels, h, w)``, so group m only ever sees model m's channels.

- Generator: z -> linear -> ``channels[-1]`` maps of side/2^L -> L transposed
  convolutions (kernel 4, stride 2, padding 1) doubling the side, the last
  one to 1 channel; LeakyReLU between layers, raw output (the caller applies
  tanh). With ``batch_norm``, DCGAN's batch normalisation before each of those
  LeakyReLUs (:class:`EnsembleBatchNorm2d`: each model's channels get their own
  statistics and affine weights, exactly as M separate networks would;
  training uses this batch's statistics, ``eval()`` the running ones, which is
  how exported rows are drawn).
- Discriminator body: L convolutions (kernel 4, stride 2, padding 1) halving
  the side, 1 -> channels[0] -> ... -> channels[-1], LeakyReLU after each,
  then a linear layer to ``outputs`` logits.

Initialisation: DCGAN's N(0, ``std``) for every convolution, Glorot-uniform
for the linear layers (as the MLPs' later layers).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from privshare.config.schema import conv_fits
from privshare.models.ensemble import EnsembleLinear

KERNEL, STRIDE, PADDING = 4, 2, 1


def check_conv_side(side: int, layers: int) -> None:
    """ValueError unless a ``side`` x ``side`` image halves cleanly ``layers`` times."""
    if not conv_fits(side, side, layers):
        raise ValueError(f"{side}x{side} images cannot be halved {layers} times by stride-2 "
                         f"convolutions down to at least 2x2; the side must be a multiple of "
                         f"{2 ** layers} and at least {2 ** (layers + 1)}")


def _to_maps(x: torch.Tensor, channels: int, side: int) -> torch.Tensor:
    """(M, B, channels * side * side) -> (B, M * channels, side, side)."""
    m, b, _ = x.shape
    return x.reshape(m, b, channels, side, side).transpose(0, 1).reshape(b, m * channels, side, side)


def _from_maps(x: torch.Tensor, models: int) -> torch.Tensor:
    """(B, M * channels, h, w) -> (M, B, channels * h * w)."""
    b = x.shape[0]
    return x.reshape(b, models, -1).transpose(0, 1)


def _like(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``grad`` in ``x``'s memory order (channels-last or not); a no-op if it already is."""
    last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
    return grad.contiguous(memory_format=torch.channels_last if last else torch.contiguous_format)


class _LeakyMask(torch.autograd.Function):
    """``grad * (1 if x > 0 else slope)``: LeakyReLU's backward, with ``grad`` first brought
    to ``x``'s memory order. Linear in ``grad``, so its own backward is itself."""

    @staticmethod
    def forward(ctx, grad: torch.Tensor, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.ops.aten.leaky_relu_backward(_like(grad, x), x, slope, False)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return _LeakyMask.apply(grad, x, ctx.slope), None, None  # d/dx: 0 almost everywhere


class _LeakyReLU(torch.autograd.Function):
    """``F.leaky_relu`` with the same values and gradients (first and second order), whose
    backward never mixes memory orders. The grouped convolutions give channels-last maps
    while a gradient may come back in NCHW order (from the discriminator's flattening
    reshape, or R1's double backward); torch's own LeakyReLU backward over two orders ran
    about 15 times slower than over one (22 ms against 1.2-2 ms for a bf16
    (128, 160, 14, 14) map on one AMX core), a sixth of the conv privGAN step."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return F.leaky_relu(x, slope)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return _LeakyMask.apply(grad, x, ctx.slope), None


def leaky_relu(x: torch.Tensor, slope: float) -> torch.Tensor:
    """LeakyReLU of the convolutional maps (:class:`_LeakyReLU`)."""
    return _LeakyReLU.apply(x, slope)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` in NHWC memory order (a no-op if it already is): oneDNN's grouped convolutions,
    forward and backward, ran 1.3-1.7 times faster so in bf16 on an AMX CPU
    (``benchmarks/conv_layout.py``); the values are the same."""
    return x.contiguous(memory_format=torch.channels_last)


class EnsembleConv2d(nn.Module):
    """M independent stride-2 convolutions: (B, M * cin, h, w) -> (B, M * cout, h/2, w/2)."""

    def __init__(self, models: int, cin: int, cout: int) -> None:
        super().__init__()
        self.models = models
        self.weight = nn.Parameter(torch.empty(models, cout, cin, KERNEL, KERNEL))
        self.bias = nn.Parameter(torch.zeros(models, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, cout, cin = self.weight.shape[:3]
        return F.conv2d(_channels_last(x), self.weight.reshape(m * cout, cin, KERNEL, KERNEL),
                        self.bias.reshape(m * cout), stride=STRIDE, padding=PADDING, groups=m)


class EnsembleConvTranspose2d(nn.Module):
    """M independent stride-2 transposed convolutions: side doubles."""

    def __init__(self, models: int, cin: int, cout: int) -> None:
        super().__init__()
        self.models = models
        self.weight = nn.Parameter(torch.empty(models, cin, cout, KERNEL, KERNEL))
        self.bias = nn.Parameter(torch.zeros(models, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, cin, cout = self.weight.shape[:3]
        return F.conv_transpose2d(_channels_last(x), self.weight.reshape(m * cin, cout, KERNEL, KERNEL),
                                  self.bias.reshape(m * cout), stride=STRIDE, padding=PADDING,
                                  groups=m)


class EnsembleBatchNorm2d(nn.Module):
    """M independent ``BatchNorm2d`` layers over (B, M * channels, h, w) maps.

    Weights and running statistics are stacked ``(M, channels)`` like every other
    ensemble weight, so model m's slice is a one-model layer of its own; one
    ``F.batch_norm`` call over the ``M * channels`` maps computes them all (each map's
    statistics are over the batch and the map's pixels only). Momentum 0.1, eps 1e-5,
    as torch's default.
    """

    def __init__(self, models: int, channels: int, *, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(models, channels))
        self.bias = nn.Parameter(torch.zeros(models, channels))
        self.register_buffer("running_mean", torch.zeros(models, channels))
        self.register_buffer("running_var", torch.ones(models, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # views of the stacked buffers: batch_norm updates them in place while training
        return F.batch_norm(x, self.running_mean.view(-1), self.running_var.view(-1),
                            self.weight.view(-1), self.bias.view(-1), self.training,
                            self.momentum, self.eps)


def _normal_(layers, std: float, generator: torch.Generator | None) -> None:
    with torch.no_grad():
        for layer in layers:
            layer.weight.normal_(0.0, std, generator=generator)
            layer.bias.zero_()


class EnsembleConvGenerator(nn.Module):
    """M generators: z (M, B, latent) -> raw images (M, B, side * side)."""

    def __init__(self, *, models: int, latent: int, side: int, channels: tuple[int, ...],
                 leaky_slope: float = 0.2, std: float = 0.02, batch_norm: bool = False,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_conv_side(side, len(channels))
        self.models, self.side, self.leaky_slope = models, side, leaky_slope
        self.sizes = (latent, side * side)  # (in, out) features, as the MLP ensembles report
        self.start = side // 2 ** len(channels)
        widths = tuple(reversed(channels))  # widest first: channels[-1] maps at the start
        self.project = EnsembleLinear(models, latent, widths[0] * self.start ** 2)
        self.project.glorot_uniform_(generator)
        self.ups = nn.ModuleList(
            EnsembleConvTranspose2d(models, a, b) for a, b in zip(widths, (*widths[1:], 1)))
        _normal_(self.ups, std, generator)
        self.first_channels = widths[0]
        # one normalisation per hidden map stack (after the projection and every up but the last)
        self.norms = (nn.ModuleList(EnsembleBatchNorm2d(models, w) for w in widths)
                      if batch_norm else None)

    def _hidden(self, h: torch.Tensor, i: int) -> torch.Tensor:
        if self.norms is not None:
            h = self.norms[i](h)
        return leaky_relu(h, self.leaky_slope)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self._hidden(_to_maps(self.project(z), self.first_channels, self.start), 0)
        last = len(self.ups) - 1
        for i, up in enumerate(self.ups):
            h = up(h)
            if i < last:
                h = self._hidden(h, i + 1)
        return _from_maps(h, self.models)


class EnsembleConvDiscriminator(nn.Module):
    """M discriminators: images (M, B, side * side) -> logits (M, B, outputs)."""

    def __init__(self, *, models: int, side: int, channels: tuple[int, ...], outputs: int,
                 leaky_slope: float = 0.2, std: float = 0.02,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_conv_side(side, len(channels))
        self.models, self.side, self.leaky_slope = models, side, leaky_slope
        self.sizes = (side * side, outputs)
        self.downs = nn.ModuleList(
            EnsembleConv2d(models, a, b) for a, b in zip((1, *channels[:-1]), channels))
        _normal_(self.downs, std, generator)
        end = side // 2 ** len(channels)
        self.head = EnsembleLinear(models, channels[-1] * end * end, outputs)
        self.head.glorot_uniform_(generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _to_maps(x, 1, self.side)
        for down in self.downs:
            h = leaky_relu(down(h), self.leaky_slope)
        return self.head(_from_maps(h, self.models))


def square_side(data_dim: int) -> int:
    """Side of a square image of ``data_dim`` pixels (ValueError if not square)."""
    side = math.isqrt(data_dim)
    if side * side != data_dim:
        raise ValueError(f"{data_dim} pixels is not a square image; conv networks and "
                         "augmentation need square images")
    return side
